/**
 * A local model file (the guide's "downloaded by hand" flow), read from any offset.
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors';
import type { ByteSource, SourceBody, SourceProbe } from './byte-source';

/** Options of {@link FileByteSource}. */
export interface FileByteSourceOptions {
  /** Read buffer size, in bytes. @default 1 MiB */
  readonly highWaterMark?: number;
}

/** A local file as a {@link ByteSource}. */
export class FileByteSource implements ByteSource {
  /** The path, for messages. */
  readonly label: string;

  constructor(
    /** Absolute path of the file. */
    readonly path: string,
    private readonly options: FileByteSourceOptions = {},
  ) {
    this.label = path;
  }

  private async stat(): Promise<fs.Stats> {
    try {
      const st = await fs.promises.stat(this.path);
      if (!st.isFile()) throw new UsageError(`model source ${this.path} is not a regular file`, 'point the source at the downloaded model file');
      return st;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read model source ${this.path}: ${code ?? (err as Error).message}`, 'check the path in models.files[].source (bare paths are relative to the current folder)');
    }
  }

  /** Size and modification time of the file. */
  async probe(): Promise<SourceProbe> {
    const st = await this.stat();
    return { size: st.size, tag: `${st.size}-${st.mtimeMs}` };
  }

  /** A read stream from `offset`. */
  async open(offset: number): Promise<SourceBody> {
    const st = await this.stat();
    const body = fs.createReadStream(this.path, { start: offset, highWaterMark: this.options.highWaterMark ?? 1024 * 1024 });
    return { start: offset, size: st.size, tag: `${st.size}-${st.mtimeMs}`, body };
  }
}
