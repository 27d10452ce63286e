/**
 * The deployed stack's outputs the smoke test needs, read with CloudFormation DescribeStacks
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html:
 * `Stacks[].Outputs[]` of `OutputKey`/`OutputValue`, `StackStatus`). The keys are the CfnOutputs of
 * stages/sd-on-eks-stack.ts (`ClusterName`, `OutputS3Bucket`, `InputTopicArn`, `OutputTopicArn`) and
 * stages/constructs/request-api.ts `addOutputs` (`FrontApiEndpoint`, `ApiCustomDomainUrl` with a
 * custom domain, `GetAPIKeyCommand` carrying the API key's id); test/unit/stages/stage-suite.ts pins them.
 */
import { DescribeStacksCommand, type CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SdpipeError } from '../errors';

/** What the smoke test reads from the stack. */
export interface SmokeStackOutputs {
  /** The stack's status (CREATE_COMPLETE, UPDATE_COMPLETE, …). */
  readonly status: string;
  /** `FrontApiEndpoint`: `https://<api>.execute-api.<region>.<suffix>/<stage>/`. */
  readonly apiEndpoint?: string;
  /** `ApiCustomDomainUrl`: `https://<domain>/`, when the API has a custom domain. */
  readonly apiCustomDomainUrl?: string;
  /** The API key's id, taken from `GetAPIKeyCommand` (`aws apigateway get-api-key --api-key <id> …`). */
  readonly apiKeyId?: string;
  /** `GetAPIKeyCommand` as the stack outputs it. */
  readonly getApiKeyCommand?: string;
  /** `InputTopicArn`. */
  readonly inputTopicArn?: string;
  /** `OutputTopicArn`. */
  readonly outputTopicArn?: string;
  /** `OutputS3Bucket`. */
  readonly outputBucket?: string;
  /** `ClusterName`. */
  readonly clusterName?: string;
}

/** The API key id in a `GetAPIKeyCommand` output value, or undefined. */
export function apiKeyIdOf(command: string | undefined): string | undefined {
  return command ? /--api-key\s+(\S+)/.exec(command)?.[1] : undefined;
}

/** The request API's base URL the smoke test posts to: the custom domain when there is one, else the execute-api endpoint; always ending in "/". */
export function apiBaseUrl(outputs: SmokeStackOutputs): string | undefined {
  const url = outputs.apiCustomDomainUrl ?? outputs.apiEndpoint;
  return url === undefined ? undefined : url.endsWith('/') ? url : `${url}/`;
}

/** Statuses in which the stack's resources are in place (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html, StackStatus). */
const USABLE = /^(CREATE_COMPLETE|UPDATE_COMPLETE|UPDATE_ROLLBACK_COMPLETE|IMPORT_COMPLETE|UPDATE_COMPLETE_CLEANUP_IN_PROGRESS|IMPORT_ROLLBACK_COMPLETE)$/;

/**
 * Read the stack's outputs. Throws, naming the stack and region, when it does not exist or is not
 * in a usable state (a stack being created, rolled back or deleted has no results to wait for).
 */
export async function readStackOutputs(cfn: Pick<CloudFormationClient, 'send'>, stackName: string, region: string): Promise<SmokeStackOutputs> {
  let stack;
  try {
    stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (err) {
    // DescribeStacks answers ValidationError "Stack with id X does not exist" for a missing stack (API reference, Errors; assumption on the message text).
    if ((err as Error).name === 'ValidationError' && /does not exist/.test((err as Error).message)) stack = undefined;
    else throw err;
  }
  if (!stack) {
    throw new SdpipeError(`stack ${stackName} does not exist in ${region}`, { hint: 'deploy it first (the Deploy step, or `cdk deploy`), or check stackName and environment.region in the environment file' });
  }
  const status = stack.StackStatus ?? 'UNKNOWN';
  if (!USABLE.test(status)) {
    throw new SdpipeError(`stack ${stackName} in ${region} is ${status}; the smoke test needs a deployed stack`, { hint: 'wait for the deploy to finish (or fix it: see the stack events in the CloudFormation console), then run sdpipe smoke again' });
  }
  const out = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  return {
    status,
    apiEndpoint: out.FrontApiEndpoint,
    apiCustomDomainUrl: out.ApiCustomDomainUrl,
    getApiKeyCommand: out.GetAPIKeyCommand,
    apiKeyId: apiKeyIdOf(out.GetAPIKeyCommand),
    inputTopicArn: out.InputTopicArn,
    outputTopicArn: out.OutputTopicArn,
    outputBucket: out.OutputS3Bucket,
    clusterName: out.ClusterName,
  };
}
