// `lotus queue-stats`: queue depth by state, workers, jobs per second and failures by reason.
import { redactRedisUrl } from '../queue/connection';
import { readQueueStats } from '../queue/index';
import { flag, intOption, parse, requireString } from './args';
import { printJson } from './common';

const COMMAND = 'queue-stats';

export async function queueStatsCommand(argv: string[]): Promise<number> {
  const { values } = parse(COMMAND, argv, {
    redis: { type: 'string' },
    queue: { type: 'string' },
    sample: { type: 'string' },
    'scan-failed': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  const redis = requireString(COMMAND, values, 'redis');
  const queue = requireString(COMMAND, values, 'queue');
  const sampleMs = intOption(COMMAND, values, 'sample', { min: 0, max: 600_000 }) ?? 2000;
  const scanFailed = intOption(COMMAND, values, 'scan-failed', { min: 0, max: 1_000_000 }) ?? 1000;
  const stats = await readQueueStats({ redis, queue, sampleMs, scanFailed });
  if (flag(values, 'json')) {
    printJson(stats);
    return 0;
  }
  const c = stats.counts;
  const lines = [
    `queue "${queue}" on ${redactRedisUrl(redis)}${stats.paused ? ' (paused)' : ''}: ${stats.workers} worker connection(s)`,
    `  waiting ${c.waiting}, prioritized ${c.prioritized}, delayed (retry backoff) ${c.delayed}, active ${c.active}, completed ${c.completed}, failed ${c.failed}`,
    `  since the metrics began: ${stats.totals.completed} completed, ${stats.totals.failed} failed`,
  ];
  if (stats.now) {
    lines.push(`  now: ${stats.now.completedPerS.toFixed(1)} jobs/s completed, ${stats.now.failedPerS.toFixed(1)} failed/s (over ${stats.now.windowS.toFixed(1)} s)`);
  }
  if (stats.recent) {
    lines.push(`  last ${stats.recent.minutes} full minute(s): ${stats.recent.completedPerS.toFixed(2)} jobs/s completed, ${stats.recent.failedPerS.toFixed(2)} failed/s`);
  }
  const reasons = Object.entries(stats.failuresByReason).sort((a, b) => b[1] - a[1]);
  if (reasons.length > 0) {
    lines.push(`  failures by reason (newest ${stats.scanned} failed jobs):`);
    for (const [code, n] of reasons) lines.push(`    ${code} ${n}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
