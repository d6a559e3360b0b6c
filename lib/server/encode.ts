// A result as the HTTP response body the client asked for: png (depth: the Spectral colour PNG;
// normals: infer.py's PNG), png16 (depth as 16-bit grayscale), npy (float32), json.
import { InvalidArgumentError } from '../errors';
import type { EstimateResult } from '../estimator/results';
import type { Output } from './request-options';

/** Largest prediction (values) sent as JSON: beyond it, the text would be hundreds of MiB; npy is 4 bytes a value. */
export const MAX_JSON_VALUES = 4 * 2 ** 20;

export interface Encoded {
  body: Buffer;
  contentType: string;
}

export async function encodeResult(result: EstimateResult, output: Output): Promise<Encoded> {
  switch (output) {
    case 'png':
      return { body: result.task === 'depth' ? await result.toColorizedPng() : await result.toPng(), contentType: 'image/png' };
    case 'png16':
      if (result.task !== 'depth') throw new InvalidArgumentError('output', 'output: png16 is for depth models');
      return { body: await result.to16BitPng(), contentType: 'image/png' };
    case 'npy':
      return { body: result.task === 'depth' ? result.toNpy() : result.toNpy('prediction'), contentType: 'application/octet-stream' };
    case 'json': {
      const values = result.task === 'depth' ? result.data : result.prediction;
      if (values.length > MAX_JSON_VALUES) {
        throw new InvalidArgumentError('output', `output: json is limited to ${MAX_JSON_VALUES} values, this prediction has ${values.length}; use output=npy`);
      }
      const document = {
        task: result.task,
        width: result.width,
        height: result.height,
        // depth: H*W in [0, 1]; normal: H*W*3 p in [0, 1] (HWC), as infer.py saves them.
        channels: result.task === 'depth' ? 1 : 3,
        timings: result.timings,
        data: Array.from(values),
      };
      return { body: Buffer.from(JSON.stringify(document)), contentType: 'application/json' };
    }
  }
}
