// Output files appear whole or not at all: each attempt writes a temp file next to the target,
// fsyncs it and renames it over the target (rename is atomic within a filesystem). A retried job
// rewrites the same bytes, so a job run twice (at-least-once delivery) leaves one identical file.
//
// Temp names are `.<target name>.<job key>-<attempt>.lotus-tmp`: a worker killed mid-write leaves
// one behind, and the attempt that takes the job over deletes those of the earlier attempts.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic as writeAtomically } from '../io/atomic-file';

export const TEMP_SUFFIX = '.lotus-tmp';

/** Bounds the cleanup loop; BullMQ's attempts + stall recoveries stay far below it. */
const MAX_CLEANUP_ATTEMPTS = 1000;

/** A short, file-name-safe key of a job id. */
export function jobKey(jobId: string): string {
  return crypto.createHash('sha256').update(jobId).digest('hex').slice(0, 16);
}

export function tempPath(target: string, key: string, attempt: number): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${key}-${attempt}${TEMP_SUFFIX}`);
}

/** Deletes the temp files earlier attempts (1 .. attempt-1) of this job may have left for `target`. */
export async function removeEarlierTemps(target: string, key: string, attempt: number): Promise<void> {
  for (let a = 1; a < Math.min(attempt, MAX_CLEANUP_ATTEMPTS); a++) {
    await fs.promises.rm(tempPath(target, key, a), { force: true });
  }
}

/** Writes `data` to `target` atomically through this attempt's temp name; creates the target's folder when missing. */
export function writeFileAtomic(target: string, data: Uint8Array, key: string, attempt: number): Promise<void> {
  return writeAtomically(target, data, tempPath(target, key, attempt));
}
