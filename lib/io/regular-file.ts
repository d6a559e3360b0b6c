// Opens paths that must be regular files without ever blocking: a FIFO (or /dev/zero behind a
// symlink) handed to a plain open()/read() blocks a thread forever, and with it close() and even
// process.exit(), which joins the libuv pool. Files are opened non-blocking (a FIFO opens at once),
// checked with fstat on the same descriptor (no race with a rename) and read once.
import fs from 'node:fs';

/** open() flags for a path that must be a regular file: a FIFO opens at once instead of blocking. */
export const REGULAR_FILE_OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/** Why a path could not be read as a regular file; `reason` says which case. */
export class FileAccessError extends Error {
  constructor(
    readonly reason: 'not-found' | 'not-regular' | 'too-large' | 'unreadable',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'FileAccessError';
  }
}

/** "a FIFO", "a directory", ...: what a non-regular file is, for messages. */
export function describeFileKind(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe) or pipe';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

function openFailure(file: string, error: unknown): FileAccessError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FileAccessError('not-found', `file not found: ${file}`, { cause: error });
  if (code === 'EISDIR') return new FileAccessError('not-regular', `${file} is a directory, not a regular file`, { cause: error });
  if (code === 'ENXIO') return new FileAccessError('not-regular', `${file} is a socket or device, not a regular file`, { cause: error });
  return new FileAccessError('unreadable', `cannot open ${file}: ${(error as Error).message}`, { cause: error });
}

function notRegular(file: string, stat: fs.Stats): FileAccessError {
  return new FileAccessError('not-regular', `${file} is ${describeFileKind(stat)}, not a regular file`);
}

/** Reads a regular file of at most `maxBytes` bytes. */
export async function readRegularFile(file: string, maxBytes: number): Promise<Buffer> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, REGULAR_FILE_OPEN_FLAGS);
  } catch (error) {
    throw openFailure(file, error);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notRegular(file, stat);
    if (stat.size > maxBytes) {
      throw new FileAccessError('too-large', `${file} is ${stat.size} bytes, more than the ${maxBytes} an image within the pixel limit can take`);
    }
    // Read what is there now, even if the file grows meanwhile (bounded by maxBytes).
    const buffer = Buffer.allocUnsafe(stat.size);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === buffer.length ? buffer : buffer.subarray(0, filled);
  } catch (error) {
    if (error instanceof FileAccessError) throw error;
    throw new FileAccessError('unreadable', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  } finally {
    await handle.close();
  }
}

/** Opens a regular file for positional reads (the caller closes the descriptor). */
export function openRegularFileSync(file: string): { fd: number; stat: fs.Stats } {
  let fd: number;
  try {
    fd = fs.openSync(file, REGULAR_FILE_OPEN_FLAGS);
  } catch (error) {
    throw openFailure(file, error);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw notRegular(file, stat);
    return { fd, stat };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/** stat() of a path that must be a regular file (follows symlinks; never opens it). */
export async function statRegularFile(file: string): Promise<fs.Stats> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch (error) {
    throw openFailure(file, error);
  }
  if (!stat.isFile()) throw notRegular(file, stat);
  return stat;
}
