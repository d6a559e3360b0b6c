// A file appears whole or not at all: written to a temporary file in the same directory, fsynced,
// then renamed over the target (rename is atomic within a filesystem).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes `data` to `target` atomically; creates the target's folder when missing. `temp` (in the
 * target's folder) defaults to a unique name; the temporary file is removed when the write fails.
 */
export async function writeFileAtomic(
  target: string,
  data: Uint8Array | string,
  temp = `${target}.tmp-${process.pid}-${crypto.randomBytes(6).toString('hex')}`,
): Promise<void> {
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  const handle = await fs.promises.open(temp, 'w');
  try {
    await handle.writeFile(data);
    // Without it a crash after the rename could leave the target empty on some filesystems.
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.promises.rename(temp, target);
  } catch (error) {
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
}
