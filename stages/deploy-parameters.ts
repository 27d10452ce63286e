/**
 * The values the deploy stage reads at deploy time only: the mirrored image and chart digests
 * (`/sdpipe/<env>/images/<name>`, `/sdpipe/<env>/charts/<name>`, written by the Mirror step as
 * `<registry>/<repository>@sha256:<digest>`) and the image-cache snapshot id
 * (`/sdpipe/<env>/snapshot-id`, written by the Snapshot step). Each becomes a CloudFormation
 * parameter of type `AWS::SSM::Parameter::Value<String>`, so `cdk synth` needs no AWS access and
 * makes no lookups.
 *
 * The registry and repository of an image are known at synth time (this environment's ECR and
 * the mirror entry's `repository`); only the digest comes from the parameter, split off with
 * `Fn::Split` at deploy time. That keeps every image reference inspectable at synth time (the
 * China image Aspect checks the host) and pinned by digest at deploy time.
 */
import { Fn, Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { mirrorParameterName, snapshotParameterName } from '../lib/contracts/parameters';
import { SdpipeError } from '../lib/errors';
import { chartNameOf } from '../lib/name/chart-reference';
import { referenceTag } from '../lib/name/image-reference';
import type { EnvironmentConfig, MirrorEntry } from '../lib/config/types';

/** An image pinned to the digest the Mirror step copied. */
export interface PinnedImage {
  /** Mirror name (`karpenter`, `sdwebui`, ...). */
  readonly name: string;
  /** Registry host of this environment's ECR (a token: the URL suffix is resolved by CloudFormation). */
  readonly registry: string;
  /** Repository path inside the registry (`karpenter/controller`). */
  readonly repository: string;
  /** `<registry>/<repository>`. */
  readonly fullRepository: string;
  /** `sha256:<hex>`, resolved at deploy time from the SSM parameter. */
  readonly digest: string;
  /** The source tag, for people reading manifests (`1.6.3`); `pinned` when the source had none. */
  readonly tag: string;
  /** `<tag>@sha256:<hex>`: for charts that only template `repository:tag` (the digest wins when pulling). */
  readonly tagAndDigest: string;
  /** `<registry>/<repository>@sha256:<hex>`. */
  readonly reference: string;
  /** SSM parameter the digest comes from. */
  readonly parameterName: string;
}

/** A chart in this environment's ECR. */
export interface PinnedChart {
  readonly name: string;
  /** `oci://<registry>/<repository>` as the Helm handler takes it. */
  readonly repository: string;
  /** Chart name (last path segment of the repository). */
  readonly chart: string;
  /** Chart version: the mirrored tag (ECR repositories are IMMUTABLE by default, so a tag pins it). */
  readonly version: string;
  /** `sha256:<hex>` of the mirrored chart, resolved at deploy time (recorded; see docs/stages.md). */
  readonly digest: string;
  readonly parameterName: string;
}

/** Properties of {@link DeployParameters}. */
export interface DeployParametersProps {
  /** The validated environment. */
  readonly config: EnvironmentConfig;
}

/**
 * Deploy-time inputs of one environment's stack. Create one per stack; asking twice for the same
 * name returns the same parameter.
 */
export class DeployParameters extends Construct {
  /** Registry host of this environment's ECR: `<account>.dkr.ecr.<region>.<URL suffix token>`. */
  readonly registry: string;
  private readonly config: EnvironmentConfig;
  private readonly images = new Map<string, PinnedImage>();
  private readonly charts = new Map<string, PinnedChart>();
  private snapshot?: string;

  constructor(scope: Construct, id: string, props: DeployParametersProps) {
    super(scope, id);
    this.config = props.config;
    const stack = Stack.of(this);
    this.registry = `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}`;
  }

  private get env(): string {
    return this.config.environment.name;
  }

  private entry(kind: 'images' | 'charts', name: string): MirrorEntry | undefined {
    const mirrored = (this.config.mirror?.[kind] ?? []).find((e) => e.name === name);
    if (mirrored || kind === 'charts') return mirrored;
    // A built image (build.images, lib/build/build.ts) shares the namespace and the SSM parameter of mirrored ones.
    const built = (this.config.build?.images ?? []).find((e) => e.name === name);
    return built ? { name, source: `build:${built.context}`, repository: built.repository } : undefined;
  }

  /** Whether the environment mirrors an image of this name. */
  hasImage(name: string): boolean {
    return this.entry('images', name) !== undefined;
  }

  /** Whether the environment mirrors a chart of this name. */
  hasChart(name: string): boolean {
    return this.entry('charts', name) !== undefined;
  }

  private digestOf(parameterName: string): string {
    const value = ssm.StringParameter.valueForStringParameter(Stack.of(this), parameterName);
    return Fn.select(1, Fn.split('@', value));
  }

  /**
   * The mirrored image of a name, pinned by digest.
   * @throws SdpipeError when the environment does not mirror it
   */
  image(name: string): PinnedImage {
    const cached = this.images.get(name);
    if (cached) return cached;
    const e = this.entry('images', name);
    if (!e) {
      throw new SdpipeError(`environment ${this.env} does not mirror image "${name}", which the deploy stage needs`, {
        hint: `add it to mirror.images (or build.images) in config/environments/${this.env}.yaml (see lib/config/deploy-needs.ts for the names)`,
      });
    }
    const parameterName = mirrorParameterName(this.env, 'images', name);
    const digest = this.digestOf(parameterName);
    // A built image's tag is its content key, known only after the Build step: `built` stands for it (the digest pulls).
    const tag = e.source.startsWith('build:') ? 'built' : (referenceTag(e.source) ?? 'pinned');
    const fullRepository = `${this.registry}/${e.repository}`;
    const image: PinnedImage = {
      name,
      registry: this.registry,
      repository: e.repository,
      fullRepository,
      digest,
      tag,
      tagAndDigest: `${tag}@${digest}`,
      reference: `${fullRepository}@${digest}`,
      parameterName,
    };
    this.images.set(name, image);
    return image;
  }

  /**
   * The mirrored chart of a name.
   * @throws SdpipeError when the environment does not mirror it, or its source carries no version tag
   */
  chart(name: string): PinnedChart {
    const cached = this.charts.get(name);
    if (cached) return cached;
    const e = this.entry('charts', name);
    if (!e) {
      throw new SdpipeError(`environment ${this.env} does not mirror chart "${name}", which the deploy stage needs`, {
        hint: `add it to mirror.charts in config/environments/${this.env}.yaml`,
      });
    }
    const version = referenceTag(e.source);
    if (!version) {
      throw new SdpipeError(`chart "${name}" of environment ${this.env} has no version tag in its source ${e.source}`, {
        hint: 'write the chart source as oci://<host>/<repository>:<version>; Helm installs OCI charts by version',
      });
    }
    const parameterName = mirrorParameterName(this.env, 'charts', name);
    const chart: PinnedChart = {
      name,
      repository: `oci://${this.registry}/${e.repository}`,
      chart: chartNameOf(e.repository),
      version,
      digest: this.digestOf(parameterName),
      parameterName,
    };
    this.charts.set(name, chart);
    return chart;
  }

  /** The image-cache snapshot id, resolved at deploy time from `/sdpipe/<env>/snapshot-id`. */
  snapshotId(): string {
    this.snapshot ??= ssm.StringParameter.valueForStringParameter(Stack.of(this), snapshotParameterName(this.env));
    return this.snapshot;
  }

  /** Every image asked for so far. */
  pinnedImages(): PinnedImage[] {
    return [...this.images.values()];
  }

  /** Every chart asked for so far. */
  pinnedCharts(): PinnedChart[] {
    return [...this.charts.values()];
  }
}
