// Linux /proc readers for the benchmarks and tests that count the CPU backend's onnxruntime
// process, a child of the process that created the estimator (docs/design.md, "Worker threads").
import fs from 'node:fs';

/** Pids of the children of `pid` (of all its threads); [] where /proc is absent or the process has gone. */
export function childPids(pid: number = process.pid): number[] {
  let threads: string[];
  try {
    threads = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return threads.flatMap((tid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return []; // a thread that has just exited
    }
  });
}

/** Memory of one process in bytes (/proc/<pid>/status). */
export interface ProcMemory {
  rss: number;
  /** Peak RSS (VmHWM). */
  hwm: number;
  anon: number;
  file: number;
}

/** `pid`'s memory, undefined when it cannot be read (no /proc, or a process that has just exited). */
export function procMemory(pid: number | 'self' = 'self'): ProcMemory | undefined {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM'), anon: kib('RssAnon'), file: kib('RssFile') };
}

/** Children of `pid` that run the CPU backend's onnxruntime process (lib/backends/onnx-host/host-main.js). */
export function onnxHostPids(pid: number = process.pid): number[] {
  return childPids(pid).filter((child) => {
    try {
      return fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('host-main');
    } catch {
      return false; // exited meanwhile
    }
  });
}
