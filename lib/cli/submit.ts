// `lotus submit <images or folders>`: enqueues one job per image, shows a progress bar from the
// completion events and prints a summary. Exit code 0 only when every job completed.
import fs from 'node:fs';
import path from 'node:path';
import { jobKey, writeFileAtomic } from '../queue/atomic-write';
import type { JobFailureCode } from '../queue/errors';
import { MAX_IMAGE_SIDE, MAX_SEED } from '../estimator/options';
import { DEFAULT_FORMATS, FORMATS, type OutputFormat } from '../io/output-formats';
import type { Task } from '../model/metadata';
import { openQueueProducer } from '../queue/index';
import type { JobOutcome } from '../queue/producer';
import { returnedOutput, type JobRequest } from '../queue/request';
import {
  choiceListOption, choiceOption, flag, intOption, parse, requireString, stringOption, UsageError,
} from './args';
import { printJson } from './common';
import { expandInputs, findCollision } from './inputs';
import { checkOutputs, outputsOf, type PlannedOutput } from './output-files';
import { ProgressBar } from './progress';

const COMMAND = 'submit';
/** Failed jobs listed one per line in the text summary; the rest are counted. */
const LIST_FAILURES = 20;

export async function submitCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(COMMAND, argv, {
    redis: { type: 'string' },
    queue: { type: 'string' },
    task: { type: 'string' },
    out: { type: 'string', short: 'o' },
    format: { type: 'string' },
    inline: { type: 'boolean' },
    return: { type: 'boolean' },
    wait: { type: 'boolean' },
    'no-wait': { type: 'boolean' },
    overwrite: { type: 'boolean' },
    attempts: { type: 'string' },
    backoff: { type: 'string' },
    seed: { type: 'string' },
    'processing-resolution': { type: 'string' },
    'output-resample': { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, true);
  const redis = requireString(COMMAND, values, 'redis');
  const queue = requireString(COMMAND, values, 'queue');
  if (positionals.length === 0) throw new UsageError('no input images or folders given', COMMAND);
  const task: Task = choiceOption(COMMAND, values, 'task', ['depth', 'normal'] as const) ?? 'depth';
  const formats: OutputFormat[] = choiceListOption(COMMAND, values, 'format', FORMATS[task]) ?? [...DEFAULT_FORMATS[task]];
  if (flag(values, 'wait') && flag(values, 'no-wait')) throw new UsageError('--wait and --no-wait contradict each other', COMMAND);
  const wait = !flag(values, 'no-wait');
  const inline = flag(values, 'inline');
  const returned = flag(values, 'return');
  if (returned && !wait) throw new UsageError('--return needs --wait: submit writes the returned outputs', COMMAND);
  const attempts = intOption(COMMAND, values, 'attempts', { min: 1, max: 1000 });
  const backoffMs = intOption(COMMAND, values, 'backoff', { min: 0 });
  const seed = intOption(COMMAND, values, 'seed', { min: 0, max: MAX_SEED });
  const processingResolution = intOption(COMMAND, values, 'processing-resolution', { min: 0, max: MAX_IMAGE_SIDE });
  const outputResample = choiceOption(COMMAND, values, 'output-resample', ['nearest', 'bilinear'] as const);
  const timeoutS = intOption(COMMAND, values, 'timeout', { min: 1 });
  const out = stringOption(values, 'out');
  const json = flag(values, 'json');

  const files = await expandInputs(positionals);
  const collision = findCollision(files, out);
  if (collision) {
    throw new UsageError(`${collision[0]} and ${collision[1]} would write the same output files; use --out per folder`, COMMAND);
  }
  // As `lotus depth`: never an input as an output, existing outputs only with --overwrite (a job's
  // own retries replace its outputs regardless: that is what makes them idempotent).
  const plan = new Map<string, PlannedOutput[]>(files.map((file) => [file, outputsOf(task, file, formats, out)]));
  await checkOutputs(plan, flag(values, 'overwrite'));
  const options = {
    ...(seed !== undefined ? { seed } : {}),
    ...(processingResolution !== undefined ? { processingResolution } : {}),
    ...(outputResample !== undefined ? { outputResample } : {}),
  };
  /** Where each input's outputs go, by format. */
  const targets = files.map((file) => Object.fromEntries(plan.get(file)!.map(({ format, target }) => [
    format, path.resolve(target),
  ])) as Record<OutputFormat, string>);
  const requests: JobRequest[] = [];
  for (const [i, file] of files.entries()) {
    requests.push({
      task,
      input: inline ? await fs.promises.readFile(file) : path.resolve(file),
      outputs: formats.map((format) => (returned ? { format } : { format, path: targets[i]![format] })),
      ...(Object.keys(options).length > 0 ? { options } : {}),
      name: file,
    });
  }

  const producer = await openQueueProducer({
    redis,
    queue,
    ...(attempts !== undefined ? { attempts } : {}),
    ...(backoffMs !== undefined ? { backoffMs } : {}),
  });
  const started = Date.now();
  const progress = new ProgressBar();
  try {
    const jobs = await producer.submit(requests);
    if (!wait) {
      if (json) printJson({ queue, submitted: jobs.length, jobs: jobs.map((j) => ({ id: j.id, input: j.name })) });
      else process.stderr.write(`lotus: submitted ${jobs.length} jobs to "${queue}" (ids ${jobs[0]?.id} .. ${jobs[jobs.length - 1]?.id})\n`);
      return 0;
    }
    const index = new Map(jobs.map((job, i) => [job.id, i]));
    const writeErrors: string[] = [];
    const writes: Promise<void>[] = [];
    const report = await producer.wait(jobs, {
      ...(timeoutS !== undefined ? { timeoutMs: timeoutS * 1000 } : {}),
      onSettled: (outcome, settled, total) => {
        if (returned && outcome.state === 'completed') {
          const i = index.get(outcome.id)!;
          for (const format of formats) {
            const bytes = returnedOutput(outcome.result, format);
            if (bytes === undefined) continue;
            writes.push(writeFileAtomic(targets[i]![format], bytes, jobKey(outcome.id), 1).catch((error: Error) => {
              writeErrors.push(`${targets[i]![format]}: ${error.message}`);
            }));
          }
        }
        progress.update(task, settled, total, outcome.name ? path.basename(outcome.name) : '');
      },
    });
    await Promise.all(writes);
    progress.done();
    const seconds = (Date.now() - started) / 1000;
    return summarize(report.outcomes, { queue, seconds, resubmitted: report.resubmitted, writeErrors, json, targets, index, returned });
  } finally {
    await producer.close();
  }
}

interface SummaryContext {
  queue: string;
  seconds: number;
  resubmitted: number;
  writeErrors: string[];
  json: boolean;
  targets: Record<OutputFormat, string>[];
  index: Map<string, number>;
  returned: boolean;
}

function summarize(outcomes: JobOutcome[], ctx: SummaryContext): number {
  const completed = outcomes.filter((o) => o.state === 'completed').length;
  const failedJobs = outcomes.flatMap((o) => (o.state === 'failed' ? [o] : []));
  const pending = outcomes.filter((o) => o.state === 'pending').length;
  const byReason: Partial<Record<JobFailureCode, number>> = {};
  for (const f of failedJobs) byReason[f.failure.code] = (byReason[f.failure.code] ?? 0) + 1;
  const ok = completed === outcomes.length && ctx.writeErrors.length === 0;

  if (ctx.json) {
    printJson({
      queue: ctx.queue,
      submitted: outcomes.length,
      completed,
      failed: failedJobs.length,
      pending,
      resubmitted: ctx.resubmitted,
      seconds: ctx.seconds,
      jobsPerSecond: (completed + failedJobs.length) / ctx.seconds,
      failuresByReason: byReason,
      writeErrors: ctx.writeErrors,
      jobs: outcomes.map((o) => {
        const base = { id: o.id, input: o.name, state: o.state };
        if (o.state === 'completed') {
          const files = ctx.returned ? ctx.targets[ctx.index.get(o.id)!] : o.result.files;
          return { ...base, width: o.result.width, height: o.result.height, worker: o.result.worker, files };
        }
        if (o.state === 'failed') return { ...base, attempts: o.attempts, failure: o.failure };
        return base;
      }),
    });
    return ok ? 0 : 1;
  }
  const rate = ((completed + failedJobs.length) / ctx.seconds).toFixed(1);
  const parts = [`${completed} done`, `${failedJobs.length} failed`];
  if (pending > 0) parts.push(`${pending} still pending (timed out)`);
  process.stderr.write(`lotus: ${outcomes.length} jobs on "${ctx.queue}": ${parts.join(', ')} in ${ctx.seconds.toFixed(1)} s (${rate} jobs/s)\n`);
  if (ctx.resubmitted > 0) process.stderr.write(`lotus: ${ctx.resubmitted} jobs vanished from Redis and were submitted again\n`);
  if (failedJobs.length > 0) {
    process.stderr.write(`failures by reason: ${Object.entries(byReason).map(([code, n]) => `${code} ${n}`).join(', ')}\n`);
    for (const f of failedJobs.slice(0, LIST_FAILURES)) {
      process.stderr.write(`  ${f.name ?? f.id}: ${f.failure.code}: ${f.failure.message} (${f.attempts} attempt${f.attempts === 1 ? '' : 's'})\n`);
    }
    if (failedJobs.length > LIST_FAILURES) process.stderr.write(`  ... and ${failedJobs.length - LIST_FAILURES} more (--json lists all)\n`);
  }
  for (const e of ctx.writeErrors) process.stderr.write(`lotus: writing a returned output failed: ${e}\n`);
  return ok ? 0 : 1;
}
