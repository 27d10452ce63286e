/**
 * The shell script of the generated workflow's deploy job: deploy one stack from the template
 * the asset job published, through a CloudFormation change set, with the CDK execution role, and
 * wait for it to finish. It replaces cdk-pipelines-github's `aws-actions/aws-cloudformation-github-deploy`
 * step, so the workflow uses only actions pinned by commit; it needs the AWS CLI on the runner.
 * Inputs (environment variables): STACK_NAME, TEMPLATE_URL, CFN_EXECUTION_ROLE_ARN, CAPABILITIES.
 * test/unit/pipeline/deploy-stack-script.test.ts runs it against a fake `aws`.
 */

/** The script, line by line. */
export const DEPLOY_STACK_SCRIPT: readonly string[] = [
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
  '# shellcheck disable=SC2086 # CAPABILITIES is a space-separated list',
  'aws cloudformation create-change-set --stack-name "$STACK_NAME" --change-set-name "$change_set" --change-set-type "$type" --template-url "$TEMPLATE_URL" --role-arn "$CFN_EXECUTION_ROLE_ARN" --capabilities $CAPABILITIES > /dev/null',
  'if ! aws cloudformation wait change-set-create-complete --stack-name "$STACK_NAME" --change-set-name "$change_set"; then',
  '  reason="$(aws cloudformation describe-change-set --stack-name "$STACK_NAME" --change-set-name "$change_set" --query StatusReason --output text)"',
  '  case "$reason" in',
  '    *"didn\'t contain changes"*|*"No updates are to be performed"*)',
  '      aws cloudformation delete-change-set --stack-name "$STACK_NAME" --change-set-name "$change_set"',
  '      echo "$STACK_NAME is up to date"',
  '      exit 0 ;;',
  '  esac',
  '  echo "::error::change set $change_set of $STACK_NAME failed: $reason"',
  '  exit 1',
  'fi',
  'aws cloudformation execute-change-set --stack-name "$STACK_NAME" --change-set-name "$change_set"',
  'echo "executing change set $change_set ($type) of $STACK_NAME"',
  'if [ "$type" = CREATE ]; then waiter=stack-create-complete; else waiter=stack-update-complete; fi',
  'until aws cloudformation wait "$waiter" --stack-name "$STACK_NAME"; do',
  '  status="$(stack_status)"',
  '  case "$status" in',
  '    *_IN_PROGRESS) echo "$STACK_NAME is still $status" ;;',
  '    *) echo "::error::$STACK_NAME ended $status; see its events in the CloudFormation console"; exit 1 ;;',
  '  esac',
  'done',
  'echo "$STACK_NAME deployed"',
];
