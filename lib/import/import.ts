/**
 * `sdpipe import`: the original solution's `config.yaml` (guidance v1.2.0, the older aws-samples
 * format, or the `deploy/config.yaml.template` style with `${VARS}`) becomes an sdpipe environment
 * file. The input's YAML Document is edited in place (its comments survive where the `yaml`
 * library keeps them), sdpipe's sections are put in front of the original keys, and every
 * decision is reported: what was CARRIED as it was, what was CHANGED and why, and what NEEDS A
 * HUMAN, each at the input's `file:line:col` where it comes from an input line. The result is
 * validated as the output file. Pure: reads and writes no file (bin/commands/import.ts does).
 */
import { Document, isMap, isScalar, isSeq, LineCounter, Pair, parseDocument, Scalar, visit, YAMLMap, YAMLSeq } from 'yaml';
import type { Node } from 'yaml';
import { parseEcrHost, partitionOf, isPublicHost, KNOWN_REGIONS, REGION_PATTERN } from '../aws/partition';
import type { Partition } from '../aws/partition';
import { CHECKPOINT_FOLDER, logsThroughAddon, requiredCharts, requiredImages, RUNTIME_IMAGE } from '../config/deploy-needs';
import { MIGRATION } from '../config/migration';
import { hasTemplateVariable, placeholder } from '../config/placeholders';
import { gpuInstanceTypes, instanceOffer, regionFacts } from '../config/regions';
import type { RuntimeType } from '../config/types';
import { validateText } from '../config/validate';
import type { ValidationResult } from '../config/validate';
import { MAX_FILE_BYTES } from '../config/yaml-source';
import { UsageError } from '../errors';
import { formatPath } from '../config/yaml-source';
import { isGravitonInstanceType, SNAPSHOT_ID_PATTERN } from '../name/ec2';
import { hostOf } from '../name/host';
import { CHART_SOURCES, chartSourceOf, imageSource, KNOWN_MODELS, withoutTag } from './sources';
import { stripShellLines } from './template';

/** One line of the import report. */
export interface ImportItem {
  /** Dotted path of the key it is about (`modelsRuntime[0].extraValues.karpenter`), or the section added. */
  readonly path: string;
  /** What was carried, changed or must be done, and why. */
  readonly message: string;
  /** The input file, when the item comes from an input line. @default none */
  readonly file?: string;
  /** 1-based line in the input. @default none */
  readonly line?: number;
  /** 1-based column in the input. @default none */
  readonly column?: number;
}

/** What {@link importConfig} takes. */
export interface ImportOptions {
  /** The input's name as reported (`file:line:col`). */
  readonly file: string;
  /** The input's content. */
  readonly text: string | Buffer;
  /** Environment name (the output file's name without `.yaml`). */
  readonly env: string;
  /** 12-digit AWS account id. */
  readonly account: string;
  /** AWS region; the partition follows from it. */
  readonly region: string;
  /** Git branch that deploys the environment. @default env/<env> */
  readonly branch?: string;
  /** Approval gate before deploy. @default manual */
  readonly approval?: 'manual' | 'auto';
  /** The output file's name, used to validate the result (the name rule compares it with `env`). */
  readonly output: string;
}

/** What {@link importConfig} returns. */
export interface ImportResult {
  /** The environment file's text. */
  readonly yaml: string;
  /** Original keys kept as they were (top-level keys and runtimes). */
  readonly carried: readonly ImportItem[];
  /** What changed, and why. */
  readonly changed: readonly ImportItem[];
  /** What a person must still do (placeholders to fill, a chart to push, a runner to register). */
  readonly needsHuman: readonly ImportItem[];
  /** The result validated as the output file. */
  readonly validation: ValidationResult;
}

/** The sdpipe sections, in the order the environment file writes them. */
export const SDPIPE_SECTIONS = ['environment', 'pipeline', 'mirror', 'models', 'snapshot'] as const;

/** The comment line between sdpipe's sections and the original keys. */
export const ORIGINAL_KEYS_COMMENT = " ----- the original solution's config.yaml keys -----";

/** Instance types written when none of the input's is a GPU type the region offers. */
export const FALLBACK_GPU_TYPES: readonly string[] = ['g4dn.xlarge', 'g4dn.2xlarge'];

/** The Hugging Face compatible endpoint written for China, where huggingface.co is not reachable. */
export const CHINA_HF_ENDPOINT = 'https://hf-mirror.com/';

/** The npm registry mirror written for China. */
export const CHINA_NPM_REGISTRY = 'https://registry.npmmirror.com/';

/** Runner labels written for China: a self-hosted runner in China (docs/aws-cn.md, section 5). */
export const CHINA_RUNNER: readonly string[] = ['self-hosted', 'linux', 'x64', 'cn'];

/** The bake instance type written into `snapshot`. */
export const SNAPSHOT_INSTANCE_TYPE = 'm5.large';

const ENV_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type Path = readonly (string | number)[];

function keyOf(p: Pair): string | undefined {
  const k = p.key;
  if (isScalar(k)) return String(k.value);
  return typeof k === 'string' ? k : undefined;
}

function pairOf(map: unknown, key: string): Pair | undefined {
  return isMap(map) ? (map.items as Pair[]).find((p) => keyOf(p) === key) : undefined;
}

function mapAt(map: unknown, key: string): YAMLMap | undefined {
  const v = pairOf(map, key)?.value;
  return isMap(v) ? v : undefined;
}

function removePair(map: YAMLMap, pair: Pair): void {
  const i = map.items.indexOf(pair);
  if (i >= 0) map.items.splice(i, 1);
}

/** True when a string holds a `${VAR}` (without narrowing the string's type away, as the type guard would). */
function templated(value: string): boolean {
  return hasTemplateVariable(value as unknown);
}

function scalarString(node: unknown): string | undefined {
  return isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
}

/** Check the options a person typed; a usage error (exit 2) names the option and the fix. */
function checkOptions(o: ImportOptions): void {
  if (!ENV_NAME.test(o.env) || o.env.length > 40) {
    throw new UsageError(`--env "${o.env}" is not an environment name`, 'use lowercase letters, digits and -, at most 40 characters, such as prod-cn');
  }
  if (!/^[0-9]{12}$/.test(o.account)) throw new UsageError(`--account "${o.account}" is not a 12-digit AWS account id`, 'give the account id of the environment, 12 digits');
  if (!REGION_PATTERN.test(o.region) || !KNOWN_REGIONS.includes(o.region)) {
    throw new UsageError(`--region "${o.region}" is not a region sdpipe knows`, 'give a region such as us-east-1 or cn-northwest-1');
  }
  if (o.branch !== undefined && (o.branch.trim() === '' || /\s/.test(o.branch))) throw new UsageError(`--branch "${o.branch}" is not a branch name`, 'give a git branch such as env/<name>');
}

/** Decode the input as UTF-8 text, or throw a usage error naming the file and the byte. */
function decode(file: string, input: string | Buffer): string {
  if (typeof input === 'string') return input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  if (input.length > MAX_FILE_BYTES) throw new UsageError(`${file}: ${input.length} bytes; a config.yaml is small (at most 1 MiB)`, 'give the original solution\'s config.yaml');
  try {
    if (input.includes(0)) throw new Error('NUL');
    const text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    throw new UsageError(`${file}: not UTF-8 text`, 'give the original solution\'s config.yaml, a YAML text file');
  }
}

/** The import in progress: the Document, its positions and the report being built. */
class Importer {
  readonly carried: ImportItem[] = [];
  readonly changed: ImportItem[] = [];
  readonly needsHuman: ImportItem[] = [];
  /** Mirror sources that differ from the catalogue's: a default image the input pinned to another tag. */
  readonly sourceOverrides = new Map<string, string>();
  /** Whether the result enables the image-cache snapshot (set before the runtimes are changed). */
  snapshot = false;
  readonly partition: Partition;
  readonly facts: ReturnType<typeof regionFacts>;

  constructor(
    readonly o: ImportOptions,
    readonly doc: Document,
    readonly lines: LineCounter,
  ) {
    this.partition = partitionOf(o.region);
    this.facts = regionFacts(o.region);
  }

  private item(path: Path | string, message: string, node?: unknown): ImportItem {
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    const p = typeof path === 'string' ? path : formatPath(path);
    if (!range) return { path: p, message };
    const lc = this.lines.linePos(range[0]);
    return { path: p, message, file: this.o.file, line: Math.max(1, lc.line), column: Math.max(1, lc.col) };
  }

  carry(path: Path | string, message: string, node?: unknown): void {
    this.carried.push(this.item(path, message, node));
  }

  change(path: Path | string, message: string, node?: unknown): void {
    this.changed.push(this.item(path, message, node));
  }

  changeAt(path: string, message: string, line: number): void {
    this.changed.push({ path, message, file: this.o.file, line, column: 1 });
  }

  human(path: Path | string, message: string, node?: unknown): void {
    this.needsHuman.push(this.item(path, message, node));
  }

  get root(): YAMLMap {
    return this.doc.contents as YAMLMap;
  }
}

/**
 * Import an original `config.yaml` as an sdpipe environment file. Throws a {@link UsageError} for
 * bad options, input that is not YAML (with `file:line:col`), input whose root is not a mapping,
 * and input that already is an sdpipe environment file.
 */
export function importConfig(options: ImportOptions): ImportResult {
  checkOptions(options);
  const decoded = decode(options.file, options.text);
  const stripped = stripShellLines(decoded);
  const lines = new LineCounter();
  const doc = parseDocument(stripped.text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const error = doc.errors[0];
  if (error) {
    const lc = lines.linePos(error.pos[0]);
    throw new UsageError(`${options.file}:${Math.max(1, lc.line)}:${Math.max(1, lc.col)}: not valid YAML: ${error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`, 'fix the YAML at this position (indentation, quoting, a missing colon), then run sdpipe import again');
  }
  if (!isMap(doc.contents)) {
    throw new UsageError(`${options.file}: the document is not a mapping of keys`, 'give the original solution\'s config.yaml (stackName, modelBucketArn, APIGW, modelsRuntime, ...)');
  }
  const im = new Importer(options, doc, lines);
  for (const section of SDPIPE_SECTIONS) {
    const pair = pairOf(im.root, section);
    if (pair) {
      const lc = lines.linePos((pair.key as Node).range?.[0] ?? 0);
      throw new UsageError(
        `${options.file}:${lc.line}:${lc.col}: already an sdpipe environment file (it has the sdpipe section "${section}:"); sdpipe import reads the original solution's config.yaml`,
        `check it with sdpipe validate ${options.file}, or import the original config.yaml it came from`,
      );
    }
  }
  if (stripped.removed.length) closeBlankedLines(doc, lines, new Set(stripped.removed.map((r) => r.line)));
  for (const r of stripped.removed) im.changeAt('(template)', `shell line of the deploy.sh template dropped: ${r.text.trim()} (the YAML it prints is kept)`, r.line);

  const runtimes = runtimeInfos(im);
  im.snapshot = snapshotDecision(im, runtimes);
  bucketArn(im);
  clusterComponents(im);
  for (const rt of runtimes) runtimeValues(im, rt);
  templateVariables(im);
  carried(im, runtimes);
  addSections(im, runtimes);

  const yaml = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  const validation = validateText(options.output, yaml);
  const byLine = (a: ImportItem, b: ImportItem): number => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER) || (a.column ?? 0) - (b.column ?? 0);
  return { yaml, carried: im.carried, changed: [...im.changed].sort(byLine), needsHuman: [...im.needsHuman].sort(byLine), validation };
}

/** A key right below a blanked shell line loses the empty line the blanking left above it. */
function closeBlankedLines(doc: Document, lines: LineCounter, blanked: ReadonlySet<number>): void {
  visit(doc, {
    Pair(_k, pair) {
      const key = pair.key as Node | null;
      const start = key?.range?.[0];
      if (key && start !== undefined && blanked.has(lines.linePos(start).line - 1)) key.spaceBefore = false;
    },
  });
}

/** What the import needs to know of one runtime. */
interface RuntimeInfo {
  readonly index: number;
  readonly node: YAMLMap;
  readonly name: string;
  /** The runtime's type, or undefined when it is not sdwebui or comfyui (a template variable). */
  readonly type?: RuntimeType;
  readonly bottlerocket: boolean;
  /** The `instanceStorePolicy` node, when the runtime puts containerd on instance store. */
  readonly instanceStore?: Node;
}

function runtimeInfos(im: Importer): RuntimeInfo[] {
  const seq = pairOf(im.root, 'modelsRuntime')?.value;
  if (!isSeq(seq)) return [];
  const out: RuntimeInfo[] = [];
  seq.items.forEach((node, index) => {
    if (!isMap(node)) return;
    const type = scalarString(pairOf(node, 'type')?.value);
    const nodeTemplate = mapAt(mapAt(mapAt(node, 'extraValues'), 'karpenter'), 'nodeTemplate');
    const amiFamily = scalarString(nodeTemplate?.get('amiFamily', true));
    const instanceStore = pairOf(nodeTemplate, 'instanceStorePolicy');
    out.push({
      index,
      node,
      name: scalarString(pairOf(node, 'name')?.value) ?? `#${index + 1}`,
      type: type === 'sdwebui' || type === 'comfyui' ? type : undefined,
      bottlerocket: (amiFamily ?? 'Bottlerocket') === 'Bottlerocket',
      instanceStore: instanceStore?.key as Node | undefined,
    });
  });
  return out;
}

/**
 * Whether to enable the image-cache snapshot: on Bottlerocket (the default AMI family), unless a
 * runtime puts containerd on instance store (`instanceStorePolicy`), which the snapshot cannot feed.
 */
function snapshotDecision(im: Importer, runtimes: readonly RuntimeInfo[]): boolean {
  if (!runtimes.some((rt) => rt.bottlerocket)) return false;
  const store = runtimes.find((rt) => rt.instanceStore);
  if (store) {
    im.change(['modelsRuntime', store.index, 'extraValues', 'karpenter', 'nodeTemplate', 'instanceStorePolicy'], `kept, so snapshot stays disabled: runtime ${store.name} puts containerd on instance store, where the image-cache snapshot cannot feed it`, store.instanceStore);
    return false;
  }
  return true;
}

/** `modelBucketArn`: the region's partition. */
function bucketArn(im: Importer): void {
  const pair = pairOf(im.root, 'modelBucketArn');
  const value = pair?.value;
  const arn = scalarString(value);
  if (!isScalar(value) || arn === undefined || templated(arn)) return;
  const m = /^arn:(aws|aws-cn):/.exec(arn);
  if (!m || m[1] === im.partition) return;
  const fixed = `arn:${im.partition}:${arn.slice(m[0].length)}`;
  im.change('modelBucketArn', `${arn} → ${fixed}: ${im.o.region} is in partition ${im.partition}`, value);
  value.value = fixed;
}

/** `clusterComponents.desiredCount` → `desiredSize`. */
function clusterComponents(im: Importer): void {
  const cc = mapAt(im.root, 'clusterComponents');
  const count = pairOf(cc, 'desiredCount');
  if (!cc || !count) return;
  if (pairOf(cc, 'desiredSize')) {
    im.change('clusterComponents.desiredCount', 'removed: desiredSize is also written, and sdpipe reads desiredSize (the original read desiredCount)', count.key);
    removePair(cc, count);
    return;
  }
  im.change('clusterComponents.desiredCount', 'renamed desiredSize, the key sdpipe reads for the system node group (minSize <= desiredSize <= maxSize)', count.key);
  (count.key as Scalar).value = 'desiredSize';
  // The original sized its node group with desiredCount alone: minSize = maxSize = desiredSize =
  // desiredCount (lib/dataPlane.ts at v1.2.0, managedNodeGroups). sdpipe's defaults are 2, so a
  // count other than 2 needs the bounds written too, or the group cannot hold it.
  const n = isScalar(count.value) ? count.value.value : undefined;
  if (typeof n !== 'number') return;
  for (const bound of ['minSize', 'maxSize']) {
    if (pairOf(cc, bound)) continue;
    cc.add(new Pair(new Scalar(bound), new Scalar(n)));
    im.change(`clusterComponents.${bound}`, `added ${bound}: ${n}: the original kept its node group at desiredCount nodes (minSize = maxSize = desiredCount)`, count.key);
  }
}

/** Remove a map when it became empty, from its parent. */
function dropIfEmpty(parent: YAMLMap | undefined, key: string): void {
  const pair = pairOf(parent, key);
  if (parent && pair && isMap(pair.value) && pair.value.items.length === 0 && !pair.value.commentBefore && !pair.value.comment) removePair(parent, pair);
}

/** One runtime's changes: scaling, instance types, snapshot id, no-effect keys, images, chart. */
function runtimeValues(im: Importer, rt: RuntimeInfo): void {
  const base: Path = ['modelsRuntime', rt.index];
  const extra = mapAt(rt.node, 'extraValues');
  const karpenter = mapAt(extra, 'karpenter');
  const nodeTemplate = mapAt(karpenter, 'nodeTemplate');
  const provisioner = mapAt(karpenter, 'provisioner');
  const at = (...p: (string | number)[]): Path => [...base, ...p];

  // Older format: scaling under karpenter, where the chart never read it.
  const oldScaling = pairOf(karpenter, 'scaling');
  if (extra && karpenter && oldScaling) {
    let values = mapAt(extra, 'runtime');
    if (!values) {
      values = new YAMLMap();
      extra.items.push(im.doc.createPair('runtime', values));
    }
    const scaling = pairOf(values, 'scaling');
    removePair(karpenter, oldScaling);
    if (!scaling || !isMap(scaling.value)) {
      if (scaling) removePair(values, scaling);
      values.items.push(oldScaling);
      im.change(at('extraValues', 'karpenter', 'scaling'), `moved to extraValues.runtime.scaling of runtime ${rt.name}: the chart reads runtime.scaling (KEDA), and never read karpenter.scaling`, oldScaling.key);
    } else {
      const target = scaling.value;
      const kept: string[] = [];
      for (const p of isMap(oldScaling.value) ? (oldScaling.value.items as Pair[]) : []) {
        const k = keyOf(p);
        if (k !== undefined && !pairOf(target, k)) target.items.push(p);
        else kept.push(String(k));
      }
      im.change(at('extraValues', 'karpenter', 'scaling'), `merged into extraValues.runtime.scaling of runtime ${rt.name}: the chart reads runtime.scaling${kept.length ? `; ${kept.join(', ')} already set there, kept (the value the chart read)` : ''}`, oldScaling.key);
    }
  }

  // Instance types the region does not offer as GPU types.
  const typesPair = pairOf(provisioner, 'instanceType');
  if (provisioner && typesPair && isSeq(typesPair.value) && im.facts) {
    const facts = im.facts;
    const seq = typesPair.value;
    const dropped: string[] = [];
    seq.items = seq.items.filter((item, j) => {
      const t = scalarString(item);
      if (t === undefined || instanceOffer(facts, t) === 'gpu') return true;
      im.change(at('extraValues', 'karpenter', 'provisioner', 'instanceType', j), `${t} dropped: not a GPU instance type offered in ${im.o.region} (region facts as of ${facts.asOf}; GPU families there: ${Object.keys(facts.gpuInstanceFamilies).join(', ')})`, item);
      dropped.push(t);
      return false;
    });
    if (seq.items.length === 0 && dropped.length) {
      const offered = gpuInstanceTypes(facts);
      const fallback = FALLBACK_GPU_TYPES.filter((t) => offered.includes(t));
      const types = fallback.length ? fallback : offered.slice(0, 2);
      for (const t of types) seq.items.push(im.doc.createNode(t));
      im.change(at('extraValues', 'karpenter', 'provisioner', 'instanceType'), `no type left: wrote ${types.join(', ')} (offered in ${im.o.region})`, typesPair.key);
    }
  } else if (typesPair && !im.facts) {
    im.human(at('extraValues', 'karpenter', 'provisioner', 'instanceType'), `no region facts for ${im.o.region} (config/regions/${im.o.region}.yaml): check that each instance type is a GPU type offered there`, typesPair.key);
  }

  // The snapshot id: the pipeline supplies the baked one.
  const dataVolume = mapAt(nodeTemplate, 'dataVolume');
  const snap = pairOf(dataVolume, 'snapshotID');
  if (dataVolume && snap && rt.bottlerocket && im.snapshot) {
    const id = scalarString(snap.value) ?? String((snap.value as Scalar | null)?.value ?? '');
    const why = templated(id) ? ' (a template variable, never filled in here)' : SNAPSHOT_ID_PATTERN.test(id) ? '' : ` (and "${id}" is malformed: a snapshot id is snap- followed by 8 or 17 hex digits)`;
    im.change(at('extraValues', 'karpenter', 'nodeTemplate', 'dataVolume', 'snapshotID'), `${id} removed${why}: with snapshot.enabled the pipeline bakes the image-cache snapshot from the mirrored images and supplies its id`, snap.key);
    removePair(dataVolume, snap);
    dropIfEmpty(nodeTemplate, 'dataVolume');
  }

  // Keys with no effect, as the migration table says (lib/config/migration.ts).
  noEffectKeys(im, rt);
  const values = mapAt(extra, 'runtime');

  // Images written by hand: the deploy uses the mirrored image pinned by digest.
  for (const [key, name] of [['inferenceApi', rt.type], ['queueAgent', RUNTIME_IMAGE.queueAgent]] as const) {
    const holder = mapAt(values, key);
    const image = pairOf(holder, 'image');
    if (!holder || !image) continue;
    const repository = scalarString(mapAt(holder, 'image')?.get('repository', true)) ?? '';
    const tagNode = mapAt(holder, 'image')?.get('tag', true);
    const tag = isScalar(tagNode) && tagNode.value !== null ? String(tagNode.value) : undefined;
    const written = `${repository}${tag ? `:${tag}` : ''}`;
    const path = at('extraValues', 'runtime', key, 'image');
    const def = name ? imageSource(name) : undefined;
    const host = hostOf(repository) ?? '';
    const ecr = parseEcrHost(host);
    const rest = repository.slice(host.length + 1);
    const movingTag = !tag || tag === 'latest' ? ` with the moving tag "${tag ?? 'latest'}"` : '';
    if (def && name && withoutTag(def.source) === repository) {
      const keepTag = tag !== undefined && `${repository}:${tag}` !== def.source;
      if (keepTag) im.sourceOverrides.set(name, `${repository}:${tag}`);
      im.change(path, `${written} removed: the default ${name} image; the deploy uses its mirrored copy pinned by digest (mirror.images ${name}${keepTag ? `, source ${repository}:${tag}` : ''})`, image.key);
    } else if (def && ecr && rest === def.repository) {
      im.change(path, `${written} removed: an image copied into ECR by hand${movingTag}; the Mirror step now copies ${def.source} to ${def.repository} and the deploy pins its digest`, image.key);
      im.human(path, `if ${written} was an image you built, not a copy of ${def.source}, write where it is built as the source of mirror.images ${name}`, image.key);
    } else {
      im.change(path, `${written} removed: the deploy uses the mirrored image pinned by digest, not an image written here`, image.key);
      im.human(path, `${written} is not the default ${name ?? 'runtime'} image: write its source into mirror.images${name ? ` under the name ${name}` : ''} (a registry the runner can pull from) so the Mirror step copies it`, image.key);
    }
    removePair(holder, image);
    dropIfEmpty(values, key);
  }
  dropIfEmpty(extra, 'runtime');
  dropIfEmpty(karpenter, 'nodeTemplate');

  // A chart repository China cannot reach.
  const repoPair = pairOf(rt.node, 'chartRepository');
  const repo = scalarString(repoPair?.value);
  if (repoPair && repo !== undefined && im.partition === 'aws-cn') {
    const host = hostOf(repo);
    if (host && (isPublicHost(host) || host.endsWith('.github.io'))) {
      im.change(at('chartRepository'), `${repo} removed: ${im.o.region} cannot reach ${host} reliably at deploy time; the deploy uses the mirrored sd-on-eks chart (mirror.charts)`, repoPair.key);
      removePair(rt.node, repoPair);
      const version = pairOf(rt.node, 'chartVersion');
      if (version) {
        im.change(at('chartVersion'), `${scalarString(version.value) ?? String((version.value as Scalar).value)} removed with chartRepository: the mirrored chart's version is ${CHART_SOURCES['sd-on-eks'].source.split(':').pop()} (mirror.charts sd-on-eks)`, version.key);
        removePair(rt.node, version);
      }
    }
  }
}

/** The original keys the migration table calls no-effect (rule SDP101), under a runtime. */
export const NO_EFFECT_KEYS: readonly { readonly path: readonly string[]; readonly note: string }[] = MIGRATION.filter(
  (e) => e.status === 'no-effect' && e.original.startsWith('modelsRuntime[].'),
).map((e) => ({ path: e.original.slice('modelsRuntime[].'.length).split('.'), note: e.note.replace(/; remove it$/, '') }));

/** Remove the keys that have no effect, each reported, and the mappings they leave empty below extraValues. */
function noEffectKeys(im: Importer, rt: RuntimeInfo): void {
  for (const { path, note } of NO_EFFECT_KEYS) {
    const chain: YAMLMap[] = [rt.node];
    for (const seg of path.slice(0, -1)) {
      const next = mapAt(chain[chain.length - 1], seg);
      if (!next) break;
      chain.push(next);
    }
    if (chain.length !== path.length) continue;
    const pair = pairOf(chain[chain.length - 1], path[path.length - 1]);
    if (!pair) continue;
    im.change(['modelsRuntime', rt.index, ...path], `removed: ${note}`, pair.key);
    removePair(chain[chain.length - 1], pair);
    for (let i = chain.length - 1; i >= 2 && chain[i].items.length === 0; i--) dropIfEmpty(chain[i - 1], path[i - 1]);
  }
}

/** Template variables (`${VAR}`) left anywhere: a placeholder and a NEEDS-A-HUMAN item each. */
function templateVariables(im: Importer): void {
  const walk = (node: unknown, path: (string | number)[]): void => {
    if (isMap(node)) {
      for (const p of node.items as Pair[]) {
        const k = keyOf(p);
        if (k !== undefined) walk(p.value, [...path, k]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    } else if (isScalar(node) && hasTemplateVariable(node.value)) {
      const was = node.value;
      const vars = [...was.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]).join(', ');
      const last = path[path.length - 1];
      const what = formatPath(path) === 'modelBucketArn'
        ? `arn:${im.partition}:s3:::<bucket>`
        : last === 'type' ? `sdwebui or comfyui (was the template variable ${vars})` : `${String(last)} (was the template variable ${vars})`;
      node.value = placeholder(what);
      node.type = Scalar.PLAIN;
      im.change(path, `"${was}" holds the template variable ${vars}, which deploy.sh used to fill in: replaced by the placeholder "${node.value}"`, node);
      im.human(path, `fill in ${formatPath(path)}: ${formatPath(path) === 'modelBucketArn' ? `the ARN of the model bucket in ${im.o.region}, arn:${im.partition}:s3:::<bucket>` : `the value deploy.sh put for ${vars}`}`, node);
    }
  };
  walk(im.root, []);
}

/** CARRIED: the original keys and runtimes kept. */
function carried(im: Importer, runtimes: readonly RuntimeInfo[]): void {
  for (const p of im.root.items as Pair[]) {
    const k = keyOf(p);
    if (k === undefined) continue;
    if (k === 'modelsRuntime') {
      for (const rt of runtimes) im.carry(['modelsRuntime', rt.index], `runtime ${rt.name} (${rt.type ?? 'type to fill in'})`, rt.node);
      continue;
    }
    if (im.changed.some((c) => c.path === k)) continue;
    const v = p.value;
    const shown = isScalar(v) ? String(v.value) : isMap(v) ? `keys ${(v.items as Pair[]).map(keyOf).join(', ')}` : 'carried';
    im.carry(k, shown, p.key);
  }
}

/** A block sequence or map node from plain data, written as a flow sequence when `flow`. */
function node(doc: Document, value: unknown, flow = false): Node {
  const n = doc.createNode(value) as Node;
  if (flow && (isSeq(n) || isMap(n))) n.flow = true;
  return n;
}


/** Put sdpipe's sections in front of the original keys. */
function addSections(im: Importer, runtimes: readonly RuntimeInfo[]): void {
  const { doc, o, partition } = im;
  const china = partition === 'aws-cn';
  const pairs: Pair[] = [];

  // environment
  const branch = o.branch ?? `env/${o.env}`;
  const approval = o.approval ?? 'manual';
  const env = new YAMLMap();
  env.add(doc.createPair('name', o.env));
  const account = new Scalar(o.account);
  account.type = Scalar.QUOTE_DOUBLE;
  env.add(doc.createPair('account', account));
  const region = doc.createNode(o.region) as Scalar;
  region.comment = ` partition ${partition} follows from the region`;
  env.add(doc.createPair('region', region));
  env.add(doc.createPair('branch', branch));
  env.add(doc.createPair('approval', approval));
  pairs.push(doc.createPair('environment', env));
  im.change('environment', `added: name ${o.env}, account ${o.account}, region ${o.region} (partition ${partition}), branch ${branch}, approval ${approval}`);

  // pipeline
  const services = im.facts?.services;
  if (services && (!services.codepipeline || !services.codeconnections)) {
    const pipeline = new YAMLMap();
    const engine = doc.createNode('github-actions') as Scalar;
    engine.comment = ` CodePipeline${services.codeconnections ? '' : ' and CodeConnections'} not offered in ${o.region}`;
    pipeline.add(doc.createPair('engine', engine));
    if (china) {
      const runnerKey = new Scalar('runner');
      runnerKey.commentBefore = ' A self-hosted runner in China, registered with these labels, moves the large images and\n models into ECR and S3 without crossing the border (docs/aws-cn.md, section 5).';
      pipeline.add(new Pair(runnerKey, node(doc, CHINA_RUNNER, true)));
      pipeline.add(doc.createPair('npmRegistry', CHINA_NPM_REGISTRY));
      im.human('pipeline.runner', `register a self-hosted GitHub Actions runner in China with the labels ${CHINA_RUNNER.join(', ')} (docs/aws-cn.md, section 5), or write runner: [ubuntu-latest]`);
      // The original's China guide says the same (docs/en/async_img_sd_IG.md at v1.2.0: ICP licence).
      if (!mapAt(mapAt(im.root, 'APIGW'), 'customDomain') && scalarString(mapAt(im.root, 'APIGW')?.get('endpointType', true)) !== 'private') {
        im.human('APIGW', `the API's execute-api host cannot serve the public in ${o.region} without an ICP licence: add APIGW.customDomain (a domain with an ICP licence and its ACM certificate in ${o.region}), or publish tasks to the input SNS topic (docs/aws-cn.md, "Reaching the API"); validate warns SDP111 until then`);
      }
    }
    pairs.push(doc.createPair('pipeline', pipeline));
    im.change('pipeline', `added: engine github-actions${china ? `, a self-hosted runner in China, npmRegistry ${CHINA_NPM_REGISTRY}` : ''} (${o.region} does not offer CodePipeline${services.codeconnections ? '' : ' or CodeConnections'})`);
  }

  // mirror
  const types = new Set<RuntimeType>();
  for (const rt of runtimes) {
    if (rt.type) types.add(rt.type);
    else {
      types.add('sdwebui');
      types.add('comfyui');
    }
  }
  const systemType = scalarString(mapAt(im.root, 'clusterComponents')?.get('instanceType', true)) ?? '';
  const arm = isGravitonInstanceType(systemType);
  const runtimeNames = new Set<string>([RUNTIME_IMAGE.sdwebui, RUNTIME_IMAGE.comfyui, RUNTIME_IMAGE.queueAgent]);
  // China needs every cluster image and chart mirrored. Global regions could pull them publicly, but
  // the shipped global environments mirror them too, so that every pod runs a pinned digest
  // (config/environments/dev.yaml, prod.yaml); the import does the same. Only the Mountpoint S3 CSI
  // chart, which has no OCI copy upstream, comes from its public https repository there.
  // Where the logs EKS add-on ships the logs, the stack runs no Fluent Bit image of its own.
  const addonLogs = logsThroughAddon(partition, regionFacts(o.region)?.eksAddons);
  const imageNames = requiredImages('aws-cn', [...types], { fluentBit: !addonLogs });
  const images = new YAMLSeq();
  let firstCluster = true;
  for (const name of imageNames) {
    const e = imageSource(name);
    const platforms = runtimeNames.has(name) || !arm ? ['linux/amd64'] : ['linux/amd64', 'linux/arm64'];
    const m = node(doc, { name, source: im.sourceOverrides.get(name) ?? e.source, repository: e.repository, platforms }) as YAMLMap;
    (m.get('platforms', true) as unknown as YAMLSeq).flow = true;
    if (e.comment) (m.items[0].value as Scalar).comment = ` ${e.comment}`;
    if (!runtimeNames.has(name) && firstCluster) {
      m.commentBefore = ` Images the cluster's charts run: ${china ? `${o.region} cannot pull them from public registries` : 'mirrored so that every pod runs a pinned digest'}.${arm ? `\n linux/arm64 too: the system nodes (${systemType}) are Graviton.` : ''}`;
      firstCluster = false;
    }
    images.items.push(m);
  }
  const needsRuntimeChart = runtimes.some((rt) => pairOf(rt.node, 'chartRepository') === undefined);
  const chartNames = requiredCharts('aws-cn', needsRuntimeChart).filter((c) => china || c !== 'mountpoint-s3-csi-driver');
  const charts = new YAMLSeq();
  for (const name of chartNames) {
    const e = chartSourceOf(name);
    const m = node(doc, { name, source: e.source, repository: e.repository }) as YAMLMap;
    if (e.comment) m.commentBefore = ` ${e.comment.split('\n').join('\n ')}`;
    charts.items.push(m);
    if (name === 'mountpoint-s3-csi-driver') {
      im.human('mirror.charts', `the Mountpoint S3 CSI driver chart has no OCI copy upstream: push one once (helm pull ${e.source.split('/').pop()?.replace(':', ' --version ')} from its https repository, helm push to a registry you run, see the comment above the entry) and write it as the source of mirror.charts mountpoint-s3-csi-driver (now the example ${e.source})`);
    }
  }
  if (images.items.length || charts.items.length) {
    const mirror = new YAMLMap();
    if (images.items.length) mirror.add(doc.createPair('images', images));
    if (charts.items.length) mirror.add(doc.createPair('charts', charts));
    pairs.push(doc.createPair('mirror', mirror));
    im.change('mirror', `added: ${imageNames.length} image(s) (${imageNames.join(', ')})${chartNames.length ? ` and ${chartNames.length} chart(s) (${chartNames.join(', ')})` : ''}, which the Mirror step copies into the environment's ECR and the deploy pins by digest (the input mirrors nothing${china ? `; ${o.region} cannot pull from public registries` : ''})`);
  }

  // models
  const files = new YAMLSeq();
  const seen = new Set<string>();
  for (const rt of runtimes) {
    if (rt.type === 'comfyui') continue;
    const dynamic = pairOf(rt.node, 'dynamicModel')?.value;
    if (isScalar(dynamic) && dynamic.value === true) continue;
    const filePair = pairOf(rt.node, 'modelFilename');
    const file = scalarString(filePair?.value);
    if (!filePair || file === undefined || templated(file) || seen.has(file)) continue;
    seen.add(file);
    const target = `${CHECKPOINT_FOLDER}/${file}`;
    const known = KNOWN_MODELS[file];
    const m = node(doc, { source: placeholder('hf://<org>/<repo>/<path>@<revision>'), target, sha256: placeholder('sha256 of the file (sha256sum)') }) as YAMLMap;
    m.commentBefore = known
      ? ` known public source: ${known}@<revision> (pin a commit, then write the file's sha256)`
      : ` where ${file} comes from: hf://, https://, s3:// or a path; then the file's sha256`;
    files.items.push(m);
    im.change(['modelsRuntime', rt.index, 'modelFilename'], `${file} was never synced into the model bucket by the pipeline: added models.files target ${target}, with a placeholder source and sha256`, filePair.value);
    im.human(['modelsRuntime', rt.index, 'modelFilename'], `fill in models.files ${target}: source${known ? ` (known public source ${known}, pin @<revision>)` : ''} and sha256 (sha256sum of the file)`, filePair.value);
  }
  if (china || files.items.length) {
    const models = new YAMLMap();
    if (china) {
      const endpoint = doc.createNode(CHINA_HF_ENDPOINT) as Scalar;
      endpoint.comment = ' a Hugging Face compatible mirror reachable from China';
      models.add(doc.createPair('endpoint', endpoint));
    }
    if (files.items.length) models.add(doc.createPair('files', files));
    pairs.push(doc.createPair('models', models));
    im.change('models', `added: ${china ? `endpoint ${CHINA_HF_ENDPOINT}` : ''}${china && files.items.length ? ', ' : ''}${files.items.length ? `${files.items.length} model file(s) the runtimes load` : ''}`);
  }

  // snapshot
  const bottlerocket = runtimes.filter((rt) => rt.bottlerocket);
  if (im.snapshot) {
    const snapshot = new YAMLMap();
    snapshot.add(doc.createPair('enabled', true));
    const kv = mapAt(im.root, 'clusterComponents')?.get('kubernetesVersion', true);
    const version = isScalar(kv) && kv.value !== null ? String(kv.value) : undefined;
    if (version !== undefined) {
      const v = new Scalar(version);
      v.type = Scalar.QUOTE_DOUBLE;
      snapshot.add(doc.createPair('kubernetesVersion', v));
    } else {
      im.human('clusterComponents.kubernetesVersion', 'write the cluster\'s Kubernetes version (sdpipe\'s default cluster is 1.33): the snapshot bake reads it to pick the Bottlerocket AMI and refuses to guess');
    }
    const sizes = bottlerocket.map((rt) => {
      const v = scalarString(mapAt(mapAt(mapAt(mapAt(rt.node, 'extraValues'), 'karpenter'), 'nodeTemplate'), 'dataVolume')?.get('volumeSize', true));
      const m = v === undefined ? undefined : /^([1-9][0-9]*)Gi$/.exec(v);
      return { written: v !== undefined, gib: m ? Number(m[1]) : v === undefined ? 80 : undefined };
    });
    if (sizes.some((s) => s.written) && sizes.every((s) => s.gib !== undefined)) {
      snapshot.add(doc.createPair('volumeSize', Math.min(...sizes.map((s) => s.gib as number))));
    }
    snapshot.add(doc.createPair('instanceType', SNAPSHOT_INSTANCE_TYPE));
    pairs.push(doc.createPair('snapshot', snapshot));
    im.change('snapshot', `added: enabled on Bottlerocket (runtime${bottlerocket.length > 1 ? 's' : ''} ${bottlerocket.map((r) => r.name).join(', ')}): the pipeline bakes the image-cache snapshot from the mirrored images and feeds its id to the GPU nodes`);
  }

  // The original keys follow the comment line; the input's own leading comment moves with them.
  const first = im.root.items[0] as Pair | undefined;
  const firstKey = first?.key as Node | undefined;
  const lead = [ORIGINAL_KEYS_COMMENT, im.doc.commentBefore, firstKey?.commentBefore].filter((c): c is string => typeof c === 'string' && c !== '').join('\n');
  if (firstKey && isScalar(firstKey)) firstKey.commentBefore = lead;
  im.doc.commentBefore = ` Imported by sdpipe import from ${o.file}: fill in every FILL-IN value, then run sdpipe validate (docs/import.md).`;
  im.root.items.unshift(...pairs);
}
