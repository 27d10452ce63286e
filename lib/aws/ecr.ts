/**
 * The ECR control plane the mirror step needs: repositories created when missing (idempotent:
 * scan on push, encryption, tag mutability per config, tagged `sdpipe:env`; an existing
 * repository has its mutability, scanning and tag brought in line) and the authorization
 * token used as Basic credentials on the registry's data plane. The client comes from the
 * caller, built for the environment's region (lib/aws/clients.ts); nothing here names a
 * partition or an endpoint.
 */
import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  GetAuthorizationTokenCommand,
  ListTagsForResourceCommand,
  PutImageScanningConfigurationCommand,
  PutImageTagMutabilityCommand,
  TagResourceCommand,
  type ECRClient,
  type Repository,
} from '@aws-sdk/client-ecr';
import { SdpipeError } from '../errors';

/** The tag key every repository sdpipe creates carries, valued with the environment name. */
export const ENV_TAG_KEY = 'sdpipe:env';

/** Repository encryption. */
export type RepositoryEncryption = { readonly type: 'AES256' } | { readonly type: 'KMS'; readonly kmsKey?: string };

/** Options of {@link ensureRepository}. */
export interface EnsureRepositoryOptions {
  /** Repository name (`sd-on-eks/sdwebui`). */
  readonly repositoryName: string;
  /** Environment name, the value of the `sdpipe:env` tag. */
  readonly environment: string;
  /** Account of the registry. @default - the caller's account */
  readonly registryId?: string;
  /** Tag mutability. @default IMMUTABLE */
  readonly tagMutability?: 'MUTABLE' | 'IMMUTABLE';
  /** Scan images on push. @default true */
  readonly scanOnPush?: boolean;
  /** Encryption at rest, set at creation only (ECR cannot change it later). @default { type: 'AES256' } */
  readonly encryption?: RepositoryEncryption;
}

/** What {@link ensureRepository} did. */
export interface EnsureRepositoryResult {
  /** `created`, `updated` (settings brought in line) or `unchanged`. */
  readonly action: 'created' | 'updated' | 'unchanged';
  /** ARN of the repository. */
  readonly repositoryArn?: string;
  /** Settings changed on an existing repository, for the log. */
  readonly changes: readonly string[];
  /** Differences sdpipe cannot fix (encryption), for the log. */
  readonly warnings: readonly string[];
}

function errorName(err: unknown): string {
  return (err as { name?: string } | null)?.name ?? '';
}

function wrap(err: unknown, what: string, repositoryName: string): SdpipeError {
  const name = errorName(err);
  const message = err instanceof Error ? err.message : String(err);
  const denied = name === 'AccessDeniedException' || /not authorized|AccessDenied/i.test(message);
  return new SdpipeError(`${what} for ECR repository ${repositoryName} failed: ${name ? `${name}: ` : ''}${message}`, {
    cause: err,
    hint: denied
      ? 'the role needs ecr:DescribeRepositories, ecr:CreateRepository, ecr:TagResource, ecr:ListTagsForResource, ecr:PutImageTagMutability and ecr:PutImageScanningConfiguration on the repository'
      : 'check the AWS credentials and the environment\'s region, then run again',
  });
}

async function describe(client: ECRClient, options: EnsureRepositoryOptions): Promise<Repository | undefined> {
  try {
    const out = await client.send(new DescribeRepositoriesCommand({ registryId: options.registryId, repositoryNames: [options.repositoryName] }));
    return out.repositories?.[0];
  } catch (err) {
    if (errorName(err) === 'RepositoryNotFoundException') return undefined;
    throw wrap(err, 'describing', options.repositoryName);
  }
}

/**
 * Create a repository when it is missing; otherwise bring its tag mutability, scan-on-push and
 * `sdpipe:env` tag in line with the options. Safe to call again and concurrently.
 * @throws SdpipeError naming the repository, with a hint about the permissions needed
 */
export async function ensureRepository(client: ECRClient, options: EnsureRepositoryOptions): Promise<EnsureRepositoryResult> {
  const mutability = options.tagMutability ?? 'IMMUTABLE';
  const scanOnPush = options.scanOnPush ?? true;
  const encryption = options.encryption ?? { type: 'AES256' };
  let repo = await describe(client, options);
  if (!repo) {
    try {
      const out = await client.send(
        new CreateRepositoryCommand({
          registryId: options.registryId,
          repositoryName: options.repositoryName,
          imageTagMutability: mutability,
          imageScanningConfiguration: { scanOnPush },
          encryptionConfiguration:
            encryption.type === 'KMS' ? { encryptionType: 'KMS', ...(encryption.kmsKey ? { kmsKey: encryption.kmsKey } : {}) } : { encryptionType: 'AES256' },
          tags: [{ Key: ENV_TAG_KEY, Value: options.environment }],
        }),
      );
      return { action: 'created', repositoryArn: out.repository?.repositoryArn, changes: [], warnings: [] };
    } catch (err) {
      if (errorName(err) !== 'RepositoryAlreadyExistsException') throw wrap(err, 'creating', options.repositoryName);
      repo = await describe(client, options);
      if (!repo) throw wrap(err, 'creating', options.repositoryName);
    }
  }
  const changes: string[] = [];
  const warnings: string[] = [];
  try {
    if (repo.imageTagMutability !== mutability) {
      await client.send(new PutImageTagMutabilityCommand({ registryId: options.registryId, repositoryName: options.repositoryName, imageTagMutability: mutability }));
      changes.push(`tag mutability ${repo.imageTagMutability ?? 'unset'} → ${mutability}`);
    }
    if ((repo.imageScanningConfiguration?.scanOnPush ?? false) !== scanOnPush) {
      await client.send(new PutImageScanningConfigurationCommand({ registryId: options.registryId, repositoryName: options.repositoryName, imageScanningConfiguration: { scanOnPush } }));
      changes.push(`scan on push → ${scanOnPush}`);
    }
    if (repo.repositoryArn) {
      const tags = await client.send(new ListTagsForResourceCommand({ resourceArn: repo.repositoryArn }));
      const current = tags.tags?.find((t) => t.Key === ENV_TAG_KEY)?.Value;
      if (current !== options.environment) {
        await client.send(new TagResourceCommand({ resourceArn: repo.repositoryArn, tags: [{ Key: ENV_TAG_KEY, Value: options.environment }] }));
        changes.push(`tag ${ENV_TAG_KEY}=${options.environment}`);
      }
    }
  } catch (err) {
    throw wrap(err, 'updating', options.repositoryName);
  }
  const actual = repo.encryptionConfiguration?.encryptionType;
  if (actual && actual !== encryption.type && !(actual === 'KMS_DSSE' && encryption.type === 'KMS')) {
    warnings.push(`repository ${options.repositoryName} is encrypted with ${actual}, not ${encryption.type}; ECR cannot change that after creation`);
  }
  return { action: changes.length > 0 ? 'updated' : 'unchanged', repositoryArn: repo.repositoryArn, changes, warnings };
}

/** Basic credentials for a private ECR registry. */
export interface EcrAuthorization {
  /** Always `AWS`. */
  readonly username: string;
  /** The token's password part: a secret, mask it. */
  readonly password: string;
  /** When the token expires. */
  readonly expiresAt?: Date;
  /** Where the registry is reached (`https://<account>.dkr.ecr.<region>.<suffix>` from ECR itself). */
  readonly proxyEndpoint?: string;
}

/**
 * Get an authorization token (valid for 12 hours) and decode it into Basic credentials.
 * @param registryId account of the registry, when it is not the caller's
 * @throws SdpipeError naming the registry, with a hint about credentials and permissions
 */
export async function getEcrAuthorization(client: ECRClient, registryId?: string): Promise<EcrAuthorization> {
  let out;
  try {
    out = await client.send(new GetAuthorizationTokenCommand(registryId ? { registryIds: [registryId] } : {}));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new SdpipeError(`getting an ECR authorization token${registryId ? ` for account ${registryId}` : ''} failed: ${message}`, {
      cause: err,
      hint: 'check the AWS credentials (the role needs ecr:GetAuthorizationToken) and the environment\'s region',
    });
  }
  const data = out.authorizationData?.[0];
  const decoded = data?.authorizationToken ? Buffer.from(data.authorizationToken, 'base64').toString('utf8') : '';
  const i = decoded.indexOf(':');
  if (i <= 0) throw new SdpipeError('ECR answered GetAuthorizationToken without a usable token', { hint: 'run again; if it persists, check the account and region' });
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1), expiresAt: data?.expiresAt, proxyEndpoint: data?.proxyEndpoint };
}
