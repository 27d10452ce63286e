/**
 * The catalogue of validation rules: one stable id per rule (`SDP` + 3 digits), its default
 * severity, a title and the fix hint printed with every finding. Ids are never reused.
 * docs/rules.md lists them; a test keeps the two in step.
 */
import type { Severity } from './diagnostics';

/** One rule of the catalogue. */
export interface RuleInfo {
  readonly severity: Severity;
  readonly title: string;
  readonly hint: string;
}

/** Every rule, by id. */
export const RULES = {
  SDP001: { severity: 'error', title: 'YAML syntax', hint: 'fix the YAML at this position (indentation, quoting, a missing colon)' },
  SDP002: { severity: 'error', title: 'duplicate key', hint: 'remove or rename one of the two keys; YAML keeps only one and the other is lost' },
  SDP003: { severity: 'error', title: 'alias expansion limit', hint: 'write the values out instead of nesting aliases; environment files need no more than a few aliases' },
  SDP004: { severity: 'error', title: 'root is not a mapping', hint: 'an environment file is a mapping: start with `environment:` and the other top-level keys' },
  SDP005: { severity: 'error', title: 'file too large', hint: 'environment files are small; split out or remove the large content' },
  SDP006: { severity: 'error', title: 'not text', hint: 'save the file as UTF-8 text; binary content cannot be an environment file' },
  SDP010: { severity: 'error', title: 'unknown key', hint: 'remove the key or correct its spelling; see docs/configuration.md for the keys allowed here' },
  SDP011: { severity: 'error', title: 'missing key', hint: 'add the key; see docs/configuration.md' },
  SDP012: { severity: 'error', title: 'wrong type', hint: 'write a value of the expected type (quote account ids and versions so YAML keeps them as strings)' },
  SDP013: { severity: 'error', title: 'value not allowed', hint: 'use one of the allowed values' },
  SDP014: { severity: 'error', title: 'invalid value', hint: 'correct the value to the expected form' },
  SDP020: { severity: 'error', title: 'environment name differs from file name', hint: 'set environment.name to the file name, or rename the file' },
  SDP021: { severity: 'error', title: 'branch shared by two environments', hint: 'give each environment its own branch, such as env/<name>' },
  SDP022: { severity: 'error', title: 'unknown region', hint: 'use a region name such as us-east-1 or cn-northwest-1' },
  SDP030: { severity: 'error', title: 'ARN partition differs from the region\'s', hint: 'use arn:aws: in global regions and arn:aws-cn: in cn-north-1 and cn-northwest-1' },
  SDP031: { severity: 'error', title: 'malformed bucket ARN', hint: 'write arn:<partition>:s3:::<bucket>, with a real bucket name (3-63 lowercase letters, digits, dots, hyphens)' },
  SDP032: { severity: 'error', title: 'ARN account differs from environment.account', hint: 'use this environment\'s account id, or correct environment.account' },
  SDP033: { severity: 'error', title: 'malformed ARN', hint: 'write arn:<partition>:<service>:<region>:<account>:<resource>' },
  SDP040: { severity: 'error', title: 'ECR host region', hint: 'write the full region in the ECR host, such as 123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn' },
  SDP041: { severity: 'error', title: 'ECR host suffix', hint: 'ECR hosts end in .amazonaws.com in global regions and .amazonaws.com.cn in China' },
  SDP042: { severity: 'error', title: 'ECR host account', hint: 'deploy-time images must come from this environment\'s account\'s ECR; mirror them there' },
  SDP043: { severity: 'error', title: 'public host at deploy time in China', hint: 'AWS China cannot pull from public registries or hubs at deploy time: mirror it (mirror.images / mirror.charts / models.files) and refer to the mirrored copy, or leave the reference out so the pipeline pins the mirror' },
  SDP044: { severity: 'error', title: 'chart repository', hint: 'point chartRepository at this environment\'s ECR (oci://<account>.dkr.ecr.<region>.<suffix>/...) or an http(s) host you run, or leave it out to use the mirrored sd-on-eks chart' },
  SDP045: { severity: 'warning', title: 'image not pinned by digest', hint: 'leave the image out so the pipeline pins the mirrored digest, or write digest: sha256:...' },
  SDP050: { severity: 'error', title: 'instance type not offered in the region', hint: 'choose an instance type listed in config/regions/<region>.yaml (in China: g4dn instead of g5)' },
  SDP051: { severity: 'warning', title: 'no region facts', hint: 'add config/regions/<region>.yaml with the instance families and services the region offers' },
  SDP052: { severity: 'error', title: 'no capacity type enabled', hint: 'set capacityType.onDemand or capacityType.spot to true' },
  SDP053: { severity: 'warning', title: 'service not offered in the region', hint: 'use pipeline.engine: github-actions where CodePipeline or CodeConnections is not offered' },
  SDP054: { severity: 'error', title: 'Bottlerocket AMI parameter not found (validate --live)', hint: 'use a Kubernetes version that Bottlerocket publishes in this region (aws ssm get-parameters-by-path --path /aws/service/bottlerocket/), or wait until it does' },
  SDP060: { severity: 'error', title: 'gp3 IOPS out of range', hint: 'gp3 volumes take 3000 to 16000 IOPS' },
  SDP061: { severity: 'error', title: 'gp3 throughput out of range', hint: 'gp3 throughput is 125 to 1000 MiB/s and at most IOPS / 4' },
  SDP062: { severity: 'error', title: 'volume size is not a Kubernetes quantity', hint: 'write a quantity with a binary unit, such as 80Gi' },
  SDP063: { severity: 'error', title: 'malformed snapshot id', hint: 'a snapshot id is snap- followed by 8 or 17 hex digits; or leave it out and set snapshot.enabled so the pipeline supplies it' },
  SDP064: { severity: 'warning', title: 'snapshot id written while the pipeline bakes one', hint: 'remove snapshotID: with snapshot.enabled the pipeline supplies the baked snapshot' },
  SDP070: { severity: 'error', title: 'scaling minimum above maximum', hint: 'make minReplicaCount at most maxReplicaCount' },
  SDP071: { severity: 'error', title: 'burst limit below rate limit', hint: 'make APIGW.throttle.burstLimit at least rateLimit' },
  SDP072: { severity: 'error', title: 'runtime name', hint: 'runtime names are unique DNS-1123 labels: lowercase letters, digits and -, at most 63, starting and ending with a letter or digit' },
  SDP073: { severity: 'error', title: 'namespace name', hint: 'namespaces are DNS-1123 labels: lowercase letters, digits and -, at most 63' },
  SDP075: { severity: 'error', title: 'stack name', hint: 'a CloudFormation stack name starts with a letter and has only letters, digits and -, at most 128' },
  SDP076: { severity: 'error', title: 'node group sizes', hint: 'keep minSize <= desiredSize <= maxSize' },
  SDP080: { severity: 'error', title: 'model file not synced', hint: 'add the file to models.files with target Stable-diffusion/<modelFilename>, or set dynamicModel: true' },
  SDP081: { severity: 'error', title: 'image needed by the deploy is not mirrored', hint: 'add it to mirror.images with this name, or build it in build.images under this name' },
  SDP082: { severity: 'warning', title: 'unknown model folder', hint: 'use a folder the runtimes read: Stable-diffusion/, Lora/, VAE/, ControlNet/, embeddings/, ...' },
  SDP083: { severity: 'error', title: 'chart needed by the deploy is not mirrored', hint: 'add it to mirror.charts with this name' },
  SDP084: { severity: 'error', title: 'duplicate name', hint: 'names and targets must be unique within their list' },
  SDP085: { severity: 'error', title: 'image reference not in the mirror set', hint: 'refer to a repository listed in mirror.images or build.images, or leave the image out so the pipeline pins the mirrored digest' },
  SDP086: { severity: 'error', title: 'malformed reference', hint: 'write host/repository[:tag|@sha256:digest]; charts may start with oci://' },
  SDP087: { severity: 'error', title: 'model source', hint: 'write hf://<org>/<repo>/<path>@<revision>, https://..., s3://<bucket>/<key>, file://... or a path' },
  SDP088: { severity: 'error', title: 'data volume smaller than the image-cache snapshot', hint: 'EC2 cannot create a volume smaller than its snapshot: raise dataVolume.volumeSize to at least snapshot.volumeSize GiB, or lower snapshot.volumeSize' },
  SDP089: { severity: 'error', title: 'model target is not a valid key', hint: 'write a key such as Stable-diffusion/model.safetensors: at most 1024 bytes of UTF-8, single / between folders, no . or .. segment, not under .sdpipe/' },
  SDP090: { severity: 'error', title: 'value that reaches a workflow holds an expression or control character', hint: 'config values are data: remove ${{ }}, line breaks and control characters from names, branches, runner labels and registry URLs' },
  SDP007: { severity: 'error', title: 'nesting too deep', hint: 'environment files nest about 8 levels deep: remove the stray brackets or indentation, or flatten the structure' },
  SDP091: { severity: 'warning', title: 'live check could not run in the region (validate --live)', hint: 'the region answered with no instance type offerings at all: it may not be enabled for the account (opt-in regions), the credentials may lack permission (ec2:DescribeInstanceTypeOfferings), or the endpoint may be wrong (aws-cn regions need China credentials); try aws ec2 describe-instance-type-offerings --region <region>' },
  SDP100: { severity: 'error', title: 'original key renamed', hint: 'write the sdpipe name of the key; docs/configuration.md has the migration table (sdpipe import renames it)' },
  SDP101: { severity: 'warning', title: 'original key has no effect', hint: 'remove the key: neither the original nor sdpipe reads it (docs/configuration.md, migration table)' },
  SDP102: { severity: 'error', title: 'node setting bypasses the image-cache snapshot', hint: 'remove instanceStorePolicy and SOCI / ephemeral-storage userData while snapshot.enabled (or a dataVolume.snapshotID) is used' },
  SDP103: { severity: 'error', title: 'original key in a place nothing reads', hint: 'move the key where the chart reads it; docs/configuration.md has the migration table (sdpipe import moves it)' },
  SDP104: { severity: 'error', title: 'two names for the same setting', hint: 'keep one of resourceLimits and limits' },
  SDP105: { severity: 'error', title: 'key collides with what the chart or the stack sets', hint: 'use the dedicated setting (capacityType, instanceType) or another key' },
  SDP106: { severity: 'error', title: 'scale-down behaviour set twice', hint: 'keep one of scaling.scaleDownSpeed and scaling.extraHPAConfig.scaleDown' },
  SDP108: { severity: 'error', title: 'placeholder to fill in', hint: 'replace the FILL-IN value with the real one (sdpipe import leaves these where it cannot know the answer: model sources and sha256, template variables)' },
  SDP110: { severity: 'error', title: 'cluster admin is not an IAM role or user of this account', hint: 'write arn:<partition>:iam::<this account>:role/<name> (or user/<name>); EKS access entries take IAM principals of the cluster\'s account' },
  SDP111: { severity: 'warning', title: 'API without a custom domain in China', hint: 'in AWS China the default execute-api host cannot serve the public without an ICP licence: set APIGW.customDomain, or publish to the input SNS topic directly (docs/aws-cn.md, "Reaching the API")' },
  SDP112: { severity: 'warning', title: 'Kubernetes version past EKS standard support', hint: 'upgrade clusterComponents.kubernetesVersion to a version under standard support (config/regions/eks-versions.yaml); extended support is billed per cluster hour' },
  SDP113: { severity: 'error', title: 'availability zone not in the region', hint: 'use zone names listed in config/regions/<region>.yaml (availabilityZones), at least two' },
  SDP114: { severity: 'error', title: 'Kubernetes version not offered in the region', hint: 'use a version listed in config/regions/<region>.yaml (eksVersions)' },
  SDP115: { severity: 'error', title: 'volume tuning baseline above the provisioned volume', hint: 'keep snapshot.tuning.iops and throughput at or below the data volume\'s iops and throughput: the tuner only lowers them' },
  SDP116: { severity: 'error', title: 'API endpoint setting', hint: 'give the custom domain an ACM certificate ARN in the stack\'s region and partition; a private endpoint takes no custom domain here' },
  SDP120: { severity: 'error', title: 'build context or Dockerfile missing', hint: 'build.images paths are relative to the repository root: point context at a folder and file at a Dockerfile that are committed' },
  SDP121: { severity: 'error', title: 'FROM names an image that is neither built nor mirrored', hint: 'add the base to mirror.images (its source exactly as FROM writes it, or FROM its name) so it is copied and pinned by digest, or build it in build.images' },
  SDP122: { severity: 'error', title: 'FROM names a public registry in China', hint: 'a build in AWS China cannot pull from public registries: add the base to mirror.images with this source, and the build uses the mirrored copy by digest (docs/build.md)' },
  SDP123: { severity: 'error', title: 'build name or repository taken', hint: 'build.images names share one namespace with mirror.images, and each image needs an ECR repository of its own: rename one of them, or remove the mirror entry the build replaces' },
  SDP124: { severity: 'warning', title: 'package install without a package mirror in China', hint: 'set a build arg for a mirror reachable from China (PIP_INDEX_URL, APT_MIRROR, APK_MIRROR, NPM_CONFIG_REGISTRY) and use it in the Dockerfile (docs/build.md, "Package mirrors in China")' },
  SDP125: { severity: 'error', title: 'Dockerfile cannot be built as written', hint: 'fix the Dockerfile: every FROM needs an image (ARG values resolved), the target stage must exist, and build.images may not depend on each other in a cycle' },
  SDP126: { severity: 'warning', title: 'mirror source with a mutable tag', hint: 'run `sdpipe pin --env <name>`: it resolves the tag to its digest and writes host/repo:tag@sha256:<digest> into the file (docs/pin.md)' },
  SDP999: { severity: 'error', title: 'internal error', hint: 'this is a bug in sdpipe; run with --debug and report it' },
} as const satisfies Record<string, RuleInfo>;

/** A rule id. */
export type RuleId = keyof typeof RULES;
