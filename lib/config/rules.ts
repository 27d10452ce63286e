/**
 * Rules beyond the schema: partition, ARNs, ECR hosts, China reachability, region facts,
 * EBS limits, scaling, names and cross-references. Each rule reads the plain value
 * defensively (the file may also have schema errors) and reports through the context, so a
 * finding always has a position and a stable id.
 */
import * as path from 'node:path';
import { ecrHost, isPublicHost, KNOWN_REGIONS, parseArn, parseEcrHost, partitionOf, REGION_PATTERN, dnsSuffixOf } from '../aws/partition';
import type { Partition } from '../aws/partition';
import type { Diagnostic, Severity } from './diagnostics';
import { CHECKPOINT_FOLDER, logsThroughAddon, MODEL_FOLDERS, requiredCharts, requiredImages, RUNTIME_IMAGE } from './deploy-needs';
import { ORIGINAL_KEY_RULES } from './original-keys';
import { EKS_RULES } from './rules-eks';
import { API_RULES } from './rules-api';
import { ACCESS_RULES } from './rules-access';
import { BUILD_RULES } from './rules-build';
import { PIN_RULES } from './rules-pins';
import { isPlaceholder } from './placeholders';
import { checkModelKey, checkModelSource, shownModelKey } from './model-key';
import { workflowValueProblems } from './workflow-values';
import { chartRepositoryScheme } from '../name/chart-reference';
import { hostOf } from '../name/host';
import { displayHost, tryParseReference } from '../name/image-reference';
import { SNAPSHOT_ID_PATTERN } from '../name/ec2';
import { isValidBucketName } from '../name/s3-bucket';
import { instanceOffer, regionFacts } from './regions';
import type { RegionFacts } from './regions';
import type { RuleId } from './rules-catalog';
import { TUNING_RULES } from './rules-tuning';
import { defaultEngine, ENVIRONMENT_DEFAULTS } from './resolve';
import { didYouMean } from './schema';
import type { RuntimeType } from './types';
import { diag } from './yaml-source';
import type { Position, ValuePath, YamlSource } from './yaml-source';

type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** What a rule sees. */
export interface RuleContext {
  readonly source: YamlSource;
  readonly root: Obj;
  /** The environment's region, account and partition when written and well formed. */
  readonly region?: string;
  readonly account?: string;
  readonly partition?: Partition;
  readonly facts?: RegionFacts;
  /** Folder of region facts. @default config/regions of the package */
  readonly regionsDir?: string;
  /** Today (YYYY-MM-DD) for date-bound rules. @default the current UTC date */
  readonly today?: string;
  /** The repository root (absolute) that build.images paths are relative to; see {@link CheckRulesOptions.repositoryRoot}. */
  readonly repositoryRoot: string;
  /** Report a finding at `path` (`key: true` points at the key rather than the value). */
  report(rule: RuleId, at: ValuePath, message: string, options?: { key?: boolean; severity?: Severity; hint?: string }): void;
  /** Report a finding in another file of the repository (a Dockerfile), given by its absolute path, shown like the environment file. */
  reportFile(rule: RuleId, file: string, at: Position, message: string, options?: { severity?: Severity; hint?: string }): void;
}

/** Options of {@link checkRules}. */
export interface CheckRulesOptions {
  /** Folder of region facts. @default config/regions of the package */
  readonly regionsDir?: string;
  /** Today (YYYY-MM-DD) for date-bound rules (EKS standard support). @default the current UTC date */
  readonly today?: string;
  /**
   * The repository root that build.images paths (context, file) are relative to.
   * @default `<root>` when the environment file is `<root>/config/environments/<f>.yaml`, else the working directory
   */
  readonly repositoryRoot?: string;
  /** The environment file's path on disk when `source.file` is only its display name. @default source.file */
  readonly environmentPath?: string;
}

/** `<root>` of a path `<root>/config/environments/<f>.yaml` (`''` for a relative path with no root part), else undefined. */
export function environmentRootOf(file: string): string | undefined {
  const m = /^(?:(.*)[\\/])?config[\\/]environments[\\/][^\\/]+\.ya?ml$/.exec(file);
  if (!m) return undefined;
  return m[1] || (path.isAbsolute(file) ? path.parse(file).root : '');
}

/**
 * The repository root and how files under it are shown. Files are shown like the environment file: when
 * that is shown as `<p>/config/environments/<f>.yaml` and the root is its root, as `<p>/<path in the
 * repository>` (`images/x/Dockerfile` when the environment file is shown as `config/environments/<f>.yaml`);
 * otherwise relative to the working directory when inside it, else absolute (lib/config/load.ts displayPath).
 */
function repositoryFiles(source: YamlSource, options: CheckRulesOptions): { root: string; show: (abs: string) => string } {
  const cwd = process.cwd();
  const envRoot = environmentRootOf(path.resolve(options.environmentPath ?? source.file));
  const root = path.resolve(options.repositoryRoot ?? envRoot ?? cwd);
  const shownRoot = environmentRootOf(source.file);
  const sameRoot = envRoot !== undefined && path.resolve(envRoot) === root;
  return {
    root,
    show(abs) {
      if (sameRoot && shownRoot !== undefined) {
        const rel = path.relative(root, abs).split(path.sep).join('/');
        return shownRoot === '' ? rel : `${shownRoot}/${rel}`;
      }
      const rel = path.relative(cwd, abs);
      return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
    },
  };
}

/** Run every rule over a parsed mapping. */
export function checkRules(source: YamlSource, options: CheckRulesOptions = {}): Diagnostic[] {
  const root = obj(source.value);
  if (!root) return [];
  const out: Diagnostic[] = [];
  const env = obj(root.environment);
  const region = str(env?.region);
  const regionOk = region !== undefined && REGION_PATTERN.test(region);
  const accountRaw = str(env?.account);
  const files = repositoryFiles(source, options);
  const ctx: RuleContext = {
    source,
    root,
    region: regionOk ? region : undefined,
    account: accountRaw && /^\d{12}$/.test(accountRaw) ? accountRaw : undefined,
    partition: regionOk ? partitionOf(region) : undefined,
    facts: regionOk ? regionFacts(region, options.regionsDir) : undefined,
    regionsDir: options.regionsDir,
    today: options.today,
    repositoryRoot: files.root,
    report(rule, at, message, o = {}) {
      // A placeholder left by `sdpipe import` is reported once, as SDP108, not as the value it stands for.
      if (rule !== 'SDP108' && isPlaceholder(valueAt(root, at))) return;
      out.push(diag(source.file, rule, source.positionOf(at, { key: o.key }), message, o.severity, o.hint, at));
    },
    reportFile(rule, file, at, message, o = {}) {
      out.push(diag(files.show(file), rule, at, message, o.severity, o.hint));
    },
  };
  for (const rule of ALL_RULES) {
    try {
      rule(ctx);
    } catch (err) {
      out.push(diag(source.file, 'SDP999', { line: 1, column: 1 }, `internal error in rule ${rule.name}: ${(err as Error).message}`, 'error', 'this is a bug in sdpipe; please report it'));
    }
  }
  return out;
}

/** The value at a path, or undefined. */
function valueAt(root: unknown, at: ValuePath): unknown {
  let v: unknown = root;
  for (const seg of at) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

/** Every string in the value with its path (for host, ARN and reference scans). */
function strings(value: unknown, at: ValuePath = []): Array<[string, ValuePath]> {
  const out: Array<[string, ValuePath]> = [];
  const walk = (v: unknown, p: ValuePath, depth: number) => {
    if (depth > 64) return;
    if (typeof v === 'string') out.push([v, p]);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i], depth + 1));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k], depth + 1);
  };
  walk(value, at, 0);
  return out;
}

/** Paths whose values the deployed stack uses at run time (as opposed to mirror/model sources). */
function isDeployTime(p: ValuePath): boolean {
  return p[0] === 'modelsRuntime' || p[0] === 'clusterComponents' || p[0] === 'modelBucketArn';
}

function runtimes(ctx: RuleContext): Array<[Obj, number]> {
  return arr(ctx.root.modelsRuntime).map((r, i) => [obj(r) ?? {}, i] as [Obj, number]);
}

// ---------------------------------------------------------------------------------------------
// environment

function environmentRules(ctx: RuleContext): void {
  const env = obj(ctx.root.environment);
  if (!env) return;
  const name = str(env.name);
  const base = path.basename(ctx.source.file).replace(/\.ya?ml$/, '');
  if (name !== undefined && name !== base) {
    ctx.report('SDP020', ['environment', 'name'], `environment.name is "${name}" but the file is ${path.basename(ctx.source.file)}`, {
      hint: `set environment.name to "${base}", or rename the file to ${name}.yaml`,
    });
  }
  const region = str(env.region);
  if (region !== undefined && !(REGION_PATTERN.test(region) && KNOWN_REGIONS.includes(region))) {
    const guess = didYouMean(region, KNOWN_REGIONS);
    if (!REGION_PATTERN.test(region)) {
      ctx.report('SDP022', ['environment', 'region'], `"${region}" is not a region name${guess ? `; did you mean ${guess}?` : ''}`, guess ? { hint: `write ${guess}` } : undefined);
    }
  }
  if (ctx.region && !ctx.facts) {
    ctx.report('SDP051', ['environment', 'region'], `no region facts for ${ctx.region}: instance types and services cannot be checked`);
  }
}

// ---------------------------------------------------------------------------------------------
// ARNs

function arnRules(ctx: RuleContext): void {
  for (const [value, at] of strings(ctx.root)) {
    if (!value.startsWith('arn:')) continue;
    const arn = parseArn(value);
    if (!arn || !arn.partition || !arn.service || !arn.resource) {
      ctx.report('SDP033', at, `"${value}" is not a well-formed ARN`);
      continue;
    }
    if (ctx.partition && arn.partition !== ctx.partition) {
      ctx.report('SDP030', at, `ARN partition is "${arn.partition}" but ${ctx.region} is in partition "${ctx.partition}"`, {
        hint: `write ${value.replace(/^arn:[^:]*:/, `arn:${ctx.partition}:`)}`,
      });
    }
    if (arn.account && ctx.account && arn.account !== ctx.account) {
      ctx.report('SDP032', at, `ARN names account ${arn.account} but environment.account is ${ctx.account}`);
    }
  }
  const bucketArn = str(ctx.root.modelBucketArn);
  if (bucketArn !== undefined) {
    const arn = bucketArn.startsWith('arn:') ? parseArn(bucketArn) : undefined;
    if (!bucketArn.startsWith('arn:')) {
      ctx.report('SDP031', ['modelBucketArn'], `modelBucketArn "${bucketArn}" is not an ARN`, {
        hint: isValidBucketName(bucketArn) ? `write arn:${ctx.partition ?? 'aws'}:s3:::${bucketArn}` : undefined,
      });
    } else if (arn) {
      const problems: string[] = [];
      if (arn.service !== 's3') problems.push(`service is "${arn.service}", not "s3"`);
      if (arn.region || arn.account) problems.push('bucket ARNs have empty region and account fields (arn:<partition>:s3:::<bucket>)');
      const bucket = arn.resource;
      if (/\$\{[^}]*\}|<[^>]*>|\{\{[^}]*\}\}/.test(bucket)) {
        problems.push(`bucket name "${bucket}" is a placeholder that was never filled in`);
      } else if (bucket.includes('/')) {
        problems.push(`"${bucket}" names an object path; the ARN must name only the bucket`);
      } else if (!isValidBucketName(bucket)) {
        problems.push(`"${bucket}" is not a valid bucket name`);
      }
      if (problems.length) ctx.report('SDP031', ['modelBucketArn'], `modelBucketArn: ${problems.join('; ')}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ECR hosts and reachability from China

function ecrRules(ctx: RuleContext): void {
  for (const [value, at] of strings(ctx.root)) {
    const host = hostOf(value);
    if (!host || !host.includes('.dkr.ecr')) continue;
    const parts = parseEcrHost(host);
    if (!parts) continue;
    const deploy = isDeployTime(at);
    const regionKnown = REGION_PATTERN.test(parts.region) && KNOWN_REGIONS.includes(parts.region);
    if (!regionKnown) {
      const guess = ctx.region && ctx.region.startsWith(parts.region) ? ctx.region : didYouMean(parts.region, KNOWN_REGIONS);
      ctx.report('SDP040', at, `ECR host ${host} names region "${parts.region}", which is not a region${guess ? `; did you mean ${guess}?` : ''}`, {
        hint: guess ? `write ${parts.account}.dkr.ecr.${guess}.${dnsSuffixOf(guess)}` : undefined,
      });
    } else if (deploy && ctx.region && parts.region !== ctx.region) {
      ctx.report('SDP040', at, `ECR host ${host} is in ${parts.region} but the environment deploys to ${ctx.region}`, {
        hint: ctx.account ? `use ${ecrHost(ctx.account, ctx.region)}` : undefined,
      });
    }
    const suffixRegion = regionKnown ? parts.region : ctx.region;
    if (suffixRegion) {
      const want = dnsSuffixOf(suffixRegion);
      if (parts.suffix !== want) {
        ctx.report('SDP041', at, `ECR host ${host} ends in .${parts.suffix}; hosts in ${suffixRegion} end in .${want}`, {
          hint: `write ${parts.account}.dkr.ecr.${suffixRegion}.${want}`,
        });
      }
    }
    if (deploy && ctx.account && parts.account !== ctx.account) {
      ctx.report('SDP042', at, `ECR host ${host} is account ${parts.account}'s registry, not this environment's (${ctx.account})`);
    }
  }
}

function chinaReachabilityRules(ctx: RuleContext): void {
  if (ctx.partition !== 'aws-cn') return;
  for (const [value, at] of strings(ctx.root)) {
    if (!isDeployTime(at) || at[at.length - 1] === 'chartRepository') continue;
    const host = hostOf(value);
    if (host && isPublicHost(host)) {
      ctx.report('SDP043', at, `${host} is used at deploy time, but ${ctx.region} cannot pull from it reliably`);
    }
  }
}

function chartRepositoryRules(ctx: RuleContext): void {
  for (const [rt, i] of runtimes(ctx)) {
    const repo = str(rt.chartRepository);
    if (repo === undefined) continue;
    const at = ['modelsRuntime', i, 'chartRepository'];
    const scheme = chartRepositoryScheme(repo);
    if (scheme === undefined) {
      ctx.report('SDP044', at, `chartRepository "${repo}" must start with oci://, https:// or http://`);
      continue;
    }
    if (ctx.partition !== 'aws-cn') continue;
    const host = hostOf(repo);
    if (scheme === 'oci') {
      // A foreign ECR host is reported by ecrRules (account, region, suffix); anything else is not ECR at all.
      if (!host || !parseEcrHost(host)) {
        ctx.report('SDP044', at, `chartRepository ${repo} is not this environment's ECR; ${ctx.region} deploys charts only from its own ECR or a host you run`);
      }
    } else if (host && isPublicHost(host)) {
      ctx.report('SDP044', at, `chartRepository ${repo} is on ${host}, which ${ctx.region} cannot reach reliably`);
    }
  }
}

/** Image objects a runtime's values may carry, with their path. */
function runtimeImages(rt: Obj, i: number): Array<[Obj, ValuePath, string]> {
  const values = obj(obj(rt.extraValues)?.runtime);
  const out: Array<[Obj, ValuePath, string]> = [];
  for (const [key, name] of [['inferenceApi', str(rt.type) ?? 'runtime'], ['queueAgent', RUNTIME_IMAGE.queueAgent]] as const) {
    const image = obj(obj(values?.[key])?.image);
    if (image) out.push([image, ['modelsRuntime', i, 'extraValues', 'runtime', key, 'image'], name]);
  }
  return out;
}

function imageReferenceRules(ctx: RuleContext): void {
  const mirrored = new Set([...arr(obj(ctx.root.mirror)?.images), ...arr(obj(ctx.root.build)?.images)].map((e) => str(obj(e)?.repository)).filter(Boolean));
  for (const [rt, i] of runtimes(ctx)) {
    for (const [image, at, name] of runtimeImages(rt, i)) {
      const repository = str(image.repository);
      if (repository === undefined) continue;
      const parsed = tryParseReference(repository, null);
      if (!parsed.ok) {
        ctx.report('SDP086', [...at, 'repository'], `"${repository}" is not an image repository reference`);
        continue;
      }
      const ref = parsed.value;
      const host = displayHost(ref.registry);
      const parts = parseEcrHost(host);
      if (!parts) {
        if (!(ctx.partition === 'aws-cn' && isPublicHost(host))) {
          ctx.report('SDP042', [...at, 'repository'], `the ${name} image comes from ${host}, not from this environment's ECR`, {
            hint: 'leave the image out so the pipeline uses the mirrored copy pinned by digest, or point it at this environment\'s ECR',
          });
        }
      } else if (!mirrored.has(ref.repository)) {
        ctx.report('SDP085', [...at, 'repository'], `repository ${ref.repository} is not in mirror.images or build.images, so nothing puts the ${name} image there`, {
          hint: `add a mirror.images (or build.images) entry with repository: ${ref.repository}, or leave the image out so the pipeline pins the mirrored digest`,
        });
      }
      if (!str(image.digest)) {
        const tag = str(image.tag) ?? 'latest';
        ctx.report('SDP045', [...at, str(image.tag) ? 'tag' : 'repository'], `the ${name} image is pulled by tag "${tag}", not by digest: a push to that tag changes what runs`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// region facts: instance types, capacity, services

function instanceTypeRules(ctx: RuleContext): void {
  const facts = ctx.facts;
  for (const [rt, i] of runtimes(ctx)) {
    const prov = obj(obj(obj(rt.extraValues)?.karpenter)?.provisioner);
    if (!prov) continue;
    if (facts) {
      arr(prov.instanceType).forEach((t, j) => {
        const type = str(t);
        if (type === undefined) return;
        const offer = instanceOffer(facts, type);
        if (offer !== 'gpu') {
          const offered = Object.keys(facts.gpuInstanceFamilies).join(', ');
          ctx.report('SDP050', ['modelsRuntime', i, 'extraValues', 'karpenter', 'provisioner', 'instanceType', j],
            offer === 'not-offered' ? `${type} is not offered in ${facts.region} (sizes of ${type.split('.')[0]} there: ${facts.gpuInstanceFamilies[type.split('.')[0]].join(', ')})`
              : `${type} is not a GPU instance type offered in ${facts.region} (facts as of ${facts.asOf}; GPU families there: ${offered})`);
        }
      });
    }
    const cap = obj(prov.capacityType);
    if (cap && cap.onDemand !== true && cap.spot !== true) {
      ctx.report('SDP052', ['modelsRuntime', i, 'extraValues', 'karpenter', 'provisioner', 'capacityType'], 'neither onDemand nor spot is enabled, so Karpenter can launch no GPU node');
    }
  }
  if (facts) {
    for (const at of [['clusterComponents', 'instanceType'], ['snapshot', 'instanceType']]) {
      const type = str(obj(ctx.root[at[0]])?.[at[1]]);
      if (type === undefined) continue;
      const offer = instanceOffer(facts, type);
      if (offer === 'not-offered' || offer === 'unknown-family') {
        ctx.report('SDP050', at, `${type} is not in the instance families listed for ${facts.region} (facts as of ${facts.asOf})`, {
          severity: offer === 'unknown-family' ? 'warning' : 'error',
        });
      }
    }
  }
}

function serviceRules(ctx: RuleContext): void {
  const facts = ctx.facts;
  if (!facts) return;
  const pipeline = obj(ctx.root.pipeline);
  const engine = str(pipeline?.engine) ?? defaultEngine(ctx.partition ?? 'aws');
  if (engine === 'codepipeline' && !facts.services.codepipeline) {
    ctx.report('SDP053', pipeline?.engine ? ['pipeline', 'engine'] : ['environment', 'region'],
      `pipeline.engine is codepipeline, but CodePipeline is not offered in ${facts.region} (facts as of ${facts.asOf})`);
  }
  if (engine === 'codepipeline' && str(obj(pipeline?.source)?.type) === 'codeconnections' && !facts.services.codeconnections) {
    ctx.report('SDP053', ['pipeline', 'source', 'type'], `CodeConnections is not offered in ${facts.region} (facts as of ${facts.asOf})`);
  }
}

// ---------------------------------------------------------------------------------------------
// EBS volumes, scaling, API limits

function volumeRules(ctx: RuleContext): void {
  const snapshotEnabled = obj(ctx.root.snapshot)?.enabled === true;
  for (const [rt, i] of runtimes(ctx)) {
    const tmpl = obj(obj(obj(rt.extraValues)?.karpenter)?.nodeTemplate);
    for (const which of ['dataVolume', 'osVolume']) {
      const v = obj(tmpl?.[which]);
      if (!v) continue;
      const at: ValuePath = ['modelsRuntime', i, 'extraValues', 'karpenter', 'nodeTemplate', which];
      const type = str(v.volumeType) ?? 'gp3';
      const iops = num(v.iops);
      const throughput = num(v.throughput);
      if (type === 'gp3') {
        if (iops !== undefined && (iops < 3000 || iops > 16000)) {
          ctx.report('SDP060', [...at, 'iops'], `gp3 iops ${iops} is outside 3000-16000`);
        }
        if (throughput !== undefined) {
          const cap = (iops ?? 3000) / 4;
          if (throughput < 125 || throughput > 1000) {
            ctx.report('SDP061', [...at, 'throughput'], `gp3 throughput ${throughput} MiB/s is outside 125-1000`);
          } else if (throughput > cap) {
            ctx.report('SDP061', [...at, 'throughput'], `gp3 throughput ${throughput} MiB/s is above iops/4 = ${cap} (iops ${iops ?? '3000 by default'})`, {
              hint: `raise iops to at least ${throughput * 4}, or lower throughput to ${cap}`,
            });
          }
        }
      }
      const size = v.volumeSize;
      if (size !== undefined && !(typeof size === 'string' && /^[1-9][0-9]*(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.test(size))) {
        ctx.report('SDP062', [...at, 'volumeSize'], `volumeSize ${JSON.stringify(size)} is not a Kubernetes quantity`, {
          hint: typeof size === 'number' ? `write "${size}Gi"` : undefined,
        });
      }
      const snap = v.snapshotID;
      if (snap !== undefined && snap !== null) {
        if (typeof snap !== 'string' || !SNAPSHOT_ID_PATTERN.test(snap)) {
          const digits = typeof snap === 'string' ? snap.replace(/^snap-/, '') : '';
          ctx.report('SDP063', [...at, 'snapshotID'], `snapshotID ${JSON.stringify(snap)} is not a snapshot id${digits && /^[0-9a-f]+$/.test(digits) ? ` (${digits.length} hex digits; ids have 8 or 17)` : ''}`);
        } else if (snapshotEnabled) {
          ctx.report('SDP064', [...at, 'snapshotID'], `snapshotID ${snap} is written while snapshot.enabled is true`);
        }
      }
    }
  }
}

function scalingRules(ctx: RuleContext): void {
  for (const [rt, i] of runtimes(ctx)) {
    const ev = obj(rt.extraValues);
    for (const at of [['runtime', 'scaling']]) {
      const s = obj(obj(ev?.[at[0]])?.[at[1]]);
      const min = num(s?.minReplicaCount);
      const max = num(s?.maxReplicaCount);
      if (min !== undefined && max !== undefined && min > max) {
        ctx.report('SDP070', ['modelsRuntime', i, 'extraValues', ...at, 'minReplicaCount'], `minReplicaCount ${min} is above maxReplicaCount ${max}`);
      }
    }
  }
  const throttle = obj(obj(ctx.root.APIGW)?.throttle);
  const rate = num(throttle?.rateLimit);
  const burst = num(throttle?.burstLimit);
  if (rate !== undefined && burst !== undefined && burst < rate) {
    ctx.report('SDP071', ['APIGW', 'throttle', 'burstLimit'], `burstLimit ${burst} is below rateLimit ${rate}`);
  }
  const cc = obj(ctx.root.clusterComponents);
  // Sizes the file leaves out take their defaults (2 each), as the stack will: a desiredSize of 3
  // alone would fail at synth ("Desired capacity 3 can't be greater than max size 2").
  const D = ENVIRONMENT_DEFAULTS.clusterComponents;
  const written = [num(cc?.minSize), num(cc?.maxSize), num(cc?.desiredSize)];
  if (cc && written.some((v) => v !== undefined)) {
    const [mn, mx, want] = [written[0] ?? D.minSize, written[1] ?? D.maxSize, written[2] ?? D.desiredSize];
    if (mn > mx || want < mn || want > mx) {
      const show = (v: number | undefined, d: number) => (v === undefined ? `${d} (default)` : String(v));
      ctx.report('SDP076', ['clusterComponents'], `node group sizes min ${show(written[0], D.minSize)}, desired ${show(written[2], D.desiredSize)}, max ${show(written[1], D.maxSize)} are out of order`, { key: true });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// names

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function nameRules(ctx: RuleContext): void {
  const seen = new Map<string, number>();
  for (const [rt, i] of runtimes(ctx)) {
    const name = str(rt.name);
    if (name !== undefined) {
      if (!DNS1123.test(name) || name.length > 63) {
        ctx.report('SDP072', ['modelsRuntime', i, 'name'], `runtime name "${name}" is not a DNS-1123 label`, {
          hint: `use lowercase letters, digits and -, such as "${name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'sdruntime'}"`,
        });
      } else if (seen.has(name)) {
        ctx.report('SDP072', ['modelsRuntime', i, 'name'], `runtime name "${name}" is used twice (also modelsRuntime[${seen.get(name)}])`);
      }
      seen.set(name, i);
    }
    const ns = str(rt.namespace);
    if (ns !== undefined && (!DNS1123.test(ns) || ns.length > 63)) {
      ctx.report('SDP073', ['modelsRuntime', i, 'namespace'], `namespace "${ns}" is not a DNS-1123 label`);
    }
  }
  const stack = str(ctx.root.stackName);
  if (stack !== undefined && !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stack)) {
    ctx.report('SDP075', ['stackName'], `stackName "${stack}" is not a valid CloudFormation stack name`);
  }
  for (const list of ['images', 'charts'] as const) {
    const names = new Map<string, number>();
    arr(obj(ctx.root.mirror)?.[list]).forEach((e, j) => {
      const n = str(obj(e)?.name);
      if (n === undefined) return;
      if (names.has(n)) ctx.report('SDP084', ['mirror', list, j, 'name'], `mirror.${list} name "${n}" is used twice (also entry ${names.get(n)})`);
      names.set(n, j);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// mirror, models and cross-references

function mirrorEntryRules(ctx: RuleContext): void {
  for (const list of ['images', 'charts'] as const) {
    arr(obj(ctx.root.mirror)?.[list]).forEach((e, j) => {
      const source = str(obj(e)?.source);
      if (source !== undefined && !tryParseReference(source).ok) {
        ctx.report('SDP086', ['mirror', list, j, 'source'], `"${source}" is not a ${list === 'charts' ? 'chart' : 'image'} reference`);
      }
    });
  }
}

function modelRules(ctx: RuleContext): void {
  const models = obj(ctx.root.models);
  const targets = new Map<string, number>();
  arr(models?.files).forEach((f, j) => {
    const file = obj(f);
    const source = str(file?.source);
    if (source !== undefined && !checkModelSource(source).ok) {
      ctx.report('SDP087', ['models', 'files', j, 'source'], `"${source}" is not a model source`);
    }
    const target = str(file?.target);
    if (target === undefined) return;
    if (targets.has(target)) ctx.report('SDP084', ['models', 'files', j, 'target'], `target "${target}" is used twice (also models.files[${targets.get(target)}])`);
    targets.set(target, j);
    const top = target.split('/')[0];
    const key = checkModelKey(target);
    if (key.error) {
      ctx.report('SDP089', ['models', 'files', j, 'target'], `target ${JSON.stringify(shownModelKey(target))} ${key.error}`, { hint: key.hint });
    } else if (key.unknownFolder) {
      ctx.report('SDP082', ['models', 'files', j, 'target'], `"${target}" is not under a folder the runtimes read${target.includes('/') ? ` ("${top}/")` : ''}`, {
        hint: `put it under one of: ${MODEL_FOLDERS.slice(0, 6).join('/, ')}/ ...`,
      });
    }
  });
  for (const [rt, i] of runtimes(ctx)) {
    if (rt.type !== 'sdwebui' || rt.dynamicModel === true) continue;
    const filename = str(rt.modelFilename);
    if (filename === undefined || filename === '') {
      ctx.report('SDP080', ['modelsRuntime', i], `runtime "${str(rt.name) ?? i}" has no modelFilename and dynamicModel is false`, { key: false });
      continue;
    }
    const want = `${CHECKPOINT_FOLDER}/${filename}`;
    if (!targets.has(want)) {
      ctx.report('SDP080', ['modelsRuntime', i, 'modelFilename'], `model ${filename} is not in models.files (no target ${want}), so nothing puts it in the model bucket`);
    }
  }
}

function mirrorCoverageRules(ctx: RuleContext): void {
  if (!ctx.partition) return;
  const mirror = obj(ctx.root.mirror);
  const imageNames = new Set([...arr(mirror?.images), ...arr(obj(ctx.root.build)?.images)].map((e) => str(obj(e)?.name)));
  const chartNames = new Set(arr(mirror?.charts).map((e) => str(obj(e)?.name)));
  const types = runtimes(ctx).map(([rt]) => rt.type).filter((t): t is RuntimeType => t === 'sdwebui' || t === 'comfyui');
  const typeAt = new Map<string, ValuePath>();
  runtimes(ctx).forEach(([rt, i]) => {
    if (typeof rt.type === 'string' && !typeAt.has(rt.type)) typeAt.set(rt.type, ['modelsRuntime', i, 'type']);
  });
  // An image a runtime writes itself is checked by imageReferenceRules (SDP085), not here.
  const written = new Set(runtimes(ctx).flatMap(([rt, i]) => runtimeImages(rt, i).filter(([img]) => img.repository !== undefined).map(([, , name]) => name)));
  const listAt = (list: 'images' | 'charts'): ValuePath => (mirror?.[list] ? ['mirror', list] : mirror ? ['mirror'] : ['environment', 'region']);
  // One finding per reason: a runtime's own image at its type, the rest grouped.
  const grouped = new Map<string, { at: ValuePath; names: string[] }>();
  // The mirrored Fluent Bit runs only while logs are on and the region has no logs add-on.
  const fluentBit = obj(ctx.root.logs)?.enabled !== false && !logsThroughAddon(ctx.partition, ctx.facts?.eksAddons);
  for (const name of requiredImages(ctx.partition, types, { fluentBit })) {
    if (imageNames.has(name) || written.has(name)) continue;
    const own = typeAt.get(name);
    if (own) {
      ctx.report('SDP081', own, `image "${name}" is not in mirror.images or build.images (runtime type ${name} needs it)`);
      continue;
    }
    const why = name === RUNTIME_IMAGE.queueAgent ? 'every runtime runs it' : `the cluster's charts run them and ${ctx.region} cannot pull them from public registries`;
    const g = grouped.get(why) ?? { at: listAt('images'), names: [] };
    g.names.push(name);
    grouped.set(why, g);
  }
  for (const [why, g] of grouped) {
    ctx.report('SDP081', g.at, `image${g.names.length > 1 ? 's' : ''} ${g.names.map((n) => `"${n}"`).join(', ')} ${g.names.length > 1 ? 'are' : 'is'} not in mirror.images or build.images (${why})`, {
      key: g.at[0] === 'mirror',
      hint: `add ${g.names.length > 1 ? 'them' : 'it'} to mirror.images (or build.images) under ${g.names.length > 1 ? 'these names' : 'this name'}`,
    });
  }
  const needsRuntimeChart = runtimes(ctx).some(([rt]) => rt.chartRepository === undefined);
  const missingCharts = requiredCharts(ctx.partition, needsRuntimeChart).filter((n) => !chartNames.has(n));
  if (missingCharts.length) {
    const at = listAt('charts');
    ctx.report('SDP083', at, `chart${missingCharts.length > 1 ? 's' : ''} ${missingCharts.map((n) => `"${n}"`).join(', ')} not in mirror.charts (${ctx.region} cannot fetch charts from GitHub or public registries at deploy time)`, {
      key: at[0] === 'mirror',
      hint: `add ${missingCharts.length > 1 ? 'them' : 'it'} to mirror.charts under ${missingCharts.length > 1 ? 'these names' : 'this name'}`,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// the image-cache snapshot against the nodes' data volumes

/** Bytes of a Kubernetes quantity such as `80Gi` or `100G` (the forms SDP062 accepts), else undefined. */
function quantityBytes(q: string): number | undefined {
  const m = /^([1-9][0-9]*)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.exec(q);
  if (!m) return undefined;
  const unit: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };
  return Number(m[1]) * unit[m[2] ?? ''];
}

/**
 * SDP088: with `snapshot.enabled`, every Bottlerocket runtime's data volume must be at least
 * `snapshot.volumeSize` GiB (default 80, lib/snapshot/bake.ts `snapshotSettings`), or EC2 refuses to
 * create it from the snapshot (EC2 API reference, CreateVolume `Size`: "you can specify a volume size
 * that is equal to or larger than the snapshot size"; EbsBlockDevice `VolumeSize` for RunInstances).
 * The data volume's size is Karpenter's: the quantity rounded up to whole GiB (karpenter-provider-aws
 * v1.6.3, pkg/providers/launchtemplate/launchtemplate.go `volumeSize`); unset, it is the stage's
 * default 80Gi (stages/constructs/sd-runtime.ts, `dataVolumeSize`).
 */
function snapshotSizeRules(ctx: RuleContext): void {
  const snapshot = obj(ctx.root.snapshot);
  if (snapshot?.enabled !== true) return;
  const written = num(snapshot.volumeSize);
  const snapshotGiB = written ?? 80;
  for (const [rt, i] of runtimes(ctx)) {
    const tmpl = obj(obj(obj(rt.extraValues)?.karpenter)?.nodeTemplate);
    if ((str(tmpl?.amiFamily) ?? 'Bottlerocket') !== 'Bottlerocket') continue;
    const dataVolume = obj(tmpl?.dataVolume);
    const size = dataVolume?.volumeSize;
    const bytes = size === undefined ? 80 * 2 ** 30 : typeof size === 'string' ? quantityBytes(size) : undefined;
    if (bytes === undefined) continue; // not a quantity: SDP062 reports it
    const gib = Math.ceil(bytes / 2 ** 30);
    if (gib >= snapshotGiB) continue;
    const name = str(rt.name) ?? `#${i + 1}`;
    const source = written === undefined ? 'the default 80' : `${snapshotGiB}`;
    const at: ValuePath = size === undefined ? (written === undefined ? ['snapshot'] : ['snapshot', 'volumeSize']) : ['modelsRuntime', i, 'extraValues', 'karpenter', 'nodeTemplate', 'dataVolume', 'volumeSize'];
    ctx.report(
      'SDP088',
      at,
      `runtime ${name}: its data volume is ${gib} GiB (${size === undefined ? 'the default 80Gi' : JSON.stringify(size)}), smaller than the image-cache snapshot (snapshot.volumeSize ${source} GiB); EC2 would refuse to create the GPU nodes' volume`,
      { hint: size === undefined ? `set modelsRuntime[${i}].extraValues.karpenter.nodeTemplate.dataVolume.volumeSize to "${snapshotGiB}Gi" or more, or lower snapshot.volumeSize to at most 80` : `write volumeSize: "${snapshotGiB}Gi" or more, or lower snapshot.volumeSize to at most ${gib}` },
    );
  }
}

/** Every single-file rule, in reporting order. */
const ALL_RULES: ReadonlyArray<(ctx: RuleContext) => void> = [
  environmentRules,
  arnRules,
  ecrRules,
  chinaReachabilityRules,
  chartRepositoryRules,
  imageReferenceRules,
  instanceTypeRules,
  serviceRules,
  volumeRules,
  scalingRules,
  nameRules,
  mirrorEntryRules,
  modelRules,
  mirrorCoverageRules,
  snapshotSizeRules,
  workflowValueRules,
  ...ORIGINAL_KEY_RULES,
  ...EKS_RULES,
  ...API_RULES,
  ...ACCESS_RULES,
  ...TUNING_RULES,
  ...BUILD_RULES,
  ...PIN_RULES,
];

// ---------------------------------------------------------------------------------------------
// values that reach a generated workflow

/**
 * SDP090: a value that reaches a generated GitHub Actions workflow (lib/config/workflow-values.ts:
 * environment name, account, region and branch, stackName, runner labels, npm registry) must not
 * hold `${{` or `}}` (GitHub evaluates expressions anywhere in a workflow's strings), a line break
 * or another control character. The generator refuses the same values.
 */
function workflowValueRules(ctx: RuleContext): void {
  for (const v of workflowValueProblems(ctx.root)) {
    ctx.report('SDP090', [...v.at], `${v.key} ${v.problem}; it is written into the generated workflow`, {
      hint: v.problem.includes('${{') || v.problem.includes('}}')
        ? `remove the expression from ${v.key}: config values are data, never workflow expressions (secrets reach the step that needs them from the repository's secrets)`
        : `write ${v.key} on one line, without control characters`,
    });
  }
}
