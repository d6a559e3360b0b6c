// Option groups shared by the subcommands that load a model (depth, normal, build, bench).
import type { OptionSpec } from './args';

export const BACKENDS = ['auto', 'tensorrt', 'cpu'] as const;

export const MODEL_OPTIONS: OptionSpec = {
  model: { type: 'string' },
  backend: { type: 'string' },
  'cache-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** Warnings from the library (e.g. the CPU fallback's reason) go to stderr, one line each. */
export function printWarning(message: string): void {
  process.stderr.write(`${warningLine(message)}\n`);
}

export function warningLine(message: string): string {
  return `lotus: warning: ${message.replace(/^lotus-trt: /, '')}`;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
