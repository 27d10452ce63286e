/** lib/aws/ecr.ts, and the mirror's BLOB_MOUNTING lookup, against a stateful ECR fake (aws-sdk-client-mock). */
import { CreateRepositoryCommand, ECRClient, GetAccountSettingCommand, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { ENV_TAG_KEY, ensureRepository, getEcrAuthorization } from '../../../lib/aws/ecr';
import { SdpipeError } from '../../../lib/errors';
import { ecrBlobMounting } from '../../../lib/oci/mirror';
import { fakeEcr } from './fake-ecr';

let ecr: ReturnType<typeof fakeEcr>;
const client = () => new ECRClient({ region: 'cn-northwest-1' });

beforeEach(() => (ecr = fakeEcr()));
afterEach(() => ecr.mock.restore());

test('creates a missing repository with scan on push, AES256, immutable tags and the sdpipe:env tag', async () => {
  const r = await ensureRepository(client(), { repositoryName: 'sd-on-eks/sdwebui', environment: 'prod-cn', registryId: '123456789012' });
  expect(r.action).toBe('created');
  expect(r.repositoryArn).toBe('arn:aws-cn:ecr:cn-northwest-1:123456789012:repository/sd-on-eks/sdwebui');
  const create = ecr.mock.commandCalls(CreateRepositoryCommand)[0].args[0].input;
  expect(create).toEqual({
    registryId: '123456789012',
    repositoryName: 'sd-on-eks/sdwebui',
    imageTagMutability: 'IMMUTABLE',
    imageScanningConfiguration: { scanOnPush: true },
    encryptionConfiguration: { encryptionType: 'AES256' },
    tags: [{ Key: ENV_TAG_KEY, Value: 'prod-cn' }],
  });
});

test('is idempotent: a second call changes nothing and creates nothing', async () => {
  await ensureRepository(client(), { repositoryName: 'a', environment: 'dev', tagMutability: 'MUTABLE' });
  const again = await ensureRepository(client(), { repositoryName: 'a', environment: 'dev', tagMutability: 'MUTABLE' });
  expect(again).toMatchObject({ action: 'unchanged', changes: [] });
  expect(ecr.mock.commandCalls(CreateRepositoryCommand)).toHaveLength(1);
});

test('brings an existing repository in line: mutability, scanning and the env tag', async () => {
  ecr.seed('b', { imageTagMutability: 'MUTABLE', imageScanningConfiguration: { scanOnPush: false }, encryptionConfiguration: { encryptionType: 'KMS' } }, [{ Key: 'team', Value: 'x' }]);
  const r = await ensureRepository(client(), { repositoryName: 'b', environment: 'prod', tagMutability: 'IMMUTABLE' });
  expect(r.action).toBe('updated');
  expect(r.changes).toEqual(['tag mutability MUTABLE → IMMUTABLE', 'scan on push → true', `tag ${ENV_TAG_KEY}=prod`]);
  expect(r.warnings[0]).toMatch(/encrypted with KMS, not AES256/);
  const state = ecr.repos.get('b')!;
  expect(state.repo.imageTagMutability).toBe('IMMUTABLE');
  expect(state.tags).toContainEqual({ Key: ENV_TAG_KEY, Value: 'prod' });
});

test('a repository created concurrently by someone else is treated as existing', async () => {
  ecr.mock.on(CreateRepositoryCommand).callsFakeOnce(() => {
    ecr.seed('c', { imageTagMutability: 'IMMUTABLE', imageScanningConfiguration: { scanOnPush: true } }, [{ Key: ENV_TAG_KEY, Value: 'dev' }]);
    const e = new Error('exists');
    e.name = 'RepositoryAlreadyExistsException';
    throw e;
  });
  const r = await ensureRepository(client(), { repositoryName: 'c', environment: 'dev' });
  expect(r.action).toBe('unchanged');
});

test('access denied names the repository and the permissions needed', async () => {
  ecr.mock.on(CreateRepositoryCommand).rejects(Object.assign(new Error('User is not authorized to perform: ecr:CreateRepository'), { name: 'AccessDeniedException' }));
  const err = await ensureRepository(client(), { repositoryName: 'd', environment: 'dev' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SdpipeError);
  expect((err as Error).message).toMatch(/creating for ECR repository d failed: AccessDeniedException/);
  expect((err as SdpipeError).hint).toMatch(/ecr:CreateRepository/);
});

test('decodes an authorization token into Basic credentials', async () => {
  const auth = await getEcrAuthorization(client(), '123456789012');
  expect(auth).toMatchObject({ username: 'AWS', password: 'secret-1' });
  expect(ecr.mock.commandCalls(GetAuthorizationTokenCommand)[0].args[0].input).toEqual({ registryIds: ['123456789012'] });
  ecr.mock.on(GetAuthorizationTokenCommand).resolves({ authorizationData: [] });
  await expect(getEcrAuthorization(client())).rejects.toThrow(/without a usable token/);
  ecr.mock.on(GetAuthorizationTokenCommand).rejects(new Error('expired credentials'));
  await expect(getEcrAuthorization(client())).rejects.toThrow(/ecr:GetAuthorizationToken|expired credentials/);
});

test("blob mounting follows the account's BLOB_MOUNTING setting: off by default, referenced-only when enabled, off when unreadable", async () => {
  const lines: string[] = [];
  expect(await ecrBlobMounting(client(), 'cn-northwest-1', (l) => lines.push(l))).toBe('off');
  ecr.setAccountSetting('BLOB_MOUNTING', 'ENABLED');
  expect(await ecrBlobMounting(client(), 'cn-northwest-1', (l) => lines.push(l))).toBe('referenced');
  expect(lines).toEqual([]);
  ecr.mock.on(GetAccountSettingCommand).rejects(Object.assign(new Error('User is not authorized to perform: ecr:GetAccountSetting'), { name: 'AccessDeniedException' }));
  expect(await ecrBlobMounting(client(), 'cn-northwest-1', (l) => lines.push(l))).toBe('off');
  expect(lines).toEqual([expect.stringMatching(/cannot read the account setting BLOB_MOUNTING \(User is not authorized.*\); no mounts are tried/)]);
});
