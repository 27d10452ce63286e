/**
 * Stateful fakes of the EC2, SSM and ECR control planes, on aws-sdk-client-mock, for the snapshot
 * bake. Time is a number the test's sleep advances: instances go pending → running → stopping →
 * stopped (→ shutting-down → terminated), snapshots pending → completed, SSM commands
 * Pending → InProgress → Success/Failed, each after a configurable delay. The fake "runs" the
 * shell lines the bake sends (stop kubelet, ctr pull, ctr images ls) against a per-instance image
 * store, checks the ECR password and that the pulled reference exists in the fake registry.
 * Any call can be made to fail (by position in the call trace, or by operation), commands can
 * fail or hang on demand.
 *
 * Behaviours of the real services the fake encodes, each with its source (docs/snapshot.md,
 * "Real service behaviour", keeps the same list):
 * - An instance comes Online in SSM only when its instance profile's role can read ECR as well as
 *   run the SSM agent: Bottlerocket pulls its control container (which runs the agent) and its
 *   admin container from ECR (bottlerocket-os/bottlerocket#851: "the policy needed to access ECR
 *   is AmazonEC2ContainerRegistryReadOnly"; #1139: no Session Manager until that policy was
 *   attached; the Bottlerocket README, "Exploration"). See {@link FakeAws.hasEcrRead}.
 * - SendCommand to an instance that is not registered (not Online) fails with InvalidInstanceId
 *   (SSM API reference, SendCommand errors: "the instance isn't in a valid state ... the SSM Agent
 *   isn't running or isn't registered", https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html).
 * - CreateSnapshot of a volume attached to a running instance succeeds but is flagged: EC2 docs
 *   say to stop the instance (or unmount) for a consistent snapshot of a non-root volume
 *   (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-snapshot.html). See
 *   {@link FakeSnapshot.flags}.
 * - GetCommandInvocation returns at most the first 24,000 characters of standard output and 8,000
 *   of standard error (API_GetCommandInvocation.html, StandardOutputContent / StandardErrorContent).
 * - `ctr images pull --all-platforms` fetches but does not unpack (containerd v2.0.x, transfer
 *   service: cmd/ctr/commands/images/pull.go at v2.0.5 fb4c30d, lines 122-135, adds an unpack
 *   only per `--platform`; "TODO: Support unpack for all platforms"; containerd#11086, #11228).
 *   `ctr images check` reports completeness and UNPACKED for the host's default platform only
 *   (cmd/ctr/commands/images/images.go at v2.0.5, checkCommand: `images.Check(..., platforms.Default())`
 *   and `image.IsUnpacked`).
 * - The admin container may not be ready for `apiclient exec` right after the instance is Online
 *   (assumption: host containers start independently of the SSM agent in the control container;
 *   no public source gives the delay).
 * - ECR credentials on the instance come from the instance role through the kubelet's
 *   ecr-credential-provider (Kubernetes kubelet credential provider API,
 *   https://kubernetes.io/docs/tasks/administer-cluster/kubelet-credential-provider/; the
 *   binary's path on Bottlerocket is an assumption, see lib/snapshot/bottlerocket.ts).
 */
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Filter,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  GetParameterCommand,
  GetParametersCommand,
  PutParameterCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { Sleep } from '../../../lib/transfer/retry';
import type { Clock } from '../../../lib/snapshot/wait';

type Tags = Map<string, string>;

/** A fake instance. */
export interface FakeInstance {
  readonly id: string;
  state: 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';
  readonly launchedAt: number;
  changedAt: number;
  readonly input: RunInstancesCommandInput;
  readonly tags: Tags;
  readonly volumes: { device: string; id: string }[];
  kubeletStopped: boolean;
  stateReason?: string;
  /** `linux/amd64` or `linux/arm64`: the platform `ctr` defaults to on this instance. */
  readonly platform: string;
}

/** The IAM role behind a fake instance profile. */
export interface FakeRole {
  readonly roleName: string;
  /** Managed policy ARNs attached to the role. */
  readonly managedPolicyArns: readonly string[];
  /** Actions granted by inline policies (on `*`). @default [] */
  readonly actions?: readonly string[];
}

/** A fake EBS volume. */
export interface FakeVolume {
  readonly id: string;
  state: 'in-use' | 'available' | 'deleted';
  readonly createdAt: number;
  readonly tags: Tags;
  readonly sizeGiB: number;
  /** Image references in containerd's store on this volume (data volume only). */
  readonly images: Set<string>;
  /** Per reference, the platforms whose layers were unpacked into the snapshotter. */
  readonly unpacked: Map<string, Set<string>>;
  /** Per reference, the platforms whose content was fetched. */
  readonly fetched: Map<string, Set<string>>;
}

/** A fake EBS snapshot. */
export interface FakeSnapshot {
  readonly id: string;
  state: 'pending' | 'completed' | 'error';
  readonly startedAt: number;
  readonly volumeId: string;
  readonly description: string;
  readonly tags: Tags;
  /** Image references the snapshot holds. */
  readonly images: readonly string[];
  /** References unpacked (for any platform) in the snapshot. */
  readonly unpacked: readonly string[];
  /** What the real service would warn about: `volume attached to a running instance` (see the file comment). */
  readonly flags: readonly string[];
  deleted: boolean;
}

/** A fake SSM command. */
export interface FakeCommand {
  readonly id: string;
  readonly instanceId: string;
  readonly commands: readonly string[];
  readonly comment: string;
  readonly sentAt: number;
  status: 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'Cancelled';
  stdout: string;
  stderr: string;
  responseCode: number;
  readonly hang: boolean;
}

/** Delays of the state transitions, in ms of fake time. */
export interface FakeDelays {
  running: number;
  ssmOnline: number;
  command: number;
  pull: number;
  stopping: number;
  terminating: number;
  snapshot: number;
  /** Online in SSM → the admin container accepts `apiclient exec`. */
  adminReady: number;
}

/** A command failure armed by the test: the next `times` commands whose script matches fail. */
export interface CommandFailure {
  readonly match: RegExp;
  times: number;
  readonly stderr: string;
  readonly exitCode?: number;
}

/** Options of the fake. */
export interface FakeAwsOptions {
  readonly account: string;
  readonly region: string;
  /** References (`host/repo@sha256:…`) the fake registry holds. */
  readonly registry?: Iterable<string>;
  /** Delays, merged over quick defaults. */
  readonly delays?: Partial<FakeDelays>;
  /** Public and private SSM parameters. */
  readonly parameters?: Record<string, string>;
}

const DEFAULT_DELAYS: FakeDelays = { running: 20_000, ssmOnline: 45_000, command: 3_000, pull: 60_000, stopping: 30_000, terminating: 30_000, snapshot: 300_000, adminReady: 0 };

/** The actions a pull from ECR needs (the content of AmazonEC2ContainerRegistryReadOnly that matters here). */
export const ECR_PULL_ACTIONS = ['ecr:GetAuthorizationToken', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'];

/** SSM's limits on GetCommandInvocation's output (API_GetCommandInvocation.html). */
export const SSM_STDOUT_LIMIT = 24_000;
export const SSM_STDERR_LIMIT = 8_000;

/** The kubelet credential provider on Bottlerocket (path: assumption, see lib/snapshot/bottlerocket.ts). */
const PROVIDER = '/usr/libexec/kubernetes/kubelet/plugins/ecr-credential-provider';

/** An AWS-like error. */
export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

function hex(n: number, width = 17): string {
  return n.toString(16).padStart(width, '0');
}

function tagList(tags: Tags): { Key: string; Value: string }[] {
  return [...tags].map(([Key, Value]) => ({ Key, Value }));
}

/**
 * Split a shell line into words (single quotes, `'\''`, and double quotes with `${NAME}` taken
 * from `vars`, are understood); stops at a redirect.
 */
export function shellWords(line: string, vars: ReadonlyMap<string, string> = new Map()): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in ${line}`);
      cur += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) throw new Error(`unterminated double quote in ${line}`);
      cur += line.slice(i + 1, end).replace(/\$\{(\w+)\}/g, (_m, n: string) => vars.get(n) ?? '');
      inWord = true;
      i = end;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (c === ' ') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if (c === '>' && !inWord) {
      break;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** The fake. Call {@link install} in a test (or beforeEach) and {@link restore} after. */
export class FakeAws {
  /** Fake time, ms since the epoch. */
  now = Date.parse('2026-01-05T10:00:00Z');
  readonly delays: FakeDelays;
  readonly instances = new Map<string, FakeInstance>();
  readonly volumes = new Map<string, FakeVolume>();
  readonly snapshots = new Map<string, FakeSnapshot>();
  readonly commands = new Map<string, FakeCommand>();
  readonly parameters = new Map<string, string>();
  readonly registry: Set<string>;
  /** Every call, in order: `RunInstances`, `SendCommand(pulling sdwebui)`, … */
  readonly calls: string[] = [];
  /** Inputs of every SendCommand. */
  readonly sentScripts: string[][] = [];
  /** Fail the call at this position of {@link calls} (0-based). */
  failAtCall?: number;
  /** Fail calls of these operations, `times` times each. */
  readonly failOps = new Map<string, { times: number; error: Error }>();
  /** Armed command failures. */
  readonly commandFailures: CommandFailure[] = [];
  /** Commands whose script matches never finish. */
  hangCommands?: RegExp;
  /** Instances launched from now on go to this state instead of running. */
  launchFailsWith?: { state: 'terminated'; reason: string };
  /** Snapshots created from now on end in `error`. */
  snapshotFails = false;
  /** Never report instances Online in SSM. */
  ssmNeverOnline = false;
  /** Instances never finish stopping. */
  stopHangs = false;
  /** Instance architecture per instance type. */
  readonly instanceTypes: Record<string, string[]> = { 'm5.large': ['x86_64'], 'm7g.large': ['arm64'], 'c5.xlarge': ['x86_64'] };
  /** The ECR password GetAuthorizationToken issues to the caller (with a quote, a slash and a plus, to exercise quoting). */
  readonly password = "eyJwYXlsb2FkIjoi+/secret'pw==";
  /** The ECR password the instance's credential provider obtains with the instance role. */
  readonly instancePassword = 'eyJpbnN0YW5jZSI6+/instance-secret==';
  /** Instance profiles by name, with their role. */
  readonly instanceProfiles = new Map<string, FakeRole>();
  /** What `ctr version` reports on the instances. */
  containerdVersion = 'v2.0.5';
  private seq = 0;
  private readonly mocks: { restore(): void }[] = [];
  readonly account: string;
  readonly region: string;

  constructor(options: FakeAwsOptions) {
    this.account = options.account;
    this.region = options.region;
    this.delays = { ...DEFAULT_DELAYS, ...options.delays };
    this.registry = new Set(options.registry ?? []);
    for (const [k, v] of Object.entries(options.parameters ?? {})) this.parameters.set(k, v);
  }

  /** Add an instance profile whose role has these managed policies (ARNs) and inline actions. */
  addInstanceProfile(name: string, role: FakeRole): this {
    this.instanceProfiles.set(name, role);
    return this;
  }

  /** The role of an instance, from its profile (by name, or the name at the end of the ARN). */
  roleOf(inst: FakeInstance): FakeRole | undefined {
    const p = inst.input.IamInstanceProfile;
    const name = p?.Name ?? p?.Arn?.slice(p.Arn.lastIndexOf('/') + 1);
    return name ? this.instanceProfiles.get(name) : undefined;
  }

  /**
   * True when the role may pull from ECR: AmazonEC2ContainerRegistryReadOnly (any partition) or
   * the three pull actions inline. Without it Bottlerocket cannot pull its control container, so
   * the SSM agent never starts (bottlerocket-os/bottlerocket#851, #1139).
   */
  hasEcrRead(inst: FakeInstance): boolean {
    const role = this.roleOf(inst);
    if (!role) return false;
    if (role.managedPolicyArns.some((a) => /^arn:aws(-cn|-us-gov)?:iam::aws:policy\/AmazonEC2ContainerRegistryReadOnly$/.test(a))) return true;
    return ECR_PULL_ACTIONS.every((a) => role.actions?.includes(a));
  }

  /** True when the role lets the SSM agent register (AmazonSSMManagedInstanceCore). */
  hasSsmCore(inst: FakeInstance): boolean {
    return this.roleOf(inst)?.managedPolicyArns.some((a) => /^arn:aws(-cn|-us-gov)?:iam::aws:policy\/AmazonSSMManagedInstanceCore$/.test(a)) ?? false;
  }

  /** Online in SSM: running long enough, and a role with which the control container and its agent can start. */
  isOnline(inst: FakeInstance): boolean {
    return !this.ssmNeverOnline && inst.state === 'running' && this.now - inst.changedAt >= this.delays.ssmOnline && this.hasSsmCore(inst) && this.hasEcrRead(inst);
  }

  /** The fake clock. */
  readonly clock: Clock = { now: () => this.now };

  /** The fake sleep: advances fake time at once. */
  readonly sleep: Sleep = async (ms, signal) => {
    if (signal?.aborted) throw signal.reason;
    this.now += ms;
    await Promise.resolve();
  };

  /** Mock the three clients (every instance of them). */
  install(): this {
    const ec2 = mockClient(EC2Client);
    const ssm = mockClient(SSMClient);
    const ecr = mockClient(ECRClient);
    this.mocks.push(ec2, ssm, ecr);
    const wrap = <I extends object>(op: string, fn: (input: I) => unknown, label?: (input: I) => string) => async (input: I) => {
      const name = label ? `${op}(${label(input)})` : op;
      const position = this.calls.length;
      this.calls.push(name);
      if (this.failAtCall === position) throw awsError('InternalError', `injected failure at call ${position} (${name})`);
      const armed = this.failOps.get(op);
      if (armed && armed.times > 0) {
        armed.times--;
        throw armed.error;
      }
      this.advance();
      return fn(input);
    };
    ec2.on(RunInstancesCommand).callsFake(wrap('RunInstances', (i: RunInstancesCommandInput) => this.runInstances(i)));
    ec2.on(DescribeInstancesCommand).callsFake(wrap('DescribeInstances', (i) => this.describeInstances(i)));
    ec2.on(DescribeInstanceTypesCommand).callsFake(
      wrap('DescribeInstanceTypes', (i: { InstanceTypes?: string[] }) => {
        const t = i.InstanceTypes?.[0] ?? '';
        const archs = this.instanceTypes[t];
        if (!archs) throw awsError('InvalidInstanceType', `The following supplied instance types do not exist: [${t}]`);
        return { InstanceTypes: [{ InstanceType: t, ProcessorInfo: { SupportedArchitectures: archs } }] };
      }),
    );
    ec2.on(StopInstancesCommand).callsFake(wrap('StopInstances', (i: { InstanceIds?: string[] }) => this.stopInstances(i.InstanceIds ?? [])));
    ec2.on(TerminateInstancesCommand).callsFake(wrap('TerminateInstances', (i: { InstanceIds?: string[] }) => this.terminateInstances(i.InstanceIds ?? [])));
    ec2.on(CreateSnapshotCommand).callsFake(wrap('CreateSnapshot', (i) => this.createSnapshot(i)));
    ec2.on(DescribeSnapshotsCommand).callsFake(wrap('DescribeSnapshots', (i) => this.describeSnapshots(i)));
    ec2.on(DeleteSnapshotCommand).callsFake(wrap('DeleteSnapshot', (i: { SnapshotId?: string }) => this.deleteSnapshot(i.SnapshotId ?? '')));
    ec2.on(CreateTagsCommand).callsFake(wrap('CreateTags', (i: { Resources?: string[]; Tags?: { Key?: string; Value?: string }[] }) => this.createTags(i)));
    ec2.on(DeleteTagsCommand).callsFake(wrap('DeleteTags', (i: { Resources?: string[]; Tags?: { Key?: string }[] }) => this.deleteTags(i)));
    ec2.on(DescribeVolumesCommand).callsFake(wrap('DescribeVolumes', (i) => this.describeVolumes(i)));
    ec2.on(DeleteVolumeCommand).callsFake(wrap('DeleteVolume', (i: { VolumeId?: string }) => this.deleteVolume(i.VolumeId ?? '')));

    ssm.on(GetParameterCommand).callsFake(
      wrap('GetParameter', (i: { Name?: string }) => {
        const v = this.parameters.get(i.Name ?? '');
        if (v === undefined) throw awsError('ParameterNotFound', `parameter ${i.Name} not found`);
        return { Parameter: { Name: i.Name, Value: v, Type: 'String' } };
      }),
    );
    ssm.on(GetParametersCommand).callsFake(
      wrap('GetParameters', (i: { Names?: string[] }) => ({
        Parameters: (i.Names ?? []).filter((n) => this.parameters.has(n)).map((n) => ({ Name: n, Value: this.parameters.get(n), Type: 'String' })),
        InvalidParameters: (i.Names ?? []).filter((n) => !this.parameters.has(n)),
      })),
    );
    ssm.on(PutParameterCommand).callsFake(
      wrap('PutParameter', (i: { Name?: string; Value?: string; Overwrite?: boolean }) => {
        if (this.parameters.has(i.Name ?? '') && !i.Overwrite) throw awsError('ParameterAlreadyExists');
        this.parameters.set(i.Name ?? '', i.Value ?? '');
        return { Version: 1 };
      }),
    );
    ssm.on(DescribeInstanceInformationCommand).callsFake(
      wrap('DescribeInstanceInformation', (i: { Filters?: { Key?: string; Values?: string[] }[] }) => {
        const id = i.Filters?.find((f) => f.Key === 'InstanceIds')?.Values?.[0] ?? '';
        const inst = this.instances.get(id);
        if (!inst || this.ssmNeverOnline) return { InstanceInformationList: [] };
        const online = this.isOnline(inst);
        const registered = this.hasSsmCore(inst) && this.hasEcrRead(inst);
        if (!online && registered && inst.state !== 'running' && inst.state !== 'pending') return { InstanceInformationList: [{ InstanceId: id, PingStatus: 'ConnectionLost' }] };
        return { InstanceInformationList: online ? [{ InstanceId: id, PingStatus: 'Online' }] : [] };
      }),
    );
    ssm.on(SendCommandCommand).callsFake(
      wrap(
        'SendCommand',
        (i: { InstanceIds?: string[]; Parameters?: Record<string, string[]>; Comment?: string; DocumentName?: string }) => this.sendCommand(i),
        (i) => (i.Comment ?? '').replace(/^sdpipe: /, ''),
      ),
    );
    ssm.on(GetCommandInvocationCommand).callsFake(wrap('GetCommandInvocation', (i: { CommandId?: string; InstanceId?: string }) => this.getInvocation(i.CommandId ?? '')));
    ssm.on(CancelCommandCommand).callsFake(
      wrap('CancelCommand', (i: { CommandId?: string }) => {
        const c = this.commands.get(i.CommandId ?? '');
        if (c && (c.status === 'Pending' || c.status === 'InProgress')) c.status = 'Cancelled';
        return {};
      }),
    );
    ecr.on(GetAuthorizationTokenCommand).callsFake(
      wrap('GetAuthorizationToken', () => ({
        authorizationData: [
          {
            authorizationToken: Buffer.from(`AWS:${this.password}`).toString('base64'),
            proxyEndpoint: `https://${this.account}.dkr.ecr.${this.region}.example`,
            expiresAt: new Date(this.now + 12 * 3_600_000),
          },
        ],
      })),
    );
    return this;
  }

  /** Undo the mocks. */
  restore(): void {
    for (const m of this.mocks.splice(0)) m.restore();
  }

  private nextId(prefix: string): string {
    return `${prefix}-${hex(++this.seq)}`;
  }

  /** Move every resource along its states according to fake time. */
  advance(): void {
    for (const i of this.instances.values()) {
      const since = this.now - i.changedAt;
      if (i.state === 'pending' && since >= this.delays.running) {
        if (this.launchFailsWith) {
          i.state = 'terminated';
          i.stateReason = this.launchFailsWith.reason;
          this.dropVolumes(i);
        } else i.state = 'running';
        i.changedAt = this.now;
      } else if (i.state === 'stopping' && since >= this.delays.stopping && !this.stopHangs) {
        i.state = 'stopped';
        i.changedAt = this.now;
      } else if (i.state === 'shutting-down' && since >= this.delays.terminating) {
        i.state = 'terminated';
        i.changedAt = this.now;
        this.dropVolumes(i);
      }
    }
    for (const s of this.snapshots.values()) {
      if (s.state === 'pending' && this.now - s.startedAt >= this.delays.snapshot) s.state = this.snapshotFails ? 'error' : 'completed';
    }
    for (const c of this.commands.values()) this.progressCommand(c);
  }

  private dropVolumes(i: FakeInstance): void {
    for (const v of i.volumes) {
      const vol = this.volumes.get(v.id);
      if (vol) vol.state = 'deleted';
    }
  }

  private runInstances(input: RunInstancesCommandInput): unknown {
    if (!input.ImageId || ![...this.parameters.values()].includes(input.ImageId)) throw awsError('InvalidAMIID.NotFound', `The image id '[${input.ImageId}]' does not exist`);
    const profile = input.IamInstanceProfile?.Name ?? input.IamInstanceProfile?.Arn?.slice(input.IamInstanceProfile.Arn.lastIndexOf('/') + 1) ?? '';
    // EC2 checks the profile exists (RunInstances, InvalidParameterValue for an unknown iamInstanceProfile.name).
    if (!this.instanceProfiles.has(profile)) throw awsError('InvalidParameterValue', `Value (${profile}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name`);
    if (input.DryRun) throw awsError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
    const id = this.nextId('i');
    const tags: Tags = new Map((input.TagSpecifications?.find((t) => t.ResourceType === 'instance')?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    const volTags: Tags = new Map((input.TagSpecifications?.find((t) => t.ResourceType === 'volume')?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    const root = this.nextId('vol');
    const data = this.nextId('vol');
    const size = input.BlockDeviceMappings?.find((b) => b.DeviceName === '/dev/xvdb')?.Ebs?.VolumeSize ?? 20;
    const arch = this.instanceTypes[String(input.InstanceType)]?.[0] ?? 'x86_64';
    const platform = arch === 'arm64' ? 'linux/arm64' : 'linux/amd64';
    const pause = 'localhost/kubernetes/pause:0.1.0';
    this.volumes.set(root, { id: root, state: 'in-use', createdAt: this.now, tags: new Map(volTags), sizeGiB: 2, images: new Set(), unpacked: new Map(), fetched: new Map() });
    this.volumes.set(data, {
      id: data,
      state: 'in-use',
      createdAt: this.now,
      tags: new Map(volTags),
      sizeGiB: size,
      images: new Set([pause]),
      unpacked: new Map([[pause, new Set([platform])]]),
      fetched: new Map([[pause, new Set([platform])]]),
    });
    const inst: FakeInstance = {
      id,
      state: 'pending',
      launchedAt: this.now,
      changedAt: this.now,
      input,
      tags,
      volumes: [
        { device: '/dev/xvda', id: root },
        { device: '/dev/xvdb', id: data },
      ],
      kubeletStopped: false,
      platform,
    };
    this.instances.set(id, inst);
    return { Instances: [this.instanceView(inst)] };
  }

  private instanceView(i: FakeInstance): Record<string, unknown> {
    return {
      InstanceId: i.id,
      InstanceType: i.input.InstanceType,
      ImageId: i.input.ImageId,
      LaunchTime: new Date(i.launchedAt),
      State: { Name: i.state },
      StateReason: i.stateReason ? { Message: i.stateReason } : undefined,
      Tags: tagList(i.tags),
      BlockDeviceMappings: i.state === 'terminated' ? [] : i.volumes.map((v) => ({ DeviceName: v.device, Ebs: { VolumeId: v.id } })),
    };
  }

  private matches(tags: Tags, filters: Filter[] | undefined, attrs: Record<string, string>): boolean {
    for (const f of filters ?? []) {
      const values = f.Values ?? [];
      if (f.Name === 'tag-key') {
        if (!values.some((v) => tags.has(v))) return false;
      } else if (f.Name?.startsWith('tag:')) {
        const v = tags.get(f.Name.slice(4));
        if (v === undefined || !values.includes(v)) return false;
      } else if (f.Name && f.Name in attrs) {
        if (!values.includes(attrs[f.Name])) return false;
      } else {
        throw awsError('InvalidParameterValue', `fake does not know the filter ${f.Name}`);
      }
    }
    return true;
  }

  private describeInstances(input: { InstanceIds?: string[]; Filters?: Filter[] }): unknown {
    let list = [...this.instances.values()];
    if (input.InstanceIds) {
      for (const id of input.InstanceIds) if (!this.instances.has(id)) throw awsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
      list = list.filter((i) => input.InstanceIds?.includes(i.id));
    }
    list = list.filter((i) => this.matches(i.tags, input.Filters, { 'instance-state-name': i.state }));
    return { Reservations: list.length ? [{ Instances: list.map((i) => this.instanceView(i)) }] : [] };
  }

  private stopInstances(ids: string[]): unknown {
    for (const id of ids) {
      const i = this.instances.get(id);
      if (!i) throw awsError('InvalidInstanceID.NotFound');
      if (i.state === 'terminated' || i.state === 'shutting-down') throw awsError('IncorrectInstanceState', `instance ${id} is ${i.state}`);
      if (i.state === 'running' || i.state === 'pending') {
        i.state = 'stopping';
        i.changedAt = this.now;
      }
    }
    return { StoppingInstances: ids.map((InstanceId) => ({ InstanceId })) };
  }

  private terminateInstances(ids: string[]): unknown {
    for (const id of ids) {
      const i = this.instances.get(id);
      if (!i) throw awsError('InvalidInstanceID.NotFound');
      if (i.state !== 'terminated' && i.state !== 'shutting-down') {
        i.state = 'shutting-down';
        i.changedAt = this.now;
      }
    }
    return { TerminatingInstances: ids.map((InstanceId) => ({ InstanceId })) };
  }

  private createSnapshot(input: { VolumeId?: string; Description?: string; TagSpecifications?: { ResourceType?: string; Tags?: { Key?: string; Value?: string }[] }[] }): unknown {
    const vol = this.volumes.get(input.VolumeId ?? '');
    if (!vol || vol.state === 'deleted') throw awsError('InvalidVolume.NotFound');
    const id = this.nextId('snap');
    const tags: Tags = new Map((input.TagSpecifications?.find((t) => t.ResourceType === 'snapshot')?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    // EC2 snapshots a volume in use, but only a stopped instance gives a consistent one (ebs-creating-snapshot.html).
    const owner = [...this.instances.values()].find((i) => i.volumes.some((v) => v.id === vol.id));
    const flags = owner && owner.state !== 'stopped' && owner.state !== 'terminated' ? [`volume attached to a ${owner.state} instance`] : [];
    const unpacked = [...vol.unpacked].filter(([, p]) => p.size > 0).map(([r]) => r);
    this.snapshots.set(id, { id, state: 'pending', startedAt: this.now, volumeId: vol.id, description: input.Description ?? '', tags, images: [...vol.images], unpacked, flags, deleted: false });
    return { SnapshotId: id, State: 'pending' };
  }

  private snapshotView(s: FakeSnapshot): Record<string, unknown> {
    const pct = s.state === 'completed' ? 100 : Math.min(99, Math.floor(((this.now - s.startedAt) / this.delays.snapshot) * 100));
    return { SnapshotId: s.id, State: s.state, StartTime: new Date(s.startedAt), VolumeId: s.volumeId, Description: s.description, Progress: `${pct}%`, Tags: tagList(s.tags), StateMessage: s.state === 'error' ? 'internal error' : undefined };
  }

  private describeSnapshots(input: { SnapshotIds?: string[]; Filters?: Filter[] }): unknown {
    let list = [...this.snapshots.values()].filter((s) => !s.deleted);
    if (input.SnapshotIds) {
      for (const id of input.SnapshotIds) if (!list.some((s) => s.id === id)) throw awsError('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);
      list = list.filter((s) => input.SnapshotIds?.includes(s.id));
    }
    list = list.filter((s) => this.matches(s.tags, input.Filters, { status: s.state }));
    return { Snapshots: list.map((s) => this.snapshotView(s)) };
  }

  private deleteSnapshot(id: string): unknown {
    const s = this.snapshots.get(id);
    if (!s || s.deleted) throw awsError('InvalidSnapshot.NotFound');
    s.deleted = true;
    return {};
  }

  private resourceTags(id: string): Tags {
    const r = this.snapshots.get(id) ?? this.instances.get(id) ?? this.volumes.get(id);
    if (!r) throw awsError('InvalidID', `resource ${id} does not exist`);
    return r.tags;
  }

  private createTags(input: { Resources?: string[]; Tags?: { Key?: string; Value?: string }[] }): unknown {
    for (const id of input.Resources ?? []) for (const t of input.Tags ?? []) this.resourceTags(id).set(t.Key ?? '', t.Value ?? '');
    return {};
  }

  private deleteTags(input: { Resources?: string[]; Tags?: { Key?: string }[] }): unknown {
    for (const id of input.Resources ?? []) for (const t of input.Tags ?? []) this.resourceTags(id).delete(t.Key ?? '');
    return {};
  }

  private describeVolumes(input: { Filters?: Filter[] }): unknown {
    const list = [...this.volumes.values()].filter((v) => v.state !== 'deleted' && this.matches(v.tags, input.Filters, { status: v.state }));
    return { Volumes: list.map((v) => ({ VolumeId: v.id, State: v.state, CreateTime: new Date(v.createdAt), Size: v.sizeGiB, Tags: tagList(v.tags) })) };
  }

  private deleteVolume(id: string): unknown {
    const v = this.volumes.get(id);
    if (!v || v.state === 'deleted') throw awsError('InvalidVolume.NotFound');
    if (v.state === 'in-use') throw awsError('VolumeInUse', `Volume ${id} is currently attached`);
    v.state = 'deleted';
    return {};
  }

  private sendCommand(input: { InstanceIds?: string[]; Parameters?: Record<string, string[]>; Comment?: string; DocumentName?: string }): unknown {
    if (input.DocumentName !== 'AWS-RunShellScript') throw awsError('InvalidDocument', `document ${input.DocumentName}`);
    const instanceId = input.InstanceIds?.[0] ?? '';
    const inst = this.instances.get(instanceId);
    // SSM refuses instances whose agent is not registered and online (API_SendCommand.html, InvalidInstanceId).
    if (!inst || !this.isOnline(inst)) throw awsError('InvalidInstanceId', `Instances [[${instanceId}]] not in a valid state for account ${this.account}`);
    const id = `cmd-${hex(++this.seq, 8)}`;
    const commands = input.Parameters?.commands ?? [];
    this.sentScripts.push(commands);
    const script = commands.join('\n');
    this.commands.set(id, {
      id,
      instanceId,
      commands,
      comment: input.Comment ?? '',
      sentAt: this.now,
      status: 'Pending',
      stdout: '',
      stderr: '',
      responseCode: -1,
      hang: this.hangCommands?.test(script) ?? false,
    });
    return { Command: { CommandId: id, Status: 'Pending' } };
  }

  private progressCommand(c: FakeCommand): void {
    if (c.status !== 'Pending' && c.status !== 'InProgress') return;
    if (c.hang) {
      c.status = 'InProgress';
      return;
    }
    const isPull = c.commands.some((l) => l.includes(' images pull '));
    const duration = isPull ? this.delays.pull : this.delays.command;
    if (this.now - c.sentAt < duration) {
      c.status = this.now > c.sentAt ? 'InProgress' : 'Pending';
      return;
    }
    this.execute(c);
  }

  /** Run a command's script against the instance's image store. */
  private execute(c: FakeCommand): void {
    const inst = this.instances.get(c.instanceId);
    const data = inst && this.volumes.get(inst.volumes.find((v) => v.device === '/dev/xvdb')?.id ?? '');
    const out: string[] = [];
    const fail = (stderr: string, code = 1) => {
      c.status = 'Failed';
      c.stderr = stderr;
      c.responseCode = code;
      c.stdout = out.join('\n') + (out.length ? '\n' : '');
    };
    if (!inst || inst.state !== 'running' || !data) return fail('instance is not running', -1);
    const script = c.commands.join('\n');
    const armed = this.commandFailures.find((f) => f.times > 0 && f.match.test(script));
    if (armed) {
      armed.times--;
      return fail(armed.stderr, armed.exitCode ?? 1);
    }
    // The admin container starts after the agent is online (assumption, see the file comment).
    const adminUp = this.now - inst.changedAt >= this.delays.ssmOnline + this.delays.adminReady;
    const vars = new Map<string, string>();
    for (const line of c.commands) {
      if (line === 'set -e' || line === 'set -o pipefail') continue;
      const cred = /^SDPIPE_ECR_PASSWORD="\$\(apiclient exec admin sh -c '(.*)' \| jq -r '\.auth\[\]\.password'\)"$/.exec(line);
      if (cred) {
        if (!adminUp) return fail('Failed to exec: admin container is not running', 1);
        const inner = /^printf %s "(.*)" \| sheltie (\S+)$/.exec(cred[1]);
        if (!inner || inner[2] !== PROVIDER) return fail(`sh: unexpected credential command: ${cred[1]}`, 127);
        let request: { apiVersion?: string; kind?: string; image?: string };
        try {
          request = JSON.parse(inner[1].replace(/\\"/g, '"')) as typeof request;
        } catch {
          return fail(`ecr-credential-provider: error decoding request: ${inner[1]}`, 1);
        }
        if (request.kind !== 'CredentialProviderRequest' || request.apiVersion !== 'credentialprovider.kubelet.k8s.io/v1') return fail('ecr-credential-provider: unexpected request kind or apiVersion', 1);
        if (!request.image?.startsWith(`${this.account}.dkr.ecr.${this.region}.`)) return fail(`ecr-credential-provider: image ${request.image} is not in this account's ECR`, 1);
        if (!this.hasEcrRead(inst)) return fail('ecr-credential-provider: AccessDeniedException: not authorized to perform: ecr:GetAuthorizationToken', 1);
        vars.set('SDPIPE_ECR_PASSWORD', this.instancePassword);
        continue;
      }
      const w = shellWords(line, vars);
      if (w[0] === 'test' && w[1] === '-n') {
        if (!w[2]) return fail('', 1);
        continue;
      }
      if (w[0] === 'echo') {
        out.push(w.slice(1).join(' '));
        continue;
      }
      if (w.slice(0, 4).join(' ') !== 'apiclient exec admin sheltie') return fail(`sh: ${w[0]}: not run on the host`, 127);
      if (!adminUp) return fail('Failed to exec: admin container is not running', 1);
      const host = w.slice(4);
      if (host.join(' ') === 'systemctl stop kubelet') {
        inst.kubeletStopped = true;
        continue;
      }
      if (host.join(' ') === 'systemctl is-active kubelet') {
        out.push(inst.kubeletStopped ? 'inactive' : 'active');
        continue;
      }
      if (host[0] === 'ctr' && host[1] === '-a' && host[2] === '/run/containerd/containerd.sock' && host[3] === 'version') {
        out.push('Client:', `  Version:  ${this.containerdVersion}`, '  Go version: go1.23.8', '', 'Server:', `  Version:  ${this.containerdVersion}`, '  UUID: 0c3e6b3a-0000-0000-0000-000000000000');
        continue;
      }
      if (host[0] === 'ctr' && host[1] === '-a' && host[2] === '/run/containerd/containerd.sock' && host[3] === '-n' && host[4] === 'k8s.io') {
        const args = host.slice(5);
        if (args[0] === 'images' && args[1] === 'ls' && args[2] === '-q') {
          out.push(...data.images);
          continue;
        }
        if (args[0] === 'images' && args[1] === 'check' && args.length === 2) {
          // Completeness and UNPACKED for the host's default platform only (checkCommand, containerd v2.0.5).
          out.push('REF TYPE DIGEST STATUS SIZE UNPACKED');
          for (const ref of data.images) {
            const digest = /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1] ?? `sha256:${'0'.repeat(64)}`;
            const fetched = data.fetched.get(ref)?.has(inst.platform) ?? false;
            const unpacked = data.unpacked.get(ref)?.has(inst.platform) ?? false;
            out.push(`${ref} application/vnd.oci.image.index.v1+json ${digest} ${fetched ? 'complete (7/7)' : 'incomplete (2/7)'} 1.2 GiB/1.2 GiB ${unpacked}`);
          }
          continue;
        }
        if (args[0] === 'images' && args[1] === 'pull') {
          const userAt = args.indexOf('--user');
          const user = userAt >= 0 ? args[userAt + 1] : '';
          const ref = args[args.length - 1];
          if (user !== `AWS:${this.password}` && user !== `AWS:${this.instancePassword}`) return fail(`ctr: failed to resolve reference "${ref}": unexpected status from HEAD request: 401 Unauthorized`);
          if (!this.registry.has(ref)) return fail(`ctr: failed to resolve reference "${ref}": ${ref}: not found`);
          if (!args.includes('--label') || !args.includes('io.cri-containerd.image=managed')) return fail('image not labelled for CRI');
          const platforms = args.flatMap((a, i) => (args[i - 1] === '--platform' ? [a] : []));
          const all = args.includes('--all-platforms');
          if (all && platforms.length > 0) return fail('ctr: cannot specify both --platform and --all-platforms');
          // Without a flag ctr pulls and unpacks the default platform; --all-platforms fetches everything and unpacks nothing (pull.go, v2.0.5).
          const fetchedNow = all ? ['linux/amd64', 'linux/arm64'] : platforms.length > 0 ? platforms : [inst.platform];
          const unpackedNow = all ? [] : fetchedNow;
          data.images.add(ref);
          const f = data.fetched.get(ref) ?? new Set<string>();
          for (const p of fetchedNow) f.add(p);
          data.fetched.set(ref, f);
          const u = data.unpacked.get(ref) ?? new Set<string>();
          for (const p of unpackedNow) u.add(p);
          data.unpacked.set(ref, u);
          continue;
        }
      }
      return fail(`unknown command: ${host.join(' ')}`, 127);
    }
    c.status = 'Success';
    c.responseCode = 0;
    c.stdout = out.join('\n') + (out.length ? '\n' : '');
  }

  private getInvocation(id: string): unknown {
    const c = this.commands.get(id);
    if (!c) throw awsError('InvocationDoesNotExist');
    // GetCommandInvocation returns the first 24,000 / 8,000 characters (API_GetCommandInvocation.html).
    return {
      CommandId: id,
      InstanceId: c.instanceId,
      Status: c.status,
      ResponseCode: c.responseCode,
      StandardOutputContent: c.stdout.slice(0, SSM_STDOUT_LIMIT),
      StandardErrorContent: c.stderr.slice(0, SSM_STDERR_LIMIT),
    };
  }

  // ---- helpers for assertions ----

  /** Snapshots not deleted. */
  liveSnapshots(): FakeSnapshot[] {
    return [...this.snapshots.values()].filter((s) => !s.deleted);
  }

  /** Instances not on their way out (pending, running, stopping, stopped). */
  liveInstances(): FakeInstance[] {
    return [...this.instances.values()].filter((i) => i.state !== 'terminated' && i.state !== 'shutting-down');
  }

  /** Number of calls of an operation so far. */
  count(op: string): number {
    return this.calls.filter((c) => c === op || c.startsWith(`${op}(`)).length;
  }
}
