/**
 * The stand of the hand-over test: every local stand-in the pipeline's steps talk to, an
 * environment file pointed at them, and the engine's part of running a step (a fresh checkout per
 * step, the declared inputs copied in from earlier steps' outputs, the declared secrets set).
 *
 * - source registry: the real Docker Distribution registry (no auth), seeded with one tiny image or
 *   chart per mirror entry, at the entry's own path and tag;
 * - the environment's ECR: a second Distribution registry (Basic auth) reached through
 *   SDPIPE_REGISTRY_OVERRIDE, so lock entries and SSM values still name the ECR host;
 * - the model bucket: s3rver; the Hugging Face endpoint: the hub stand-in (token required, given
 *   to the Models step as its declared secret);
 * - EC2, SSM and ECR control planes: the stateful fakes of test/unit/snapshot/fake-aws.ts with
 *   immediate transitions (the CLI runs on the real clock), one SSM store shared by every step.
 *   The fake's instances pull from what the ECR stand-in really holds ({@link Stand.syncBakeRegistry}).
 *
 * What the account holds before the pipeline runs is seeded here and nowhere else: the public
 * Bottlerocket AMI parameters, the CDK bootstrap version, and (from the Synth step's cloud
 * assembly, {@link Stand.deploySupportResources}) the pipeline's own support resources.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DescribeInstanceTypeOfferingsCommand, EC2Client } from '@aws-sdk/client-ec2';
// No esbuild warm-up here on purpose: esbuild fixes its default working directory at process.cwd() when first
// loaded (`defaultWD` in esbuild/lib/main.js), and each step runs in a checkout that stop() deletes. The stage's
// bundler passes absWorkingDir (stages/constructs/request-api.ts), so the second environment's Synth proves it.
import { AwsStub } from 'aws-sdk-client-mock';
import { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { parse, stringify } from 'yaml';
import { ecrHost, partitionOf, type Partition } from '../../../lib/aws/partition';
import { bottlerocketParametersOf } from '../../../lib/config/live';
import { loadValidEnvironment } from '../../../lib/config/load';
import type { EnvironmentConfig } from '../../../lib/config/types';
import type { BlueprintStep } from '../../../pipeline/blueprint/blueprint';
import { runCli, type CliResult } from '../../unit/cli/run-cli';
import { FakeAws } from '../../unit/snapshot/fake-aws';
import { startHfServer, type HfServer } from '../../support/hf-server';
import { getManifest, pushHelmChart, pushRandomImage, type RegistryAuth } from '../../support/oci-fixtures';
import { startRegistry, type RegistryHandle } from '../../support/registry';
import { startS3, type S3Handle } from '../../support/s3';
import { sdpipeArgs } from './shell-words';

/** The project root (its environment files and cdk.json are the templates of the stand's). */
export const ROOT = path.resolve(__dirname, '../../..');

/** The model bucket in s3rver. */
export const BUCKET = 'sdoneks-models-handover';

/** The hub repository the model file is published in. */
const HF_REPO = 'sdpipe-test/models';

/** The CDK bootstrap version parameter every bootstrapped account has (`cdk bootstrap` writes it). */
const BOOTSTRAP_VERSION_PARAMETER = '/cdk-bootstrap/hnb659fds/version';

/** Environment variables the stand sets for the whole test (restored by stop()). */
const ENV_KEYS = ['SDPIPE_REGISTRY_OVERRIDE', 'SDPIPE_REGISTRY_USERNAME', 'SDPIPE_REGISTRY_PASSWORD', 'GITHUB_STEP_SUMMARY', 'HF_TOKEN', 'SDPIPE_BAKE_INSTANCE_PROFILE', 'SDPIPE_BAKE_SUBNET_ID', 'SDPIPE_BAKE_SECURITY_GROUP_IDS'];

/** What one step run did. */
export interface StepRun extends CliResult {
  /** The command line as the blueprint wrote it. */
  readonly command: string;
  /** The step's checkout. */
  readonly workspace: string;
  /** SSM parameters the step created or changed (name → value). */
  readonly wrote: ReadonlyMap<string, string>;
}

/** A running stand. */
export interface Stand {
  /** The environment's name, partition and ECR host. */
  readonly environment: string;
  readonly partition: Partition;
  readonly ecrHost: string;
  /** The repository as a developer pushes it: config/environments/<env>.yaml, cdk.json (+ the generated workflow). */
  readonly repo: string;
  /** The environment file in {@link repo}. */
  readonly environmentFile: string;
  readonly source: RegistryHandle;
  readonly ecr: RegistryHandle;
  /** Credentials of the ECR stand-in. */
  readonly ecrAuth: RegistryAuth;
  readonly s3: S3Handle;
  readonly hf: HfServer;
  readonly fake: FakeAws;
  /** The engine's secret store (secret name → value). */
  readonly secrets: Readonly<Record<string, string>>;
  /** Names of the SSM parameters seeded before the pipeline ran (not hand-overs). */
  readonly seeded: ReadonlySet<string>;
  /** Run one command of the blueprint (`npx sdpipe …`) in process, in `workspace`, recording the SSM parameters it wrote. */
  run(command: string, workspace: string, env?: Readonly<Record<string, string>>): Promise<StepRun>;
  /**
   * Run a blueprint step as an engine does: a fresh checkout of {@link repo}, each declared input
   * (an earlier step's output folder) copied to its declared directory, the declared secrets set.
   * @param outputs output folder of each step run so far, by step id
   * @param place where an input goes (tests move it to break the hand-over) @default the input's own directory
   */
  runStep(step: BlueprintStep, outputs: Readonly<Record<string, string>>, place?: (input: BlueprintStep['inputs'][number]) => string): Promise<StepRun[]>;
  /** A fresh checkout of {@link repo} named `name`. */
  checkout(name: string): string;
  /**
   * Create what the pipeline's own stacks in a Synth step's cloud assembly hold that the steps
   * read (every stack but the deployed stage's): their SSM parameters, and their instance profiles
   * with the managed policies and inline actions of the role, in the fakes. Returns the parameter names.
   */
  deploySupportResources(assemblyDir: string, config: EnvironmentConfig): string[];
  /** Let the fake's instances pull exactly what the ECR stand-in holds (`<ecr host>/<repo>@<digest>` of every tag). */
  syncBakeRegistry(): Promise<string[]>;
  /** Stop everything, restore process.env and remove the folders. */
  stop(): Promise<void>;
}

/** Options of {@link startStand}. */
export interface StandOptions {
  /** The environment file of the project the stand's is made from (`dev`, `prod-cn`). */
  readonly base: string;
}

type Doc = Record<string, unknown> & {
  environment: { name: string; account: string; region: string };
  mirror: { images: { name: string; source: string }[]; charts: { name: string; source: string }[] };
  models: { endpoint: string; files: { source: string; target: string; sha256: string }[] };
  modelBucketArn: string;
};

/** `host/path:tag` → path and tag (the sources of the project's files all carry a tag). */
function pathAndTag(source: string): { path: string; tag: string } {
  const m = /^(?:oci:\/\/)?[^/]+\/(.+):([^:/@]+)$/.exec(source);
  if (!m) throw new Error(`stand: cannot take the path and tag of ${source}`);
  return { path: m[1], tag: m[2] };
}

/** Start the stand-ins, seed them, write the environment file and install the fakes. */
export async function startStand(options: StandOptions): Promise<Stand> {
  const saved = { ...process.env };
  const touched = new Set(ENV_KEYS);
  const stops: (() => Promise<void> | void)[] = [];
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-handover-'));
  stops.push(() => fs.rmSync(root, { recursive: true, force: true }));
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) await s();
    for (const k of touched) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  };
  try {
    const source = await startRegistry();
    stops.push(() => source.stop());
    const ecr = await startRegistry({ auth: 'basic' });
    stops.push(() => ecr.stop());
    const hfToken = `hf_${randomBytes(8).toString('hex')}`;
    const hf = await startHfServer({ token: hfToken });
    stops.push(() => hf.stop());
    const s3 = await startS3({ buckets: [BUCKET] });
    stops.push(() => s3.stop());

    // The environment file: the project's, with the sources, the hub and the bucket of the stand.
    const doc = parse(fs.readFileSync(path.join(ROOT, 'config', 'environments', `${options.base}.yaml`), 'utf8')) as Doc;
    const env = doc.environment.name;
    const { account, region } = doc.environment;
    const partition = partitionOf(region);
    const host = ecrHost(account, region);
    let seed = 1;
    for (const image of doc.mirror.images) {
      const { path: p, tag } = pathAndTag(image.source);
      await pushRandomImage(source.url, p, tag, { layers: [300 + seed], seed: seed++, platform: { os: 'linux', architecture: 'amd64' } });
      image.source = `${source.host}/${p}:${tag}`;
    }
    for (const chart of doc.mirror.charts) {
      const { path: p, tag } = pathAndTag(chart.source);
      await pushHelmChart(source.url, p, tag, { name: p.slice(p.lastIndexOf('/') + 1), paddingBytes: seed, seed: seed++ });
      chart.source = `oci://${source.host}/${p}:${tag}`;
    }
    doc.models.endpoint = `${hf.url}/`;
    doc.models.files = doc.models.files.map((f, i) => {
      const name = f.target.slice(f.target.lastIndexOf('/') + 1);
      const { sha256 } = hf.addFile(HF_REPO, 'main', name, randomBytes(4096 + i));
      return { ...f, source: `hf://${HF_REPO}/${name}@${hf.commitOf(HF_REPO, 'main')}`, sha256 };
    });
    doc.modelBucketArn = `arn:${partition}:s3:::${BUCKET}`;

    const repo = path.join(root, 'repo');
    const environmentFile = path.join(repo, 'config', 'environments', `${env}.yaml`);
    fs.mkdirSync(path.dirname(environmentFile), { recursive: true });
    fs.writeFileSync(environmentFile, stringify(doc));
    fs.copyFileSync(path.join(ROOT, 'cdk.json'), path.join(repo, 'cdk.json'));

    for (const k of ENV_KEYS) delete process.env[k];
    for (const k of Object.keys(s3.env())) touched.add(k);
    Object.assign(process.env, s3.env(), {
      SDPIPE_REGISTRY_OVERRIDE: `${host}=${ecr.host}`,
      SDPIPE_REGISTRY_USERNAME: ecr.username!,
      SDPIPE_REGISTRY_PASSWORD: ecr.password!,
    });

    // The account before the pipeline: public AMI parameters (image_id and image_version) and the CDK bootstrap.
    const { config } = await loadValidEnvironment(environmentFile, { root: repo });
    const parameters: Record<string, string> = { [BOOTSTRAP_VERSION_PARAMETER]: '30' };
    let ami = 0;
    for (const p of bottlerocketParametersOf(config)) {
      parameters[p.value] = `ami-0${(++ami).toString(16).padStart(16, '0')}`;
      parameters[p.value.replace(/image_id$/, 'image_version')] = '1.44.0-1f2e3d4c';
    }
    const fake = new FakeAws({
      account,
      region,
      parameters,
      delays: { running: 0, ssmOnline: 0, command: 0, pull: 0, stopping: 0, terminating: 0, snapshot: 0 },
    }).install();
    stops.unshift(() => fake.restore());
    // The fake has no DescribeInstanceTypeOfferings (validate --live): an account that offers every type asked for.
    new AwsStub(EC2Client.prototype as never, EC2Client.prototype.send as never)
      .on(DescribeInstanceTypeOfferingsCommand)
      .callsFake((input: { Filters?: { Name?: string; Values?: string[] }[] }) => ({
        InstanceTypeOfferings: (input.Filters?.find((f) => f.Name === 'instance-type')?.Values ?? ['m5.large']).map((InstanceType) => ({ InstanceType, LocationType: 'region', Location: region })),
      }));
    const seeded = new Set(fake.parameters.keys());
    const secrets = { HF_TOKEN: hfToken };
    const ecrAuth = { username: ecr.username!, password: ecr.password! };

    let checkouts = 0;
    const checkout = (name: string) => {
      const dir = path.join(root, 'work', `${++checkouts}-${name}`);
      fs.cpSync(repo, dir, { recursive: true });
      return dir;
    };

    const run = async (command: string, workspace: string, stepEnv: Readonly<Record<string, string>> = {}): Promise<StepRun> => {
      const before = new Map(fake.parameters);
      Object.assign(process.env, stepEnv);
      let result: CliResult;
      try {
        result = await runCli(sdpipeArgs(command), workspace);
      } finally {
        for (const k of Object.keys(stepEnv)) delete process.env[k];
      }
      const wrote = new Map([...fake.parameters].filter(([k, v]) => before.get(k) !== v));
      return { ...result, command, workspace, wrote };
    };

    const stand: Stand = {
      environment: env,
      partition,
      ecrHost: host,
      repo,
      environmentFile,
      source,
      ecr,
      ecrAuth,
      s3,
      hf,
      fake,
      secrets,
      seeded,
      run,
      checkout,
      async runStep(step, outputs, place = (input) => input.directory) {
        const workspace = checkout(step.id);
        for (const input of step.inputs) {
          const from = outputs[input.from];
          if (!from) throw new Error(`step ${step.id} reads the output of ${input.from}, which has not run`);
          fs.cpSync(from, path.join(workspace, place(input)), { recursive: true });
        }
        const stepEnv: Record<string, string> = {};
        for (const [name, secret] of Object.entries(step.secrets)) {
          const value = secrets[secret as keyof typeof secrets];
          if (value === undefined) throw new Error(`step ${step.id} wants the secret ${secret}, which the stand's secret store does not hold`);
          stepEnv[name] = value;
        }
        const runs: StepRun[] = [];
        for (const command of step.commands) {
          const r = await run(command, workspace, stepEnv);
          runs.push(r);
          if (r.code !== 0) break;
        }
        return runs;
      },
      deploySupportResources(assemblyDir, config) {
        const assembly = new CloudAssembly(assemblyDir);
        const written: string[] = [];
        for (const stack of assembly.stacksRecursively) {
          if (stack.stackName === config.stackName) continue;
          const resources = (stack.template as { Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }> }).Resources ?? {};
          const physicalName = (id: string): string => {
            const r = resources[id];
            if (!r) throw new Error(`${stack.stackName}: Ref to ${id}, which the template does not hold`);
            const named = { 'AWS::IAM::InstanceProfile': 'InstanceProfileName', 'AWS::IAM::Role': 'RoleName' }[r.Type];
            return named && typeof r.Properties?.[named] === 'string' ? (r.Properties[named] as string) : id;
          };
          const pseudo: Record<string, string> = { 'AWS::Partition': partition, 'AWS::Region': region, 'AWS::AccountId': account, 'AWS::URLSuffix': partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com' };
          const resolve = (v: unknown): string => {
            if (typeof v === 'string') return v;
            const o = v as Record<string, unknown>;
            if (typeof o?.Ref === 'string') return pseudo[o.Ref] ?? physicalName(o.Ref);
            if (Array.isArray(o?.['Fn::Join'])) {
              const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
              return parts.map(resolve).join(sep);
            }
            throw new Error(`${stack.stackName}: the stand cannot resolve ${JSON.stringify(v)}`);
          };
          for (const [id, r] of Object.entries(resources)) {
            if (r.Type === 'AWS::SSM::Parameter') {
              const name = resolve(r.Properties?.Name);
              fake.parameters.set(name, resolve(r.Properties?.Value));
              written.push(name);
            } else if (r.Type === 'AWS::IAM::InstanceProfile') {
              const roleRef = ((r.Properties?.Roles as unknown[]) ?? [])[0] as { Ref?: string } | undefined;
              const roleId = roleRef?.Ref;
              if (!roleId) throw new Error(`${stack.stackName}: instance profile ${id} names no role of the stack`);
              const role = resources[roleId];
              const actions = Object.values(resources)
                .filter((p) => p.Type === 'AWS::IAM::Policy' && ((p.Properties?.Roles as { Ref?: string }[]) ?? []).some((x) => x.Ref === roleId))
                .flatMap((p) => ((p.Properties?.PolicyDocument as { Statement?: { Effect?: string; Action?: string | string[] }[] })?.Statement ?? []))
                .filter((s) => s.Effect === 'Allow')
                .flatMap((s) => (Array.isArray(s.Action) ? s.Action : s.Action ? [s.Action] : []));
              fake.addInstanceProfile(physicalName(id), {
                roleName: physicalName(roleId),
                managedPolicyArns: ((role?.Properties?.ManagedPolicyArns as unknown[]) ?? []).map(resolve),
                actions,
              });
            }
          }
        }
        return written;
      },
      async syncBakeRegistry() {
        const auth = `Basic ${Buffer.from(`${ecrAuth.username}:${ecrAuth.password}`).toString('base64')}`;
        const get = async <T>(p: string): Promise<T> => {
          const res = await fetch(`${ecr.url}${p}`, { headers: { authorization: auth } });
          if (!res.ok) throw new Error(`ECR stand-in: GET ${p} answered ${res.status}`);
          return (await res.json()) as T;
        };
        const refs: string[] = [];
        const { repositories } = await get<{ repositories: string[] }>('/v2/_catalog?n=1000');
        for (const repository of repositories ?? []) {
          const { tags } = await get<{ tags: string[] | null }>(`/v2/${repository}/tags/list`);
          for (const tag of tags ?? []) refs.push(`${host}/${repository}@${(await getManifest(ecr.url, repository, tag, ecrAuth)).digest}`);
        }
        fake.registry.clear();
        for (const r of refs) fake.registry.add(r);
        return refs;
      },
      stop: stopAll,
    };
    return stand;
  } catch (err) {
    await stopAll();
    throw err;
  }
}
