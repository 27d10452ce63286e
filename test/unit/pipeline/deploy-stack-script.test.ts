/**
 * The deploy job's script (pipeline/github/deploy-stack-script.ts), run with bash against a fake `aws`
 * on PATH that records its calls and plays CloudFormation's part from a state file.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEPLOY_STACK_SCRIPT } from '../../../pipeline/github/deploy-stack-script';

const FAKE_AWS = `#!/usr/bin/env bash
echo "$*" >> "$FAKE_DIR/calls"
state="$FAKE_DIR/state"
case "$1 $2" in
  "cloudformation describe-stacks")
    if [ "$(cat "$state")" = NONE ]; then echo "Stack with id x does not exist" >&2; exit 254; fi
    cat "$state" ;;
  "cloudformation create-change-set") echo '{"Id": "arn:change-set"}' ;;
  "cloudformation wait")
    case "$3" in
      change-set-create-complete) [ "$FAKE_CHANGESET" = ok ] || exit 255 ;;
      stack-*)
        n=$(cat "$FAKE_DIR/waits" 2>/dev/null || echo 0); echo $((n + 1)) > "$FAKE_DIR/waits"
        if [ "$n" -lt "\${FAKE_SLOW_WAITS:-0}" ]; then echo "\${FAKE_IN_PROGRESS:-UPDATE_IN_PROGRESS}" > "$state"; exit 255; fi
        echo "$FAKE_FINAL" > "$state"
        case "$FAKE_FINAL" in CREATE_COMPLETE|UPDATE_COMPLETE) exit 0 ;; *) exit 255 ;; esac ;;
    esac ;;
  "cloudformation describe-change-set")
    if [ "$FAKE_CHANGESET" = empty ]; then echo "The submitted information didn't contain changes. Submit different information to create a change set."; else echo "Template format error: bad"; fi ;;
  "cloudformation execute-change-set"|"cloudformation delete-change-set") ;;
  *) echo "unexpected: $*" >&2; exit 99 ;;
esac
`;

interface Run { code: number; stdout: string; calls: string[] }

function run(initial: string, changeSet: 'ok' | 'empty' | 'failed', final = 'UPDATE_COMPLETE', slowWaits = 0): Run {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-deploy-script-'));
  try {
    fs.writeFileSync(path.join(dir, 'aws'), FAKE_AWS, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'state'), initial);
    const r = spawnSync('bash', ['-c', DEPLOY_STACK_SCRIPT.join('\n')], {
      encoding: 'utf8',
      env: {
        PATH: `${dir}:${process.env.PATH}`,
        FAKE_DIR: dir,
        FAKE_CHANGESET: changeSet,
        FAKE_FINAL: final,
        FAKE_SLOW_WAITS: String(slowWaits),
        STACK_NAME: 'sdoneks-prod-cn',
        TEMPLATE_URL: 'https://bucket.s3.cn-northwest-1.amazonaws.com.cn/abc.json',
        CFN_EXECUTION_ROLE_ARN: 'arn:aws-cn:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-cn-northwest-1',
        CAPABILITIES: 'CAPABILITY_IAM CAPABILITY_NAMED_IAM',
        GITHUB_RUN_ID: '42',
        GITHUB_RUN_ATTEMPT: '1',
      },
    });
    const calls = fs.existsSync(path.join(dir, 'calls')) ? fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n') : [];
    return { code: r.status ?? -1, stdout: r.stdout + r.stderr, calls };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const verbs = (r: Run) => r.calls.map((c) => c.split(' ').slice(1, 3).join(' '));

describe('the deploy job script', () => {
  it('creates a new stack through a CREATE change set with the execution role and capabilities', () => {
    const r = run('NONE', 'ok', 'CREATE_COMPLETE');
    expect(r.code).toBe(0);
    expect(verbs(r)).toEqual(['describe-stacks --stack-name', 'create-change-set --stack-name', 'wait change-set-create-complete', 'execute-change-set --stack-name', 'wait stack-create-complete']);
    expect(r.calls[1]).toBe('cloudformation create-change-set --stack-name sdoneks-prod-cn --change-set-name sdpipe-42-1 --change-set-type CREATE --template-url https://bucket.s3.cn-northwest-1.amazonaws.com.cn/abc.json --role-arn arn:aws-cn:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-cn-northwest-1 --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM');
    expect(r.stdout).toContain('sdoneks-prod-cn deployed');
  });

  it('updates an existing stack, waiting past the waiter\'s own time limit while the update is in progress', () => {
    const r = run('UPDATE_COMPLETE', 'ok', 'UPDATE_COMPLETE', 2);
    expect(r.code).toBe(0);
    expect(r.calls[1]).toContain('--change-set-type UPDATE');
    expect(verbs(r).filter((v) => v === 'wait stack-update-complete')).toHaveLength(3);
    expect(r.stdout).toContain('is still UPDATE_IN_PROGRESS');
  });

  it('succeeds without executing when the change set has no changes, and removes it', () => {
    const r = run('UPDATE_COMPLETE', 'empty');
    expect(r.code).toBe(0);
    expect(verbs(r)).toContain('delete-change-set --stack-name');
    expect(verbs(r)).not.toContain('execute-change-set --stack-name');
    expect(r.stdout).toContain('is up to date');
  });

  it('fails, with the reason, when the change set fails', () => {
    const r = run('UPDATE_COMPLETE', 'failed');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('::error::change set sdpipe-42-1 of sdoneks-prod-cn failed: Template format error: bad');
    expect(verbs(r)).not.toContain('execute-change-set --stack-name');
  });

  it('fails when the update rolls back', () => {
    const r = run('UPDATE_COMPLETE', 'ok', 'UPDATE_ROLLBACK_COMPLETE');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('::error::sdoneks-prod-cn ended UPDATE_ROLLBACK_COMPLETE');
  });

  it('refuses a stack left in ROLLBACK_COMPLETE or still in progress', () => {
    expect(run('ROLLBACK_COMPLETE', 'ok').stdout).toContain('is ROLLBACK_COMPLETE: delete it, then re-run');
    const busy = run('UPDATE_IN_PROGRESS', 'ok');
    expect(busy.code).toBe(1);
    expect(verbs(busy)).toEqual(['describe-stacks --stack-name']);
  });
});
