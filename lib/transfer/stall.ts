/** A body read with a watchdog: no byte for the stall timeout fails the read. */

/**
 * Read `body` chunk by chunk, aborting it when nothing arrives for `stallMs` (the watchdog runs
 * only while waiting for the source, not while `onChunk` holds it back). `onChunk` returns false
 * to stop reading early.
 */
export async function readWithStallTimeout(
  body: AsyncIterable<Buffer>,
  stallMs: number,
  onStall: () => Error,
  onChunk: (chunk: Buffer) => boolean | void | Promise<boolean | void>,
): Promise<void> {
  const it = body[Symbol.asyncIterator]();
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(onStall()), stallMs);
    });
    let r: IteratorResult<Buffer>;
    try {
      r = await Promise.race([it.next(), stalled]);
    } finally {
      clearTimeout(timer);
    }
    if (r.done) return;
    if ((await onChunk(r.value)) === false) return;
  }
}
