/**
 * A stateful ECR control plane on aws-sdk-client-mock: repositories with tag mutability,
 * scanning, encryption and tags, authorization tokens, and the BLOB_MOUNTING account setting
 * (DISABLED until set: blob mounting is opt-in per account, "Blob mounting in Amazon ECR",
 * https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html); unknown calls fail.
 */
import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAccountSettingCommand,
  GetAuthorizationTokenCommand,
  ListTagsForResourceCommand,
  PutImageScanningConfigurationCommand,
  PutImageTagMutabilityCommand,
  TagResourceCommand,
  type Repository,
  type Tag,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';

function awsError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

/** A fake ECR; `mock` is the aws-sdk-client-mock handle (for call assertions). */
export function fakeEcr(account = '123456789012', region = 'cn-northwest-1') {
  const mock = mockClient(ECRClient);
  const repos = new Map<string, { repo: Repository; tags: Tag[] }>();
  let tokens = 0;
  const settings = new Map<string, string>([['BLOB_MOUNTING', 'DISABLED']]);
  mock.on(GetAccountSettingCommand).callsFake((input: { name?: string }) => ({ name: input.name, value: settings.get(input.name ?? '') }));
  const arn = (name: string) => `arn:aws-cn:ecr:${region}:${account}:repository/${name}`;
  mock.on(DescribeRepositoriesCommand).callsFake((input: { repositoryNames?: string[] }) => {
    const found = (input.repositoryNames ?? []).map((n) => repos.get(n)?.repo);
    if (found.some((r) => !r)) throw awsError('RepositoryNotFoundException', `The repository with name '${input.repositoryNames}' does not exist`);
    return { repositories: found };
  });
  mock.on(CreateRepositoryCommand).callsFake((input) => {
    if (repos.has(input.repositoryName)) throw awsError('RepositoryAlreadyExistsException', 'exists');
    const repo: Repository = {
      repositoryName: input.repositoryName,
      repositoryArn: arn(input.repositoryName),
      registryId: account,
      imageTagMutability: input.imageTagMutability ?? 'MUTABLE',
      imageScanningConfiguration: input.imageScanningConfiguration ?? { scanOnPush: false },
      encryptionConfiguration: input.encryptionConfiguration ?? { encryptionType: 'AES256' },
    };
    repos.set(input.repositoryName, { repo, tags: [...(input.tags ?? [])] });
    return { repository: repo };
  });
  mock.on(PutImageTagMutabilityCommand).callsFake((input) => {
    const r = repos.get(input.repositoryName)!;
    r.repo = { ...r.repo, imageTagMutability: input.imageTagMutability };
    return {};
  });
  mock.on(PutImageScanningConfigurationCommand).callsFake((input) => {
    const r = repos.get(input.repositoryName)!;
    r.repo = { ...r.repo, imageScanningConfiguration: input.imageScanningConfiguration };
    return {};
  });
  mock.on(ListTagsForResourceCommand).callsFake((input) => {
    const r = [...repos.values()].find((x) => x.repo.repositoryArn === input.resourceArn)!;
    return { tags: r.tags };
  });
  mock.on(TagResourceCommand).callsFake((input) => {
    const r = [...repos.values()].find((x) => x.repo.repositoryArn === input.resourceArn)!;
    for (const t of input.tags ?? []) {
      r.tags = [...r.tags.filter((x) => x.Key !== t.Key), t];
    }
    return {};
  });
  mock.on(GetAuthorizationTokenCommand).callsFake(() => {
    tokens++;
    return { authorizationData: [{ authorizationToken: Buffer.from(`AWS:secret-${tokens}`).toString('base64'), expiresAt: new Date(Date.now() + 12 * 3600e3) }] };
  });
  return {
    mock,
    repos,
    /** Add a repository as if made by hand. */
    seed(name: string, repo: Partial<Repository>, tags: Tag[] = []) {
      repos.set(name, { repo: { repositoryName: name, repositoryArn: arn(name), ...repo }, tags });
    },
    get tokens() {
      return tokens;
    },
    /** Set an account setting (BLOB_MOUNTING: ENABLED | DISABLED). */
    setAccountSetting(name: string, value: string) {
      settings.set(name, value);
    },
  };
}
