/**
 * Publishing a mirror lock to SSM Parameter Store: `/sdpipe/<env>/images/<name>` (and
 * `/sdpipe/<env>/charts/<name>`) = `<registry>/<repository>@sha256:<digest>`, which the deploy
 * stage reads at deploy time. A parameter that already holds the value is left alone, so a
 * re-run creates no new parameter versions.
 */
import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { pinnedReference, type ImagesLock } from '../contracts/images-lock';
import { environmentParameterPrefix, mirrorParameterName, parameterArnResource } from '../contracts/parameters';
import { SdpipeError } from '../errors';

/** One parameter written (or found up to date). */
export interface PublishedParameter {
  readonly name: string;
  readonly value: string;
  /** False when it already held the value. */
  readonly changed: boolean;
}

/**
 * Write the parameters of every entry of a lock.
 * @throws SdpipeError naming the parameter, with a hint about the permissions needed
 */
export async function publishLock(ssm: SSMClient, lock: ImagesLock): Promise<PublishedParameter[]> {
  const out: PublishedParameter[] = [];
  const entries = [
    ...lock.images.map((e) => ({ e, kind: 'images' as const })),
    ...lock.charts.map((e) => ({ e, kind: 'charts' as const })),
  ];
  for (const { e, kind } of entries) {
    const name = mirrorParameterName(lock.environment, kind, e.name);
    const value = pinnedReference(e);
    try {
      let current: string | undefined;
      try {
        current = (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
      } catch (err) {
        if ((err as { name?: string }).name !== 'ParameterNotFound') throw err;
      }
      if (current === value) {
        out.push({ name, value, changed: false });
        continue;
      }
      await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: true, Description: `sdpipe mirror of ${e.source}` }));
      out.push({ name, value, changed: true });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new SdpipeError(`publishing SSM parameter ${name} failed: ${message}`, {
        cause: err,
        hint: `the role needs ssm:GetParameter and ssm:PutParameter on arn:<partition>:ssm:<region>:<account>:${parameterArnResource(`${environmentParameterPrefix(lock.environment)}*`)}`,
      });
    }
  }
  return out;
}
