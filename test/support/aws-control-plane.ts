/**
 * A local, stateful (in-memory) stand-in for the AWS control planes sdpipe's step commands call:
 * SSM Parameter Store, ECR (repositories, account settings, authorization tokens) and the EC2 calls of
 * `validate --live` and of the snapshot bake's reuse path. One HTTP server on 127.0.0.1 speaks the real
 * wire protocols, so the real SDK v3 clients built by library code reach it through
 * `AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL_ECR` and `AWS_ENDPOINT_URL_EC2` ({@link ControlPlane.env}):
 *
 * - SSM and ECR: Smithy `awsJson1_1` (https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html):
 *   `POST /`, `Content-Type: application/x-amz-json-1.1`, the operation in `X-Amz-Target:
 *   AmazonSSM.<Op>` / `AmazonEC2ContainerRegistry_V20150921.<Op>`, a JSON body; timestamps are epoch
 *   seconds; an error is HTTP 400 with `{"__type": "<ErrorName>", "message": "..."}` (the protocol's
 *   "Operation error serialization": the SDK takes the name from `__type`, a `#`-prefixed namespace stripped).
 * - EC2: the EC2 Query protocol (https://smithy.io/2.0/aws/protocols/aws-ec2-query-protocol.html):
 *   `POST /` with a form body `Action=<Op>&Version=2016-11-15&...` (lists flattened as `Filter.1.Name`,
 *   `Filter.1.Value.1`, `Owner.1`, `SnapshotId.1`, `InstanceType.1`, `ResourceId.1`, `Tag.1.Key`:
 *   the SDK's `ec2Name` member names), answers in XML in the `http://ec2.amazonaws.com/doc/2016-11-15/`
 *   namespace with lists as `<xSet><item>…</item></xSet>`; an error is
 *   `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors><RequestID>…</RequestID></Response>`
 *   (EC2 API reference, "Error codes": https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
 *
 * Operations (found with `grep -rn "new .*Command(" lib/` over @aws-sdk/client-ssm, client-ecr, client-ec2):
 * - SSM (API reference https://docs.aws.amazon.com/systems-manager/latest/APIReference/): GetParameter
 *   (validate --live, the bake's AMI lookup, mirror --publish, `sdpipe changes`), GetParameters (bake launch
 *   settings), PutParameter (mirror --publish, snapshot --publish, `changes record`), DeleteParameter.
 * - ECR (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/): DescribeRepositories, CreateRepository,
 *   PutImageTagMutability, PutImageScanningConfiguration, ListTagsForResource, TagResource (lib/aws/ecr.ts
 *   ensureRepository), GetAccountSetting (BLOB_MOUNTING, lib/oci/mirror.ts), GetAuthorizationToken.
 * - EC2 (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/): DescribeInstanceTypeOfferings
 *   (validate --live), DescribeInstanceTypes, DescribeSnapshots, CreateTags, DeleteTags (the bake),
 *   RunInstances with `DryRun=true` only (`snapshot bake --dry-run`).
 * Anything else answers `UnknownOperationException` (awsJson) or `InvalidAction` (EC2) and is counted in
 * {@link ControlPlane.unsupported}, so that a command needing more fails loudly. A real bake (instances,
 * SSM Run Command) is not served: {@link ControlPlane.addSnapshot} seeds what a finished bake leaves.
 *
 * Assumptions (no source): requests are not signature-checked (any credentials pass); every instance type
 * of the `family.size` form is offered unless {@link ControlPlaneOptions.instanceTypes} says otherwise, and
 * one is arm64 when its family ends in `g` plus optional letters (m7g, c6gn), else x86_64.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { listenLoopback } from './ports';

/** A stored SSM parameter. */
export interface StoredParameter {
  readonly name: string;
  readonly value: string;
  readonly type: 'String' | 'StringList' | 'SecureString';
  readonly version: number;
  readonly tier: 'Standard' | 'Advanced';
  readonly lastModified: Date;
  readonly description?: string;
}

/** A stored ECR repository. */
export interface StoredRepository {
  readonly name: string;
  readonly arn: string;
  readonly uri: string;
  readonly createdAt: Date;
  imageTagMutability: string;
  scanOnPush: boolean;
  readonly encryptionType: string;
  readonly tags: Map<string, string>;
}

/** A stored EBS snapshot. */
export interface StoredSnapshot {
  readonly id: string;
  state: 'pending' | 'completed' | 'error';
  readonly volumeSize: number;
  readonly startTime: Date;
  readonly tags: Map<string, string>;
  readonly description?: string;
}

/** One request the stand-in answered. */
export interface ControlPlaneCall {
  readonly service: 'ssm' | 'ecr' | 'ec2';
  readonly operation: string;
  /** The request: the JSON body (SSM, ECR) or the form fields (EC2). */
  readonly input: Record<string, unknown>;
  /** The error name answered, when one was. */
  readonly error?: string;
}

/** The registry GetAuthorizationToken hands out (a local Distribution registry with Basic auth). */
export interface AuthorizedRegistry {
  /** Its URL, answered as `proxyEndpoint` (`http://127.0.0.1:PORT`). */
  readonly url: string;
  /** Basic credentials, answered as the token `base64(username:password)`. */
  readonly username: string;
  readonly password: string;
}

/** Options of {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /** The account (repository ARNs, registry id, ownerId). @default '123456789012' */
  readonly account?: string;
  /** The region (ARNs, offerings' location). @default 'cn-northwest-1' */
  readonly region?: string;
  /** SSM parameters present at start (name → value, type String). @default {} */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Instance types the region offers. @default - every well-formed `family.size` */
  readonly instanceTypes?: readonly string[];
  /** What GetAuthorizationToken answers. @default - `AWS:<random>` for the ECR host itself */
  readonly registry?: AuthorizedRegistry;
  /** ECR's BLOB_MOUNTING account setting. @default false (DISABLED, the service's default) */
  readonly blobMounting?: boolean;
}

/** A running control-plane stand-in. */
export interface ControlPlane {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly account: string;
  readonly region: string;
  /** The environment's ECR host (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]`). */
  readonly ecrHost: string;
  /** SSM parameters by name (read and change freely). */
  readonly parameters: Map<string, StoredParameter>;
  /** ECR repositories by name. */
  readonly repositories: Map<string, StoredRepository>;
  /** EBS snapshots by id. */
  readonly snapshots: Map<string, StoredSnapshot>;
  /** Every request answered, in order. */
  readonly calls: ControlPlaneCall[];
  /** Operations asked for that the stand-in does not implement (`ssm:SendCommand`). */
  readonly unsupported: string[];
  /**
   * Environment variables that point SDK clients built without an endpoint at the stand-in:
   * `AWS_ENDPOINT_URL_SSM`, `_ECR`, `_EC2`, dummy `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, and
   * `AWS_REGION` / `AWS_DEFAULT_REGION`.
   */
  env(): Record<string, string>;
  /** Seed a parameter (type String, Standard), bypassing PutParameter's name rules (`/aws/service/...` too). */
  putParameter(name: string, value: string): StoredParameter;
  /** Add a snapshot (what a finished bake leaves: completed, tagged); returns its id. */
  addSnapshot(snapshot: { readonly tags: Readonly<Record<string, string>>; readonly volumeSize?: number; readonly state?: StoredSnapshot['state']; readonly description?: string }): string;
  /** Forget the calls and unsupported operations recorded so far. */
  resetCalls(): void;
  /** Stop the server (every connection destroyed). */
  stop(): Promise<void>;
}

/** An error answered in the protocol's error shape. */
class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const SSM_TARGET = 'AmazonSSM.';
const ECR_TARGET = 'AmazonEC2ContainerRegistry_V20150921.';

function partitionOf(region: string): { partition: string; suffix: string } {
  return region.startsWith('cn-') ? { partition: 'aws-cn', suffix: 'amazonaws.com.cn' } : { partition: 'aws', suffix: 'amazonaws.com' };
}

function epochSeconds(d: Date): number {
  return d.getTime() / 1000;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** An XML element holding text (escaped); nothing when the value is undefined. */
function el(name: string, text: string | number | boolean | undefined): string {
  return text === undefined ? '' : `<${name}>${xmlEscape(String(text))}</${name}>`;
}

/** An XML element holding elements already rendered. */
function nest(name: string, xml: string): string {
  return `<${name}>${xml}</${name}>`;
}

/** An EC2 list: `<name><item>…</item>…</name>` (EC2 Query protocol, list serialization). */
function set(name: string, items: readonly string[]): string {
  return `<${name}>${items.map((i) => `<item>${i}</item>`).join('')}</${name}>`;
}

/** Indexed form fields `prefix.N` (or `prefix.N.suffix…`) → their values in order of N. */
function indexed(form: URLSearchParams, prefix: string): string[] {
  const out: [number, string][] = [];
  for (const [k, v] of form) {
    const m = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)$`).exec(k);
    if (m) out.push([Number(m[1]), v]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

/** `Filter.N.Name` / `Filter.N.Value.M` → filters. */
function filtersOf(form: URLSearchParams): { name: string; values: string[] }[] {
  const out: { name: string; values: string[] }[] = [];
  for (let i = 1; form.has(`Filter.${i}.Name`); i++) out.push({ name: form.get(`Filter.${i}.Name`)!, values: indexed(form, `Filter.${i}.Value`) });
  return out;
}

/** `Tag.N.Key` / `Tag.N.Value` → pairs. */
function tagsOf(form: URLSearchParams): [string, string | undefined][] {
  const out: [string, string | undefined][] = [];
  for (let i = 1; form.has(`Tag.${i}.Key`); i++) out.push([form.get(`Tag.${i}.Key`)!, form.get(`Tag.${i}.Value`) ?? undefined]);
  return out;
}

/** EC2 filter values may use `*` and `?` wildcards (DescribeSnapshots, "Filter.N"). */
function wildcard(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(value);
}

/** Start the stand-in on a free 127.0.0.1 port. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const account = options.account ?? '123456789012';
  const region = options.region ?? 'cn-northwest-1';
  const { partition, suffix } = partitionOf(region);
  const ecrHost = `${account}.dkr.ecr.${region}.${suffix}`;
  const parameters = new Map<string, StoredParameter>();
  const repositories = new Map<string, StoredRepository>();
  const snapshots = new Map<string, StoredSnapshot>();
  const calls: ControlPlaneCall[] = [];
  const unsupported: string[] = [];
  const offered = options.instanceTypes ? new Set(options.instanceTypes) : undefined;
  const registry = options.registry ?? { url: `https://${ecrHost}`, username: 'AWS', password: randomBytes(24).toString('base64') };
  let nextId = 1;
  const hexId = (prefix: string) => `${prefix}-${(nextId++).toString(16).padStart(17, '0')}`;

  // ---- SSM -------------------------------------------------------------------------------------

  /**
   * PutParameter. Names: SSM user guide, "Requirements and constraints for parameter names"
   * (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html): no
   * `aws`/`ssm` prefix, `a-zA-Z0-9_.-/`, at most 15 levels, 1011 characters. Values: 4 KB for the
   * Standard tier, 8 KB for Advanced; Intelligent-Tiering picks Advanced when the value needs it
   * (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html).
   * An existing name without `Overwrite` → ParameterAlreadyExists; versions count from 1
   * (API_PutParameter.html).
   */
  const putParameter = (input: { Name?: string; Value?: string; Type?: string; Overwrite?: boolean; Tier?: string; Description?: string }): StoredParameter => {
    const name = input.Name ?? '';
    if (!name || name.length > 1011 || !/^[a-zA-Z0-9_.\-/]+$/.test(name) || name.split('/').filter(Boolean).length > 15) {
      throw new AwsError('ValidationException', `Parameter name: can't be ${JSON.stringify(name)}; use a-zA-Z0-9_.-/ and at most 15 levels`);
    }
    if (/^\/?(aws|ssm)/i.test(name)) throw new AwsError('ValidationException', 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).');
    const value = input.Value ?? '';
    if (value.length === 0) throw new AwsError('ValidationException', "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1");
    const existing = parameters.get(name);
    if (existing && !input.Overwrite) throw new AwsError('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.');
    const askedTier = input.Tier ?? 'Standard';
    const tier: StoredParameter['tier'] = askedTier === 'Advanced' || existing?.tier === 'Advanced' || (askedTier === 'Intelligent-Tiering' && Buffer.byteLength(value) > 4096) ? 'Advanced' : 'Standard';
    const limit = tier === 'Advanced' ? 8192 : 4096;
    if (Buffer.byteLength(value) > limit) {
      throw new AwsError(
        'ValidationException',
        tier === 'Standard'
          ? 'Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.'
          : `1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to ${limit}`,
      );
    }
    const type = (input.Type ?? existing?.type ?? 'String') as StoredParameter['type'];
    const stored: StoredParameter = { name, value, type, version: (existing?.version ?? 0) + 1, tier, lastModified: new Date(), description: input.Description ?? existing?.description };
    parameters.set(name, stored);
    return stored;
  };

  const parameterJson = (p: StoredParameter) => ({
    Name: p.name,
    Type: p.type,
    Value: p.value,
    Version: p.version,
    LastModifiedDate: epochSeconds(p.lastModified),
    ARN: `arn:${partition}:ssm:${region}:${p.name.startsWith('/aws/') ? '' : account}:parameter${p.name.startsWith('/') ? '' : '/'}${p.name}`,
    DataType: 'text',
  });

  const ssm: Record<string, (input: Record<string, unknown>) => unknown> = {
    // https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html: unknown → ParameterNotFound.
    GetParameter: (input) => {
      const p = parameters.get(String(input.Name ?? '').replace(/:\d+$/, ''));
      if (!p) throw new AwsError('ParameterNotFound', '');
      return { Parameter: parameterJson(p) };
    },
    // API_GetParameters.html: up to 10 names; unknown ones are listed in InvalidParameters, not an error.
    GetParameters: (input) => {
      const names = (input.Names as string[] | undefined) ?? [];
      if (names.length < 1 || names.length > 10) throw new AwsError('ValidationException', "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10");
      const found = names.map((n) => parameters.get(n)).filter((p): p is StoredParameter => !!p);
      return { Parameters: found.map(parameterJson), InvalidParameters: names.filter((n) => !parameters.has(n)) };
    },
    // API_PutParameter.html: answers the new Version and the Tier.
    PutParameter: (input) => {
      const p = putParameter(input as Parameters<typeof putParameter>[0]);
      return { Version: p.version, Tier: p.tier };
    },
    // API_DeleteParameter.html: unknown → ParameterNotFound.
    DeleteParameter: (input) => {
      if (!parameters.delete(String(input.Name ?? ''))) throw new AwsError('ParameterNotFound', '');
      return {};
    },
  };

  // ---- ECR -------------------------------------------------------------------------------------

  const notFound = (name: string, registryId: string) =>
    new AwsError('RepositoryNotFoundException', `The repository with name '${name}' does not exist in the registry with id '${registryId}'`);
  const repositoryOf = (input: Record<string, unknown>): StoredRepository => {
    const name = String(input.repositoryName ?? '');
    const r = repositories.get(name);
    if (!r) throw notFound(name, String(input.registryId ?? account));
    return r;
  };
  const repositoryJson = (r: StoredRepository) => ({
    repositoryArn: r.arn,
    registryId: account,
    repositoryName: r.name,
    repositoryUri: r.uri,
    createdAt: epochSeconds(r.createdAt),
    imageTagMutability: r.imageTagMutability,
    imageScanningConfiguration: { scanOnPush: r.scanOnPush },
    encryptionConfiguration: { encryptionType: r.encryptionType },
  });
  const byArn = (arn: string): StoredRepository => {
    for (const r of repositories.values()) if (r.arn === arn) return r;
    // API_ListTagsForResource.html / API_TagResource.html: an unknown resource → RepositoryNotFoundException.
    throw notFound(arn.slice(arn.indexOf('/') + 1), account);
  };
  /** Repository names: API_CreateRepository.html, repositoryName (2-256 characters, the pattern below). */
  const REPOSITORY_NAME = /^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

  const ecr: Record<string, (input: Record<string, unknown>) => unknown> = {
    // API_DescribeRepositories.html: a named repository that does not exist → RepositoryNotFoundException.
    DescribeRepositories: (input) => {
      const names = input.repositoryNames as string[] | undefined;
      if (!names) return { repositories: [...repositories.values()].map(repositoryJson) };
      return { repositories: names.map((n) => repositoryJson(repositoryOf({ ...input, repositoryName: n }))) };
    },
    // API_CreateRepository.html: RepositoryAlreadyExistsException, InvalidParameterException for a bad name.
    CreateRepository: (input) => {
      const name = String(input.repositoryName ?? '');
      if (!REPOSITORY_NAME.test(name)) throw new AwsError('InvalidParameterException', `Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''`);
      if (repositories.has(name)) throw new AwsError('RepositoryAlreadyExistsException', `The repository with name '${name}' already exists in the registry with id '${account}'`);
      const tags = new Map<string, string>();
      for (const t of (input.tags as { Key: string; Value: string }[] | undefined) ?? []) tags.set(t.Key, t.Value);
      const r: StoredRepository = {
        name,
        arn: `arn:${partition}:ecr:${region}:${account}:repository/${name}`,
        uri: `${ecrHost}/${name}`,
        createdAt: new Date(),
        imageTagMutability: String(input.imageTagMutability ?? 'MUTABLE'),
        scanOnPush: (input.imageScanningConfiguration as { scanOnPush?: boolean } | undefined)?.scanOnPush ?? false,
        encryptionType: (input.encryptionConfiguration as { encryptionType?: string } | undefined)?.encryptionType ?? 'AES256',
        tags,
      };
      repositories.set(name, r);
      return { repository: repositoryJson(r) };
    },
    // API_PutImageTagMutability.html
    PutImageTagMutability: (input) => {
      const r = repositoryOf(input);
      r.imageTagMutability = String(input.imageTagMutability);
      return { registryId: account, repositoryName: r.name, imageTagMutability: r.imageTagMutability };
    },
    // API_PutImageScanningConfiguration.html
    PutImageScanningConfiguration: (input) => {
      const r = repositoryOf(input);
      r.scanOnPush = (input.imageScanningConfiguration as { scanOnPush?: boolean } | undefined)?.scanOnPush ?? false;
      return { registryId: account, repositoryName: r.name, imageScanningConfiguration: { scanOnPush: r.scanOnPush } };
    },
    // API_ListTagsForResource.html
    ListTagsForResource: (input) => ({ tags: [...byArn(String(input.resourceArn)).tags].map(([Key, Value]) => ({ Key, Value })) }),
    // API_TagResource.html
    TagResource: (input) => {
      const r = byArn(String(input.resourceArn));
      for (const t of (input.tags as { Key: string; Value: string }[] | undefined) ?? []) r.tags.set(t.Key, t.Value);
      return {};
    },
    // API_GetAccountSetting.html; BLOB_MOUNTING is DISABLED unless turned on
    // (https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html).
    GetAccountSetting: (input) => {
      const name = String(input.name ?? '');
      if (name === 'BLOB_MOUNTING') return { name, value: options.blobMounting ? 'ENABLED' : 'DISABLED' };
      if (name === 'BASIC_SCAN_TYPE_VERSION') return { name, value: 'AWS_NATIVE' };
      if (name === 'REGISTRY_POLICY_SCOPE') return { name, value: 'V2' };
      throw new AwsError('ValidationException', `Invalid account setting name '${name}'`);
    },
    // API_GetAuthorizationToken.html: authorizationToken = base64("user:password"), valid 12 hours, with the
    // registry's proxyEndpoint; here the credentials and URL of the configured local registry.
    GetAuthorizationToken: (input) => {
      const ids = (input.registryIds as string[] | undefined) ?? [account];
      return {
        authorizationData: ids.map(() => ({
          authorizationToken: Buffer.from(`${registry.username}:${registry.password}`).toString('base64'),
          expiresAt: epochSeconds(new Date(Date.now() + 12 * 3600_000)),
          proxyEndpoint: registry.url,
        })),
      };
    },
  };

  // ---- EC2 -------------------------------------------------------------------------------------

  /** Every well-formed `family.size` is offered unless the option lists the offered types (assumption, see the header). */
  const isOffered = (t: string) => (offered ? offered.has(t) : /^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(t));
  const architectureOf = (t: string) => (/^[a-z]+\d+g[a-z]*$/.test(t.split('.')[0]) ? 'arm64' : 'x86_64');
  const tagSet = (tags: Map<string, string>) => set('tagSet', [...tags].map(([k, v]) => el('key', k) + el('value', v)));
  const resourceTags = (id: string): Map<string, string> => {
    const s = snapshots.get(id);
    // CreateTags/DeleteTags on an unknown id: InvalidID / InvalidSnapshot.NotFound ("Error codes" page).
    if (!s) throw new AwsError(id.startsWith('snap-') ? 'InvalidSnapshot.NotFound' : 'InvalidID', `The ${id.startsWith('snap-') ? 'snapshot' : 'ID'} '${id}' does not exist.`);
    return s.tags;
  };

  const ec2: Record<string, (form: URLSearchParams) => string> = {
    // API_DescribeInstanceTypeOfferings.html: filter `instance-type` (wildcards allowed), MaxResults 5-1000.
    DescribeInstanceTypeOfferings: (form) => {
      const wanted = filtersOf(form).find((f) => f.name === 'instance-type')?.values;
      const known = offered ? [...offered] : ['m5.large', 'm5.xlarge', 'g4dn.xlarge', 'g4dn.2xlarge', 'm7g.large'];
      let types = wanted ? [...new Set(wanted.flatMap((w) => (/[*?]/.test(w) ? known.filter((k) => wildcard(w, k)) : [w])))].filter(isOffered) : known;
      const max = form.get('MaxResults');
      if (max) types = types.slice(0, Number(max));
      const items = types.map((t) => el('instanceType', t) + el('locationType', form.get('LocationType') ?? 'region') + el('location', region));
      return set('instanceTypeOfferingSet', items);
    },
    // API_DescribeInstanceTypes.html: an unknown type → InvalidInstanceType.
    DescribeInstanceTypes: (form) => {
      const types = indexed(form, 'InstanceType');
      const bad = types.find((t) => !isOffered(t));
      if (bad) throw new AwsError('InvalidInstanceType', `The following supplied instance types do not exist: [${bad}]`);
      return set(
        'instanceTypeSet',
        types.map((t) => el('instanceType', t) + nest('processorInfo', set('supportedArchitectures', [xmlEscape(architectureOf(t))]))),
      );
    },
    // API_DescribeSnapshots.html: Owner.N (`self`), SnapshotId.N (unknown → InvalidSnapshot.NotFound),
    // filters `status`, `tag:<key>`, `tag-key`, `snapshot-id`, `volume-size`; the element of State is `status`.
    DescribeSnapshots: (form) => {
      const ids = indexed(form, 'SnapshotId');
      for (const id of ids) if (!snapshots.has(id)) throw new AwsError('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);
      const owners = indexed(form, 'Owner');
      let list = ids.length ? ids.map((id) => snapshots.get(id)!) : [...snapshots.values()];
      if (owners.length && !owners.some((o) => o === 'self' || o === account)) list = [];
      for (const f of filtersOf(form)) {
        const match = (value: string | undefined) => value !== undefined && f.values.some((v) => wildcard(v, value));
        list = list.filter((s) => {
          if (f.name === 'status') return match(s.state);
          if (f.name === 'snapshot-id') return match(s.id);
          if (f.name === 'volume-size') return match(String(s.volumeSize));
          if (f.name === 'tag-key') return [...s.tags.keys()].some((k) => match(k));
          if (f.name.startsWith('tag:')) return match(s.tags.get(f.name.slice(4)));
          throw new AwsError('InvalidParameterValue', `The filter '${f.name}' is invalid`);
        });
      }
      const items = list.map(
        (s) =>
          el('snapshotId', s.id) +
          el('volumeId', 'vol-ffffffff') +
          el('status', s.state) +
          el('startTime', s.startTime.toISOString()) +
          el('progress', s.state === 'completed' ? '100%' : '0%') +
          el('ownerId', account) +
          el('volumeSize', s.volumeSize) +
          el('description', s.description) +
          el('encrypted', false) +
          tagSet(s.tags),
      );
      return set('snapshotSet', items);
    },
    // API_CreateTags.html
    CreateTags: (form) => {
      const targets = indexed(form, 'ResourceId').map(resourceTags);
      for (const tags of targets) for (const [k, v] of tagsOf(form)) tags.set(k, v ?? '');
      return el('return', true);
    },
    // API_DeleteTags.html: a tag with a value is deleted only when the value matches.
    DeleteTags: (form) => {
      const targets = indexed(form, 'ResourceId').map(resourceTags);
      for (const tags of targets) for (const [k, v] of tagsOf(form)) if (v === undefined || tags.get(k) === v) tags.delete(k);
      return el('return', true);
    },
    // API_RunInstances.html, DryRun: "If you have the required permissions, the error response is
    // DryRunOperation" (HTTP 412). The stand-in launches nothing.
    RunInstances: (form) => {
      if (form.get('DryRun') === 'true') throw new AwsError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
      throw new AwsError('Unsupported', 'the control-plane stand-in launches no instance: seed a finished bake with addSnapshot()');
    },
  };

  // ---- HTTP --------------------------------------------------------------------------------------

  const requestId = () => randomBytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      const target = String(req.headers['x-amz-target'] ?? '');
      const id = requestId();
      if (req.method === 'POST' && (target.startsWith(SSM_TARGET) || target.startsWith(ECR_TARGET))) {
        const service = target.startsWith(SSM_TARGET) ? 'ssm' : 'ecr';
        const operation = target.slice(target.indexOf('.') + 1);
        let input: Record<string, unknown> = {};
        try {
          input = body ? (JSON.parse(body) as Record<string, unknown>) : {};
          const handler = (service === 'ssm' ? ssm : ecr)[operation];
          if (!handler) {
            unsupported.push(`${service}:${operation}`);
            throw new AwsError('UnknownOperationException', `the control-plane stand-in does not implement ${service}:${operation}`);
          }
          const out = handler(input);
          calls.push({ service, operation, input });
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': id });
          res.end(JSON.stringify(out));
        } catch (err) {
          const e = err instanceof AwsError ? err : new AwsError(err instanceof SyntaxError ? 'SerializationException' : 'InternalFailure', (err as Error).message, err instanceof SyntaxError ? 400 : 500);
          calls.push({ service, operation, input, error: e.code });
          res.writeHead(e.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': id });
          res.end(JSON.stringify({ __type: e.code, message: e.message }));
        }
        return;
      }
      const form = new URLSearchParams(body);
      const operation = form.get('Action') ?? '';
      const input = Object.fromEntries(form);
      try {
        if (req.method !== 'POST' || !operation) throw new AwsError('MissingAction', 'The request must contain the parameter Action.');
        const handler = ec2[operation];
        if (!handler) {
          unsupported.push(`ec2:${operation}`);
          throw new AwsError('InvalidAction', `the control-plane stand-in does not implement ec2:${operation}`);
        }
        const inner = handler(form);
        calls.push({ service: 'ec2', operation, input });
        res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': id });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<${operation}Response xmlns="${EC2_NAMESPACE}">${el('requestId', id)}${inner}</${operation}Response>`);
      } catch (err) {
        const e = err instanceof AwsError ? err : new AwsError('InternalError', (err as Error).message, 500);
        calls.push({ service: 'ec2', operation, input, error: e.code });
        res.writeHead(e.status, { 'content-type': 'text/xml;charset=UTF-8' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${el('Code', e.code)}${el('Message', e.message)}</Error></Errors>${el('RequestID', id)}</Response>`);
      }
    });
  });
  // Seeding bypasses the name rules on purpose: the public /aws/service/... parameters live in the account too.
  const seedParameter = (name: string, value: string): StoredParameter => {
    const existing = parameters.get(name);
    const p: StoredParameter = { name, value, type: 'String', version: (existing?.version ?? 0) + 1, tier: 'Standard', lastModified: new Date() };
    parameters.set(name, p);
    return p;
  };
  for (const [name, value] of Object.entries(options.parameters ?? {})) seedParameter(name, value);
  const listening = await listenLoopback(server);
  const url = `http://127.0.0.1:${listening.port}`;

  return {
    url,
    account,
    region,
    ecrHost,
    parameters,
    repositories,
    snapshots,
    calls,
    unsupported,
    env: () => ({
      AWS_ENDPOINT_URL_SSM: url,
      AWS_ENDPOINT_URL_ECR: url,
      AWS_ENDPOINT_URL_EC2: url,
      AWS_ACCESS_KEY_ID: 'SDPIPETESTKEY',
      AWS_SECRET_ACCESS_KEY: 'SDPIPETESTSECRET',
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
    }),
    putParameter: seedParameter,
    addSnapshot: (s) => {
      const id = hexId('snap');
      snapshots.set(id, { id, state: s.state ?? 'completed', volumeSize: s.volumeSize ?? 80, startTime: new Date(), tags: new Map(Object.entries(s.tags)), description: s.description });
      return id;
    },
    resetCalls: () => {
      calls.length = 0;
      unsupported.length = 0;
    },
    stop: () => listening.close(),
  };
}
