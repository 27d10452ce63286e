/**
 * Where the stage takes each chart and image from: the environment's ECR (mirrored, pinned) when
 * the environment mirrors it, which AWS China requires; otherwise, in global regions only, the
 * chart's public source and the chart's own default images.
 */
import { SdpipeError } from '../lib/errors';
import type { Partition } from '../lib/aws/partition';
import type { DeployParameters, PinnedImage } from './deploy-parameters';

/** A chart source as the Helm handler takes it. */
export interface ChartSource {
  /** `oci://...` or an `https://` chart repository. */
  readonly repository: string;
  /** Chart name. */
  readonly chart: string;
  /** Chart version. */
  readonly version: string;
  /** `sha256:<hex>` of a mirrored chart (deploy-time), if mirrored. */
  readonly digest?: string;
}

/**
 * Public chart sources used in global regions when an environment does not mirror a chart (as of 2026-12):
 * - karpenter: the OCI chart the original solution installs (guidance v1.2.0, lib/addons/karpenter.ts);
 * - keda: the kedacore Helm repository (kedacore/charts README);
 * - sd-on-eks: the OCI chart the original solution installs (guidance v1.2.0, lib/runtime/sdRuntime.ts, `defaultProps`);
 * - mountpoint-s3-csi-driver: published only to the GitHub Pages Helm repository by chart-releaser
 *   (awslabs/mountpoint-s3-csi-driver v1.15.0, .github/workflows/release.yaml and docs/INSTALL.md;
 *   no OCI copy, awslabs/mountpoint-s3-csi-driver#681), so the Mirror step cannot copy it.
 */
export const PUBLIC_CHARTS: Readonly<Record<string, ChartSource>> = {
  karpenter: { repository: 'oci://public.ecr.aws/karpenter/karpenter', chart: 'karpenter', version: '1.14.1' },
  keda: { repository: 'https://kedacore.github.io/charts', chart: 'keda', version: '2.17.2' },
  'sd-on-eks': { repository: 'oci://public.ecr.aws/bingjiao/charts/sd-on-eks', chart: 'sd-on-eks', version: '1.2.0' },
  'mountpoint-s3-csi-driver': { repository: 'https://awslabs.github.io/mountpoint-s3-csi-driver', chart: 'aws-mountpoint-s3-csi-driver', version: '1.15.0' },
};

/**
 * The source of a cluster chart by mirror name.
 * @throws SdpipeError in aws-cn when the chart is not mirrored
 */
export function chartSource(params: DeployParameters, name: string, partition: Partition): ChartSource {
  if (params.hasChart(name)) {
    const c = params.chart(name);
    return { repository: c.repository, chart: c.chart, version: c.version, digest: c.digest };
  }
  if (partition === 'aws-cn') {
    throw new SdpipeError(`chart "${name}" is not mirrored, and AWS China cannot fetch it from its public source at deploy time`, {
      hint: `add it to mirror.charts (sdpipe validate reports this as SDP083)`,
    });
  }
  const pub = PUBLIC_CHARTS[name];
  if (!pub) throw new SdpipeError(`no public source known for chart "${name}"`, { hint: 'mirror it (mirror.charts)' });
  return pub;
}

/**
 * The mirrored image of a name, or undefined in global regions when not mirrored (the chart's
 * default image is used then).
 * @throws SdpipeError in aws-cn when the image is not mirrored
 */
export function optionalImage(params: DeployParameters, name: string, partition: Partition): PinnedImage | undefined {
  if (params.hasImage(name)) return params.image(name);
  if (partition === 'aws-cn') {
    throw new SdpipeError(`image "${name}" is not mirrored, and in AWS China every image the cluster runs must come from the environment's ECR`, {
      hint: 'add it to mirror.images (sdpipe validate reports this as SDP081)',
    });
  }
  return undefined;
}
