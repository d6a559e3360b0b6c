// Cross-process lock files for the engine cache (atomic writes: lib/io/atomic-file.ts).
// A lock is a file created with O_EXCL holding {pid, host}; its holder touches it every few
// seconds, so a lock whose holder died (same host: pid gone; any host: not touched for staleMs) is
// broken by the next waiter. Engine builds take minutes, hence the heartbeat instead of a timeout.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface LockOptions {
  /** A lock not refreshed for this long is considered abandoned (default 60 s). */
  staleMs?: number;
  /** How often the holder refreshes it (default staleMs / 4). */
  heartbeatMs?: number;
  /** How often a waiter checks (default 250 ms). */
  pollMs?: number;
  /** Give up waiting after this long (default: wait as long as the holder is alive). */
  timeoutMs?: number;
}

export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

interface LockContent {
  pid: number;
  host: string;
  token: string;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(lockPath: string): Promise<{ content?: LockContent; mtimeMs: number } | undefined> {
  try {
    const [text, stat] = await Promise.all([fs.promises.readFile(lockPath, 'utf8'), fs.promises.stat(lockPath)]);
    let content: LockContent | undefined;
    try {
      content = JSON.parse(text) as LockContent;
    } catch {
      content = undefined; // being written right now, or garbage: judged by age only
    }
    return { content, mtimeMs: stat.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function isAbandoned(lock: { content?: LockContent; mtimeMs: number }, staleMs: number): boolean {
  if (Date.now() - lock.mtimeMs > staleMs) return true;
  const content = lock.content;
  return !!content && content.host === os.hostname() && content.pid !== process.pid && !processAlive(content.pid);
}

/** Waits for and takes the lock at `lockPath`. */
export async function acquireLock(lockPath: string, options: LockOptions = {}): Promise<HeldLock> {
  const staleMs = options.staleMs ?? 60_000;
  const heartbeatMs = options.heartbeatMs ?? Math.max(50, Math.floor(staleMs / 4));
  const pollMs = options.pollMs ?? 250;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const token = crypto.randomUUID();
  await fs.promises.mkdir(path.dirname(lockPath), { recursive: true });
  for (;;) {
    try {
      const content: LockContent = { pid: process.pid, host: os.hostname(), token };
      await fs.promises.writeFile(lockPath, JSON.stringify(content), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const existing = await readLock(lockPath);
    if (existing && isAbandoned(existing, staleMs)) {
      // Break it by renaming to a unique name first: of two waiters, only one rename succeeds.
      const grave = `${lockPath}.stale-${token}`;
      try {
        await fs.promises.rename(lockPath, grave);
        const moved = await readLock(grave);
        if (existing.content && moved?.content && moved.content.token !== existing.content.token) {
          // Another waiter broke the stale lock and took a fresh one between our read and rename:
          // put it back (link fails harmlessly if yet another lock appeared meanwhile).
          await fs.promises.link(grave, lockPath).catch(() => undefined);
        }
        await fs.promises.rm(grave, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lockPath}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    fs.promises.utimes(lockPath, now, now).catch(() => undefined);
  }, heartbeatMs);
  heartbeat.unref();
  let released = false;
  return {
    path: lockPath,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      // Only remove the lock if it is still ours (it may have been broken as stale meanwhile).
      const current = await readLock(lockPath);
      if (current?.content?.token === token) await fs.promises.rm(lockPath, { force: true });
    },
  };
}
