/** Builders for the snapshot tests: environments, locks and a bake wired to the fake. */
import { createHash } from 'node:crypto';
import type { EnvironmentConfig } from '../../../lib/config/types';
import { type BakeEvent, type BakeSnapshotOptions, bakeSnapshot } from '../../../lib/snapshot/bake';
import { createSnapshotClients } from '../../../lib/snapshot/clients';
import { bakeInstanceManagedPolicies } from '../../../lib/snapshot/policy';
import type { ImagesLock } from '../../../lib/contracts/images-lock';
import type { SnapshotImagesLock } from '../../../lib/snapshot/pull-targets';
import { FakeAws } from './fake-aws';

export const ACCOUNT = '123456789012';

/** A deterministic `sha256:` digest for a label. */
export function digestOf(label: string): string {
  return `sha256:${createHash('sha256').update(label).digest('hex')}`;
}

/** The ECR host of the test account in a region (spelled out, as a reader of the test would). */
export function hostOf(region: string): string {
  return region.startsWith('cn-') ? `${ACCOUNT}.dkr.ecr.${region}.amazonaws.com.cn` : `${ACCOUNT}.dkr.ecr.${region}.amazonaws.com`;
}

/** A minimal valid environment with the snapshot stage enabled. */
export function envConfig(options: { name?: string; region?: string; snapshot?: EnvironmentConfig['snapshot'] } = {}): EnvironmentConfig {
  const region = options.region ?? 'us-west-2';
  const partition = region.startsWith('cn-') ? 'aws-cn' : 'aws';
  return {
    environment: { name: options.name ?? 'dev', account: ACCOUNT, region, branch: `env/${options.name ?? 'dev'}` },
    snapshot: options.snapshot ?? { enabled: true, kubernetesVersion: '1.33', volumeSize: 80, instanceType: 'm5.large' },
    stackName: 'sdoneks-dev',
    modelBucketArn: `arn:${partition}:s3:::models-bucket`,
    modelsRuntime: [{ name: 'sdruntime', type: 'sdwebui', modelFilename: 'v1-5-pruned-emaonly.safetensors' }],
  };
}

/** Image specs of a lock: name → digest label. */
export type ImageSpec = { readonly name: string; readonly repository?: string; readonly label?: string; readonly platforms?: readonly string[] };

/**
 * A complete images lock (lib/contracts/images-lock.ts) for images in the environment's registry,
 * tagged `latest` in `target` (the pull must not use it), with no charts.
 */
export function lockFor(region: string, images: readonly ImageSpec[], environment = 'dev'): ImagesLock {
  return {
    version: 1,
    environment,
    images: images.map((i) => ({
      name: i.name,
      source: `public.ecr.aws/example/${i.name}:latest`,
      sourceDigest: digestOf(`source ${i.label ?? i.name}`),
      target: `${hostOf(region)}/${i.repository ?? `sd-on-eks/${i.name}`}:latest`,
      digest: digestOf(i.label ?? i.name),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      platforms: i.platforms ?? ['linux/amd64'],
      bytesCopied: 0,
      bytesSkipped: 0,
    })),
    charts: [],
  };
}

/** The references a lock's images are pulled as. */
export function refsOf(region: string, lock: SnapshotImagesLock): string[] {
  return lock.images.map((i) => `${hostOf(region)}/${i.target.slice(hostOf(region).length + 1).replace(/:[^/]*$/, '')}@${i.digest}`);
}

export const DEFAULT_IMAGES: readonly ImageSpec[] = [{ name: 'sdwebui' }, { name: 'comfyui' }, { name: 'queue-agent' }];

/** The AMI parameter name the bake must read. */
export function amiParameter(version: string, arch: string): string {
  return `/aws/service/bottlerocket/aws-k8s-${version}/${arch}/latest/image_id`;
}

/** The AMI version parameter next to {@link amiParameter}. */
export function amiVersionParameter(version: string, arch: string): string {
  return `/aws/service/bottlerocket/aws-k8s-${version}/${arch}/latest/image_version`;
}

/**
 * A fake with the registry holding the lock's references, the AMI parameters and the launch
 * settings in SSM, and the instance profiles `sdpipe-bake` and `my-profile` whose role has the
 * managed policies sdpipe prints and creates for the bake instance (`bakeInstanceManagedPolicies`),
 * so that the fake judges sdpipe's own role.
 */
export function fakeFor(region: string, lock: SnapshotImagesLock, extra: { parameters?: Record<string, string>; environment?: string } = {}): FakeAws {
  const env = extra.environment ?? 'dev';
  const role = { roleName: `sdpipe-bake-instance-${env}`, managedPolicyArns: bakeInstanceManagedPolicies(region) };
  return new FakeAws({
    account: ACCOUNT,
    region,
    registry: refsOf(region, lock),
    parameters: {
      [amiParameter('1.33', 'x86_64')]: region.startsWith('cn-') ? 'ami-0c0ffee00000000c1' : 'ami-0123456789abcdef0',
      [amiParameter('1.33', 'arm64')]: 'ami-0aaaaaaaaaaaaaaa1',
      [amiVersionParameter('1.33', 'x86_64')]: '1.44.0-1f2e3d4c',
      [amiVersionParameter('1.33', 'arm64')]: '1.44.0-1f2e3d4c',
      // The shipped environments run 1.35 (the default): Bottlerocket publishes its AMIs under the same names.
      [amiParameter('1.35', 'x86_64')]: region.startsWith('cn-') ? 'ami-0c0ffee00000000c2' : 'ami-0123456789abcdef1',
      [amiParameter('1.35', 'arm64')]: 'ami-0aaaaaaaaaaaaaaa2',
      [amiVersionParameter('1.35', 'x86_64')]: '1.50.0-5e6f7a8b',
      [amiVersionParameter('1.35', 'arm64')]: '1.50.0-5e6f7a8b',
      [`/sdpipe/${env}/bake/instance-profile`]: 'sdpipe-bake',
      [`/sdpipe/${env}/bake/subnet-id`]: 'subnet-0123456789abcdef0',
      [`/sdpipe/${env}/bake/security-group-ids`]: 'sg-0123456789abcdef0',
      ...extra.parameters,
    },
  })
    .addInstanceProfile('sdpipe-bake', role)
    .addInstanceProfile('my-profile', role)
    .install();
}

/** Run a bake against the fake, collecting events. */
export async function bake(fake: FakeAws, options: Partial<BakeSnapshotOptions> & { config: EnvironmentConfig; lock: SnapshotImagesLock }, events: BakeEvent[] = []) {
  return bakeSnapshot({
    clients: createSnapshotClients({ region: options.config.environment.region }),
    clock: fake.clock,
    sleep: fake.sleep,
    runId: 'test-run-1',
    onEvent: (e) => events.push(e),
    ...options,
  });
}
