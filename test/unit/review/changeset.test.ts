/**
 * lib/review/changeset.ts against a stateful fake of CloudFormation (aws-sdk-client-mock) serving the
 * responses of test/unit/review/fixtures/changeset/: pagination, replacements first, IAM and security
 * groups called out, the GPU node and chart/image drift warnings, and an empty change set.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudFormationClient, DescribeChangeSetCommand, DescribeStacksCommand, GetTemplateCommand } from '@aws-sdk/client-cloudformation';
import type { DescribeChangeSetCommandOutput, DescribeStacksCommandOutput } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { analyzeChangeSet, driftWarnings, parameterChanges, readChangeSet, renderChangeSetJson, renderChangeSetMarkdown, renderChangeSetText } from '../../../lib/review/changeset';
import type { ChangeSetReport } from '../../../lib/review/changeset';
import { runCli } from '../cli/run-cli';
import * as os from 'node:os';

interface Fixture {
  stack: string;
  changeSet: string;
  describeChangeSetPages: DescribeChangeSetCommandOutput[];
  describeStacks: DescribeStacksCommandOutput;
  currentTemplate: Record<string, unknown>;
  newTemplate: Record<string, unknown>;
}

function fixture(name: string): Fixture {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'changeset', `${name}.json`), 'utf8')) as Fixture;
}

const cfn = mockClient(CloudFormationClient);

/**
 * A fake CloudFormation holding one stack and its change sets. It answers as the API reference says:
 * DescribeChangeSet pages by NextToken and fails with ChangeSetNotFoundException for an unknown change set
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html), GetTemplate
 * gives the change set's template with ChangeSetName, else the stack's
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_GetTemplate.html).
 */
function serve(f: Fixture): { calls: string[] } {
  const calls: string[] = [];
  cfn.reset();
  cfn.on(DescribeChangeSetCommand).callsFake((input: { StackName?: string; ChangeSetName?: string; NextToken?: string; IncludePropertyValues?: boolean }) => {
    calls.push(`DescribeChangeSet ${input.ChangeSetName} ${input.NextToken ?? '-'} ${String(input.IncludePropertyValues)}`);
    if (input.StackName !== f.stack || input.ChangeSetName !== f.changeSet) {
      throw Object.assign(new Error(`ChangeSet [${input.ChangeSetName}] does not exist`), { name: 'ChangeSetNotFoundException' });
    }
    const i = input.NextToken ? f.describeChangeSetPages.findIndex((_p, k) => k > 0 && f.describeChangeSetPages[k - 1].NextToken === input.NextToken) : 0;
    return f.describeChangeSetPages[i];
  });
  cfn.on(DescribeStacksCommand).callsFake(() => f.describeStacks);
  cfn.on(GetTemplateCommand).callsFake((input: { StackName?: string; ChangeSetName?: string }) => {
    calls.push(`GetTemplate ${input.ChangeSetName ?? 'stack'}`);
    return { TemplateBody: JSON.stringify(input.ChangeSetName ? f.newTemplate : f.currentTemplate) };
  });
  return { calls };
}

async function report(name: string): Promise<{ report: ChangeSetReport; calls: string[] }> {
  const f = fixture(name);
  const { calls } = serve(f);
  const r = analyzeChangeSet(await readChangeSet(new CloudFormationClient({ region: 'cn-northwest-1' }), f.stack, f.changeSet));
  return { report: r, calls };
}

describe('a change set at the approval', () => {
  it('reads every page with property values, and both templates', async () => {
    const { report: r, calls } = await report('upgrade');
    expect(calls).toEqual(expect.arrayContaining(['DescribeChangeSet sdpipe-123-1 - true', 'DescribeChangeSet sdpipe-123-1 page-2 true', 'GetTemplate sdpipe-123-1', 'GetTemplate stack']));
    expect(r.resources.map((x) => x.logicalId).sort()).toEqual(['NodeSecurityGroup', 'OutputsBucket', 'RuntimeRole', 'sdruntimeRelease']);
  });

  it('puts replacements first (the replacement is on the second page)', async () => {
    const { report: r } = await report('upgrade');
    expect(r.resources[0]).toMatchObject({ logicalId: 'OutputsBucket', replacement: 'True', causes: ['Properties.BucketName'] });
    const md = renderChangeSetMarkdown(r);
    expect(md.indexOf('`OutputsBucket`')).toBeLessThan(md.indexOf('`RuntimeRole`'));
    expect(md).toContain('| `OutputsBucket` | AWS::S3::Bucket | **replace** |');
  });

  it('calls out IAM and security group changes with the review\'s template diff', async () => {
    const { report: r } = await report('upgrade');
    expect(r.templateDiff.securityChanges).toBe(true);
    expect(r.templateDiff.iam.flat().join(' ')).toContain('s3:PutObject');
    expect(r.templateDiff.securityGroups.flat().join(' ')).toContain('Everyone (IPv4)');
    const md = renderChangeSetMarkdown(r);
    expect(md).toContain('**IAM statement changes**');
    expect(md).toContain('**Security group changes**');
  });

  it('warns that a new snapshot id replaces every GPU node (failing fake: the snapshot changes)', async () => {
    const { report: r } = await report('upgrade');
    const gpu = r.warnings.filter((w) => w.kind === 'gpu-nodes').map((w) => w.message);
    expect(gpu).toEqual(expect.arrayContaining([expect.stringContaining('/sdpipe/prod-cn/snapshot-id: snap-0aaaaaaaaaaaaaaaa → snap-0bbbbbbbbbbbbbbbb')]));
    expect(renderChangeSetMarkdown(r)).toContain('⚠️ GPU nodes');
    expect(renderChangeSetText(r)).toContain('WARNING (gpu-nodes)');
  });

  it('warns when the karpenter block of a Helm release\'s values changes, not when other values do', async () => {
    const { report: r } = await report('upgrade');
    // Only `runtime.replicas` changes in sdruntimeRelease: its NodeClass and NodePool stay.
    expect(r.warnings.some((w) => w.message.includes('sdruntimeRelease'))).toBe(false);
    const f = fixture('upgrade');
    const rel = (f.newTemplate.Resources as Record<string, { Properties: { Values: string } }>).sdruntimeRelease;
    rel.Properties.Values = rel.Properties.Values.replace('g5.xlarge', 'g6.xlarge');
    serve(f);
    const changed = analyzeChangeSet(await readChangeSet(new CloudFormationClient({ region: 'cn-northwest-1' }), f.stack, f.changeSet));
    expect(changed.warnings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'gpu-nodes', message: expect.stringContaining('karpenter block') })]));
  });

  it('warns of a chart that moves without its images (failing fake), not of a chart that moves with them (passing fake)', async () => {
    const { report: upgrade } = await report('upgrade');
    expect(upgrade.warnings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'chart-drift', message: expect.stringContaining('chart keda changes but none of its images (keda, keda-admission-webhooks)') })]));
    const { report: quiet } = await report('quiet');
    expect(quiet.warnings).toEqual([]);
    expect(quiet.parameters.map((p) => p.ssmName)).toEqual(['/sdpipe/prod-cn/charts/keda', '/sdpipe/prod-cn/images/keda', '/sdpipe/prod-cn/images/sdwebui']);
    expect(quiet.resources[0].causes).toEqual(['Properties.Values (ParameterReference ImageSdwebui)']);
  });

  it('warns of an image of a chart that moves without the chart', () => {
    const p = (key: string, name: string, v: string) => ({ ParameterKey: key, ParameterValue: name, ResolvedValue: v });
    const before = [p('C', '/sdpipe/e/charts/karpenter', 'c1'), p('I', '/sdpipe/e/images/karpenter', 'i1')];
    const after = [p('C', '/sdpipe/e/charts/karpenter', 'c1'), p('I', '/sdpipe/e/images/karpenter', 'i2')];
    expect(driftWarnings(parameterChanges(before, after), after)).toEqual([expect.objectContaining({ kind: 'image-drift', message: expect.stringContaining('image(s) karpenter of chart karpenter') })]);
    expect(driftWarnings(parameterChanges(before, before), before)).toEqual([]);
  });

  it('renders an empty change set as "no changes", without warnings', async () => {
    const { report: r } = await report('empty');
    expect(r.empty).toBe(true);
    expect(r.warnings).toEqual([]);
    expect(renderChangeSetMarkdown(r)).toContain('No changes: the stack is up to date');
    expect(JSON.parse(renderChangeSetJson(r))).toMatchObject({ empty: true, changeSet: 'sdpipe-125-1' });
  });

  it('says which change set is missing and how to prepare it', async () => {
    serve(fixture('upgrade'));
    await expect(readChangeSet(new CloudFormationClient({ region: 'cn-northwest-1' }), 'sdoneks-prod-cn', 'PipelineChange')).rejects.toThrow(/change set PipelineChange of stack sdoneks-prod-cn does not exist/);
  });

  it('sdpipe changeset render prints the render and writes the Markdown with --out; exits 1 for a failed change set', async () => {
    serve(fixture('upgrade'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-changeset-'));
    try {
      const out = path.join(dir, 'changeset.md');
      const r = await runCli(['changeset', 'render', '--stack', 'sdoneks-prod-cn', '--change-set', 'sdpipe-123-1', '--region', 'cn-northwest-1', '--format', 'text', '--out', out]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('change set sdpipe-123-1 of sdoneks-prod-cn: CREATE_COMPLETE, 4 resource change(s)');
      expect(r.stdout.split('\n')[r.stdout.split('\n').findIndex((l) => /^\s+replace/.test(l))]).toContain('OutputsBucket');
      expect(fs.readFileSync(out, 'utf8')).toContain('## Change set `sdpipe-123-1` of `sdoneks-prod-cn`');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const failed = fixture('empty');
    failed.describeChangeSetPages[0].StatusReason = 'Template format error: bad';
    serve(failed);
    const f = await runCli(['changeset', 'render', '--stack', 'sdoneks-prod-cn', '--change-set', 'sdpipe-125-1', '--region', 'cn-northwest-1']);
    expect(f.code).toBe(1);
    expect(f.stdout).toContain('❌ status: change set sdpipe-125-1 is FAILED: Template format error: bad');
  });
});
