/**
 * Progress reporting for long transfers: a live, redrawn display on a TTY, and a periodic
 * one-line summary elsewhere (CI logs). Writes to a stream given by the caller (stderr by
 * default), so that `--format json` output on stdout stays clean.
 */

/** A sink for transfer progress; each item is a blob, a file or a part. */
export interface ProgressReporter {
  /** An item starts; `total` in bytes when known. */
  start(id: string, label: string, total?: number): void;
  /** `bytes` more bytes of the item moved. */
  advance(id: string, bytes: number): void;
  /** The item finished (successfully or not). */
  done(id: string, outcome?: string): void;
  /** Stop rendering and print nothing more. */
  close(): void;
}

/** A reporter that prints nothing (for `--format json`, tests, libraries). */
export const silentProgress: ProgressReporter = {
  start() {},
  advance() {},
  done() {},
  close() {},
};

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Where to write. @default process.stderr */
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Force TTY or line mode. @default the stream's isTTY */
  readonly tty?: boolean;
  /** Interval between lines in line mode, ms. @default 10000 */
  readonly lineIntervalMs?: number;
  /** Interval between redraws on a TTY, ms. @default 200 */
  readonly redrawMs?: number;
  /** Injectable clock. @default Date.now */
  readonly now?: () => number;
}

interface Item {
  label: string;
  total?: number;
  moved: number;
  started: number;
}

/** Format a byte count as B, KiB, MiB or GiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Create a reporter that renders live on a TTY and prints periodic lines elsewhere. */
export function createProgress(options: ProgressOptions = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? Boolean((stream as { isTTY?: boolean }).isTTY);
  const now = options.now ?? Date.now;
  const items = new Map<string, Item>();
  let totalMoved = 0;
  let drawnLines = 0;
  let closed = false;
  const begin = now();

  const line = (it: Item): string => {
    const pct = it.total ? ` ${((100 * it.moved) / it.total).toFixed(0).padStart(3)}%` : '';
    const secs = Math.max(0.001, (now() - it.started) / 1000);
    const rate = `${formatBytes(it.moved / secs)}/s`;
    const of = it.total ? ` / ${formatBytes(it.total)}` : '';
    return `${it.label}${pct} ${formatBytes(it.moved)}${of} ${rate}`;
  };

  const draw = () => {
    if (closed) return;
    const width = (stream as { columns?: number }).columns ?? 120;
    let out = drawnLines > 0 ? `\x1b[${drawnLines}A` : '';
    const lines = [...items.values()].map((it) => line(it).slice(0, width - 1));
    for (const l of lines) out += `\x1b[2K${l}\n`;
    for (let i = lines.length; i < drawnLines; i++) out += '\x1b[2K\n';
    stream.write(out);
    drawnLines = Math.max(lines.length, drawnLines);
  };

  const summary = () => {
    const secs = Math.max(0.001, (now() - begin) / 1000);
    const active = [...items.values()];
    const parts = active.slice(0, 3).map(line).join('; ');
    stream.write(`progress: ${formatBytes(totalMoved)} moved, ${formatBytes(totalMoved / secs)}/s, ${active.length} active${parts ? `: ${parts}` : ''}\n`);
  };

  const timer = setInterval(tty ? draw : summary, tty ? (options.redrawMs ?? 200) : (options.lineIntervalMs ?? 10_000));
  timer.unref();

  return {
    start(id, label, total) {
      items.set(id, { label, total, moved: 0, started: now() });
    },
    advance(id, bytes) {
      totalMoved += bytes;
      const it = items.get(id);
      if (it) it.moved += bytes;
    },
    done(id, outcome) {
      const it = items.get(id);
      items.delete(id);
      if (it && !tty && outcome) stream.write(`${it.label}: ${outcome}\n`);
      if (tty) draw();
    },
    close() {
      clearInterval(timer);
      if (tty) draw();
      closed = true;
    },
  };
}
