// Dispatches `lotus <command>` and maps errors to exit codes: argument errors print usage and
// exit 2; library (LotusError) and file-system errors print code + message and exit 1. Stack
// traces only for unexpected errors, and only with LOTUS_DEBUG=1.
import { LotusError } from '../errors';
import { UsageError } from './args';
import { benchCommand } from './bench';
import { buildCommand } from './build';
import { exportCommand } from './export';
import { infoCommand } from './info';
import { withoutCode } from './output-files';
import { depthCommand, normalCommand } from './predict';
import { queueStatsCommand } from './queue-stats';
import { submitCommand } from './submit';
import { serveCommand } from './serve';
import { COMMANDS, usage } from './usage';
import { workerCommand } from './worker';

export type CommandFn = (argv: string[]) => Promise<number>;

const COMMAND_FNS: Record<string, CommandFn> = {
  depth: depthCommand,
  normal: normalCommand,
  build: buildCommand,
  info: infoCommand,
  bench: benchCommand,
  export: exportCommand,
  worker: workerCommand,
  submit: submitCommand,
  'queue-stats': queueStatsCommand,
  serve: serveCommand,
};

function lookup(command: string): CommandFn {
  if (Object.hasOwn(COMMAND_FNS, command)) return COMMAND_FNS[command]!;
  throw new UsageError(command.startsWith('-') ? `unknown option ${command}` : `unknown command "${command}"`);
}

function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** Writes the message for an error and returns the exit code. */
export function reportError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof UsageError) {
    stderr.write(`lotus: ${err.message}\n\n${usage(err.command)}\n`);
    return 2;
  }
  if (err instanceof LotusError) {
    stderr.write(`lotus: ${err.code}: ${err.message}\n`);
    return 1;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') {
    // Node system errors (EACCES writing an output, ...): code and message are enough (Node's
    // messages start with the code already: "EACCES: permission denied, ...").
    stderr.write(`lotus: ${e.code}: ${withoutCode(e.message, e.code)}\n`);
    return 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  stderr.write(`lotus: unexpected error: ${message}\n`);
  if (process.env.LOTUS_DEBUG && err instanceof Error && err.stack) stderr.write(`${err.stack}\n`);
  else stderr.write('(set LOTUS_DEBUG=1 for a stack trace)\n');
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) throw new UsageError('no command given');
    if (command === '--help' || command === '-h' || command === 'help') {
      const topic = rest[0];
      process.stdout.write(`${usage(topic !== undefined && COMMANDS.includes(topic) ? topic : undefined)}\n`);
      return 0;
    }
    if (command === '--version' || command === '-v') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      process.stdout.write(`${(require('../../package.json') as { version: string }).version}\n`);
      return 0;
    }
    const run = lookup(command);
    if (wantsHelp(rest)) {
      process.stdout.write(`${usage(command)}\n`);
      return 0;
    }
    return await run(rest);
  } catch (err) {
    return reportError(err);
  }
}
