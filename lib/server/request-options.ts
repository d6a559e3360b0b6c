// The query string of POST /v1/depth and /v1/normal: output format, processingResolution, seed.
// Strict: an unknown or repeated parameter, or a value that is not a plain decimal integer, is an
// InvalidArgumentError naming it (the client gets it as a 400).
import { InvalidArgumentError } from '../errors';
import { MAX_IMAGE_SIDE, MAX_SEED } from '../estimator/options';
import type { Task } from '../model/metadata';

export const OUTPUTS = { depth: ['png', 'png16', 'npy', 'json'], normal: ['png', 'npy', 'json'] } as const;
export type Output = 'png' | 'png16' | 'npy' | 'json';

export interface PredictQuery {
  output: Output;
  processingResolution: number | undefined;
  seed: number | undefined;
}

const KEYS = ['output', 'processingResolution', 'seed'];

function integerParameter(name: string, text: string, max: number): number {
  if (!/^\d{1,16}$/.test(text) || Number(text) > max) {
    throw new InvalidArgumentError(name, `${name}: expected an integer between 0 and ${max}, received ${JSON.stringify(text.slice(0, 40))}`);
  }
  return Number(text);
}

export function parsePredictQuery(search: URLSearchParams, task: Task): PredictQuery {
  const seen = new Set<string>();
  for (const key of search.keys()) {
    if (!KEYS.includes(key)) {
      throw new InvalidArgumentError(key.slice(0, 40), `${key.slice(0, 40)}: unknown query parameter; expected ${KEYS.join(', ')}`);
    }
    if (seen.has(key)) throw new InvalidArgumentError(key, `${key}: given more than once`);
    seen.add(key);
  }
  const outputs: readonly string[] = OUTPUTS[task];
  const output = search.get('output') ?? 'png';
  if (!outputs.includes(output)) {
    throw new InvalidArgumentError('output', `output: expected one of ${outputs.join(', ')} for a ${task} model, received ${JSON.stringify(output.slice(0, 40))}`);
  }
  const resolution = search.get('processingResolution');
  const seed = search.get('seed');
  return {
    output: output as Output,
    processingResolution: resolution === null ? undefined : integerParameter('processingResolution', resolution, MAX_IMAGE_SIDE),
    seed: seed === null ? undefined : integerParameter('seed', seed, MAX_SEED),
  };
}
