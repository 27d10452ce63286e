/**
 * The shell scripts of the generated workflow's deploy, in two jobs: the Prepare job creates a
 * CloudFormation change set of the stage stack from the template the Synth job published, with the CDK
 * execution role ({@link PREPARE_CHANGE_SET_SCRIPT}); after the approval, the Deploy job executes exactly
 * that change set and waits for it ({@link EXECUTE_CHANGE_SET_SCRIPT}). They replace
 * cdk-pipelines-github's `aws-actions/aws-cloudformation-github-deploy` step, so the workflow uses only
 * actions pinned by commit; they need the AWS CLI on the runner.
 * test/unit/pipeline/deploy-stack-script.test.ts runs them against a fake `aws`.
 *
 * CloudFormation behaviour relied on: a change set's `Status`/`ExecutionStatus`
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html: only a
 * change set whose ExecutionStatus is AVAILABLE can be executed); a change set with no changes ends FAILED
 * with a StatusReason saying so (the reasons matched below are an assumption taken from observed messages);
 * a stack a CREATE change set made exists in REVIEW_IN_PROGRESS until the change set is executed
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html, ChangeSetType).
 */

/**
 * Prepare: create the change set `sdpipe-<run id>-<attempt>` and wait for it. Inputs: STACK_NAME,
 * TEMPLATE_URL, CFN_EXECUTION_ROLE_ARN, CAPABILITIES. Writes the step outputs `change-set` (its name)
 * and `changes` (`true`, or `false` when the stack is up to date: the empty change set is deleted),
 * and CHANGE_SET to the job's environment for the steps after it.
 */
export const PREPARE_CHANGE_SET_SCRIPT: readonly string[] = [
  'set -euo pipefail',
  'stack_status() { aws cloudformation describe-stacks --stack-name "$STACK_NAME" --query "Stacks[0].StackStatus" --output text 2>/dev/null || echo NONE; }',
  'status="$(stack_status)"',
  'case "$status" in',
  '  NONE|REVIEW_IN_PROGRESS) type=CREATE ;;',
  '  ROLLBACK_COMPLETE|ROLLBACK_FAILED|DELETE_FAILED) echo "::error::stack $STACK_NAME is $status: delete it, then re-run"; exit 1 ;;',
  '  *_IN_PROGRESS) echo "::error::stack $STACK_NAME is $status: wait for it to finish, then re-run"; exit 1 ;;',
  '  *) type=UPDATE ;;',
  'esac',
  'change_set="sdpipe-${GITHUB_RUN_ID:-local}-${GITHUB_RUN_ATTEMPT:-1}"',
  'echo "change-set=$change_set" >> "$GITHUB_OUTPUT"',
  'echo "CHANGE_SET=$change_set" >> "$GITHUB_ENV"',
  '# shellcheck disable=SC2086 # CAPABILITIES is a space-separated list',
  'aws cloudformation create-change-set --stack-name "$STACK_NAME" --change-set-name "$change_set" --change-set-type "$type" --template-url "$TEMPLATE_URL" --role-arn "$CFN_EXECUTION_ROLE_ARN" --capabilities $CAPABILITIES > /dev/null',
  'if ! aws cloudformation wait change-set-create-complete --stack-name "$STACK_NAME" --change-set-name "$change_set"; then',
  '  reason="$(aws cloudformation describe-change-set --stack-name "$STACK_NAME" --change-set-name "$change_set" --query StatusReason --output text)"',
  '  case "$reason" in',
  '    *"didn\'t contain changes"*|*"No updates are to be performed"*)',
  '      aws cloudformation delete-change-set --stack-name "$STACK_NAME" --change-set-name "$change_set"',
  '      echo "changes=false" >> "$GITHUB_OUTPUT"',
  '      echo "$STACK_NAME is up to date: Deploy executes nothing"',
  '      exit 0 ;;',
  '  esac',
  '  echo "::error::change set $change_set of $STACK_NAME failed: $reason"',
  '  exit 1',
  'fi',
  'echo "changes=true" >> "$GITHUB_OUTPUT"',
  'echo "prepared change set $change_set ($type) of $STACK_NAME"',
];

/**
 * Execute: run the change set the Prepare job prepared, never a new one. Inputs: STACK_NAME, CHANGE_SET
 * (the Prepare job's `change-set` output) and CHANGES (its `changes` output). Refuses a change set that
 * is no longer executable (executed, deleted, or made obsolete by another change to the stack).
 */
export const EXECUTE_CHANGE_SET_SCRIPT: readonly string[] = [
  'set -euo pipefail',
  'if [ "${CHANGES:-}" != true ]; then echo "$STACK_NAME is up to date: no change set to execute"; exit 0; fi',
  'if [ -z "${CHANGE_SET:-}" ]; then echo "::error::the Prepare job passed no change set name: re-run the whole workflow"; exit 1; fi',
  'stack_status() { aws cloudformation describe-stacks --stack-name "$STACK_NAME" --query "Stacks[0].StackStatus" --output text 2>/dev/null || echo NONE; }',
  'state="$(aws cloudformation describe-change-set --stack-name "$STACK_NAME" --change-set-name "$CHANGE_SET" --query "[Status,ExecutionStatus]" --output text 2>/dev/null || echo "MISSING MISSING")"',
  'state="$(echo "$state" | tr -s "[:space:]" " " | sed "s/ $//")"',
  'if [ "$state" != "CREATE_COMPLETE AVAILABLE" ]; then',
  '  echo "::error::the approved change set $CHANGE_SET of $STACK_NAME cannot be executed ($state): it was executed, deleted or made obsolete since the approval; re-run the whole workflow to prepare and approve a new one"',
  '  exit 1',
  'fi',
  'if [ "$(stack_status)" = REVIEW_IN_PROGRESS ]; then waiter=stack-create-complete; else waiter=stack-update-complete; fi',
  'aws cloudformation execute-change-set --stack-name "$STACK_NAME" --change-set-name "$CHANGE_SET"',
  'echo "executing the approved change set $CHANGE_SET of $STACK_NAME"',
  'until aws cloudformation wait "$waiter" --stack-name "$STACK_NAME"; do',
  '  status="$(stack_status)"',
  '  case "$status" in',
  '    *_IN_PROGRESS) echo "$STACK_NAME is still $status" ;;',
  '    *) echo "::error::$STACK_NAME ended $status; see its events in the CloudFormation console"; exit 1 ;;',
  '  esac',
  'done',
  'echo "$STACK_NAME deployed"',
];
