/** docs/snapshot.md shows the policies sdpipe generates, and names every flag of the command. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { register } from '../../../bin/commands/snapshot';
import { bakeInstanceManagedPolicies, bakeInstanceTrustPolicy, bakeRunnerPolicy } from '../../../lib/snapshot/policy';
import { ROOT } from '../config/helpers';

const doc = fs.readFileSync(path.join(ROOT, 'docs', 'snapshot.md'), 'utf8');

describe('docs/snapshot.md', () => {
  it('holds the runner and trust policies exactly as `sdpipe snapshot policy` prints them', () => {
    const blocks = [...doc.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => m[1]);
    expect(blocks).toContain(JSON.stringify(bakeRunnerPolicy({ environment: 'dev', account: '111122223333', region: 'us-west-2' }), null, 2));
    expect(blocks).toContain(JSON.stringify(bakeInstanceTrustPolicy('us-west-2'), null, 2));
  });

  it('names every managed policy of the bake instance role, and keeps the real service behaviour table', () => {
    for (const arn of bakeInstanceManagedPolicies('us-west-2')) expect(doc).toContain(arn.replace('arn:aws:', 'arn:<partition>:'));
    const table = doc.slice(doc.indexOf('## Real service behaviour'));
    expect(table).toMatch(/\| behaviour \| source \| how sdpipe handles it \|/);
    for (const topic of ['ECR', 'InvalidInstanceId', 'CreateSnapshot', '24,000', '--all-platforms', 'images check']) expect(table).toContain(topic);
  });

  it('documents every flag of snapshot bake and janitor', () => {
    const program = new Command();
    register(program);
    const snapshot = program.commands.find((c) => c.name() === 'snapshot');
    for (const sub of snapshot?.commands ?? []) {
      for (const option of sub.options) expect({ command: sub.name(), flag: option.long, documented: doc.includes(`\`${option.long}`) }).toEqual({ command: sub.name(), flag: option.long, documented: true });
    }
  });
});
