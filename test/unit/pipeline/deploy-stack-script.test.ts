/**
 * The Prepare and Deploy jobs' scripts (pipeline/github/deploy-stack-script.ts), run with bash one after
 * the other (the Prepare job's outputs passed on as the workflow passes them) against a fake `aws` on
 * PATH that records its calls and plays CloudFormation's part from a state file.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXECUTE_CHANGE_SET_SCRIPT, PREPARE_CHANGE_SET_SCRIPT } from '../../../pipeline/github/deploy-stack-script';

const FAKE_AWS = `#!/usr/bin/env bash
echo "$*" >> "$FAKE_DIR/calls"
state="$FAKE_DIR/state"
case "$1 $2" in
  "cloudformation describe-stacks")
    if [ "$(cat "$state")" = NONE ]; then echo "Stack with id x does not exist" >&2; exit 254; fi
    cat "$state" ;;
  "cloudformation create-change-set")
    if [ "$(cat "$state")" = NONE ]; then echo REVIEW_IN_PROGRESS > "$state"; fi
    echo "$4 $6" > "$FAKE_DIR/changeset"
    echo '{"Id": "arn:change-set"}' ;;
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
    if [ "$8" = "[Status,ExecutionStatus]" ]; then
      if [ "$(cat "$FAKE_DIR/changeset" 2>/dev/null)" != "$4 $6" ]; then echo "ChangeSet [$6] does not exist" >&2; exit 254; fi
      if [ -f "$FAKE_DIR/executed" ]; then printf 'CREATE_COMPLETE\tEXECUTE_COMPLETE\n'; else printf 'CREATE_COMPLETE\tAVAILABLE\n'; fi
      exit 0
    fi
    if [ "$FAKE_CHANGESET" = empty ]; then echo "The submitted information didn't contain changes. Submit different information to create a change set."; else echo "Template format error: bad"; fi ;;
  "cloudformation execute-change-set") touch "$FAKE_DIR/executed" ;;
  "cloudformation delete-change-set") rm -f "$FAKE_DIR/changeset" ;;
  *) echo "unexpected: $*" >&2; exit 99 ;;
esac
`;

interface Run { code: number; stdout: string; calls: string[]; outputs: Record<string, string> }

function bash(script: readonly string[], env: Record<string, string>): { code: number; out: string } {
  const r = spawnSync('bash', ['-c', script.join('\n')], { encoding: 'utf8', env });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

function readKv(file: string): Record<string, string> {
  if (!fs.existsSync(file)) return {};
  return Object.fromEntries(fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/**
 * Prepare, then (when it succeeded) Deploy with the Prepare job's outputs, as the workflow wires them:
 * `needs.<prepare>.outputs.change-set` and `.changes`. `tamper` changes the name Deploy receives.
 */
function run(initial: string, changeSet: 'ok' | 'empty' | 'failed', final = 'UPDATE_COMPLETE', slowWaits = 0, tamper?: (outputs: Record<string, string>) => Record<string, string>): Run {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-deploy-script-'));
  try {
    fs.writeFileSync(path.join(dir, 'aws'), FAKE_AWS, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'state'), initial);
    const env = {
      PATH: `${dir}:${process.env.PATH}`,
      FAKE_DIR: dir,
      FAKE_CHANGESET: changeSet,
      FAKE_FINAL: final,
      FAKE_SLOW_WAITS: String(slowWaits),
      STACK_NAME: 'sdoneks-prod-cn',
      GITHUB_RUN_ID: '42',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_OUTPUT: path.join(dir, 'output'),
      GITHUB_ENV: path.join(dir, 'env'),
    };
    const prepare = bash(PREPARE_CHANGE_SET_SCRIPT, {
      ...env,
      TEMPLATE_URL: 'https://bucket.s3.cn-northwest-1.amazonaws.com.cn/abc.json',
      CFN_EXECUTION_ROLE_ARN: 'arn:aws-cn:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-cn-northwest-1',
      CAPABILITIES: 'CAPABILITY_IAM CAPABILITY_NAMED_IAM',
    });
    const outputs = readKv(path.join(dir, 'output'));
    let stdout = prepare.out;
    let code = prepare.code;
    if (code === 0) {
      const passed = tamper ? tamper(outputs) : outputs;
      // The Deploy job gets only what the workflow passes: no template URL, no execution role.
      const deploy = bash(EXECUTE_CHANGE_SET_SCRIPT, { PATH: env.PATH, FAKE_DIR: dir, FAKE_CHANGESET: changeSet, FAKE_FINAL: final, FAKE_SLOW_WAITS: String(slowWaits), STACK_NAME: env.STACK_NAME, CHANGE_SET: passed['change-set'] ?? '', CHANGES: passed.changes ?? '' });
      stdout += deploy.out;
      code = deploy.code;
    }
    const calls = fs.existsSync(path.join(dir, 'calls')) ? fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n') : [];
    return { code, stdout, calls, outputs };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const verbs = (r: Run) => r.calls.map((c) => c.split(' ').slice(1, 3).join(' '));

describe('the Prepare and Deploy jobs\' scripts', () => {
  it('creates a new stack through a CREATE change set with the execution role and capabilities', () => {
    const r = run('NONE', 'ok', 'CREATE_COMPLETE');
    expect(r.code).toBe(0);
    expect(verbs(r)).toEqual(['describe-stacks --stack-name', 'create-change-set --stack-name', 'wait change-set-create-complete', 'describe-change-set --stack-name', 'describe-stacks --stack-name', 'execute-change-set --stack-name', 'wait stack-create-complete']);
    expect(r.outputs).toEqual({ 'change-set': 'sdpipe-42-1', changes: 'true' });
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

  it('executes exactly the prepared change set: the name Prepare made, never a new one (failing fake: a renamed one)', () => {
    const r = run('UPDATE_COMPLETE', 'ok');
    expect(r.calls.filter((c) => /create-change-set/.test(c))).toHaveLength(1);
    expect(r.calls.find((c) => /execute-change-set/.test(c))).toBe('cloudformation execute-change-set --stack-name sdoneks-prod-cn --change-set-name sdpipe-42-1');
    const other = run('UPDATE_COMPLETE', 'ok', 'UPDATE_COMPLETE', 0, (o) => ({ ...o, 'change-set': 'sdpipe-43-1' }));
    expect(other.code).toBe(1);
    expect(other.stdout).toContain('::error::the approved change set sdpipe-43-1 of sdoneks-prod-cn cannot be executed');
    expect(verbs(other)).not.toContain('execute-change-set --stack-name');
  });

  it('refuses a change set executed since the approval (a re-run of Deploy)', () => {
    // Running the execute script twice against the same fake: the second sees EXECUTE_COMPLETE.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-deploy-script-'));
    try {
      fs.writeFileSync(path.join(dir, 'aws'), FAKE_AWS, { mode: 0o755 });
      fs.writeFileSync(path.join(dir, 'state'), 'UPDATE_COMPLETE');
      fs.writeFileSync(path.join(dir, 'changeset'), 'sdoneks-prod-cn sdpipe-42-1\n');
      const env = { PATH: `${dir}:${process.env.PATH}`, FAKE_DIR: dir, FAKE_CHANGESET: 'ok', FAKE_FINAL: 'UPDATE_COMPLETE', STACK_NAME: 'sdoneks-prod-cn', CHANGE_SET: 'sdpipe-42-1', CHANGES: 'true' };
      expect(bash(EXECUTE_CHANGE_SET_SCRIPT, env).code).toBe(0);
      const again = bash(EXECUTE_CHANGE_SET_SCRIPT, env);
      expect(again.code).toBe(1);
      expect(again.out).toContain('cannot be executed (CREATE_COMPLETE EXECUTE_COMPLETE)');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a stack left in ROLLBACK_COMPLETE or still in progress', () => {
    expect(run('ROLLBACK_COMPLETE', 'ok').stdout).toContain('is ROLLBACK_COMPLETE: delete it, then re-run');
    const busy = run('UPDATE_IN_PROGRESS', 'ok');
    expect(busy.code).toBe(1);
    expect(verbs(busy)).toEqual(['describe-stacks --stack-name']);
  });
});
