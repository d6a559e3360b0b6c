// Results of estimate(): the prediction at the input size plus encoders for PNG and .npy.
import sharp from 'sharp';
import type { Timings } from '../backends/backend';
import { fromNativeError } from '../errors';
import { native } from '../addon/load';
import { encodeNpy } from '../io/npy';
import { checkResultArguments } from './result-checks';

export type { Timings } from '../backends/backend';

function rgbPng(rgb: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

export class DepthResult {
  readonly task = 'depth' as const;

  constructor(
    readonly width: number,
    readonly height: number,
    /** H*W depth in [0, 1] (the channel mean of the decoded prediction), row-major. */
    readonly data: Float32Array,
    /** True when the model predicts disparity (near = large), which reverses the colormap. */
    readonly disparity: boolean,
    readonly timings: Timings,
    /** True when `data` is native memory handed over without a copy (false: one copy was made). */
    readonly zeroCopy = false,
  ) {
    checkResultArguments('DepthResult', width, height, data, timings, 1, { disparity, zeroCopy });
  }

  /** RGB8 HWC through matplotlib's Spectral colormap, min-max normalised, as Lotus's infer.py. */
  colorize(): Uint8Array {
    try {
      return native().colorizeDepth(this.data, this.width, this.height, this.disparity);
    } catch (error) {
      throw fromNativeError(error);
    }
  }

  toColorizedPng(): Promise<Buffer> {
    return rgbPng(this.colorize(), this.width, this.height);
  }

  /** 16-bit grayscale PNG of depth scaled from [0, 1] to 0..65535 (rounded). */
  to16BitPng(): Promise<Buffer> {
    const samples = new Uint16Array(this.data.length);
    for (let i = 0; i < samples.length; i++) {
      const d = this.data[i];
      samples[i] = d >= 1 ? 65535 : d > 0 ? Math.round(d * 65535) : 0; // NaN -> 0
    }
    return sharp(samples, { raw: { width: this.width, height: this.height, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toBuffer();
  }

  /** float32 .npy of shape [H, W]. */
  toNpy(): Buffer {
    return encodeNpy(this.data, [this.height, this.width]);
  }
}

/** Unit normals n = (2p - 1) / max(|2p - 1|, 1e-6) of p in [0, 1], HWC. */
export function unitNormals(prediction: Float32Array): Float32Array {
  const out = new Float32Array(prediction.length);
  for (let i = 0; i + 2 < prediction.length; i += 3) {
    const x = 2 * prediction[i]! - 1;
    const y = 2 * prediction[i + 1]! - 1;
    const z = 2 * prediction[i + 2]! - 1;
    const length = Math.max(Math.sqrt(x * x + y * y + z * z), 1e-6);
    out[i] = x / length;
    out[i + 1] = y / length;
    out[i + 2] = z / length;
  }
  return out;
}

export class NormalResult {
  readonly task = 'normal' as const;
  private unit: Float32Array | undefined;

  constructor(
    readonly width: number,
    readonly height: number,
    /**
     * H*W*3 (HWC) p in [0, 1]: the decoded prediction resized to the input size, exactly what
     * Lotus's infer.py saves as the normal .npy (the normal is 2p - 1, not normalised).
     */
    readonly prediction: Float32Array,
    readonly timings: Timings,
    /** True when `prediction` is native memory handed over without a copy (false: one copy was made). */
    readonly zeroCopy = false,
  ) {
    checkResultArguments('NormalResult', width, height, prediction, timings, 3, { zeroCopy }, 'prediction');
  }

  /** H*W*3 (HWC) unit normals (2p - 1) / max(|2p - 1|, 1e-6), computed from `prediction` on first use. */
  get data(): Float32Array {
    this.unit ??= unitNormals(this.prediction);
    return this.unit;
  }

  /** RGB8 HWC of uint8(p * 255) (truncated, as infer.py's `(pred * 255).astype(np.uint8)`). */
  colorize(): Uint8Array {
    const p = this.prediction;
    const rgb = new Uint8Array(p.length);
    for (let i = 0; i < rgb.length; i++) {
      const v = Math.fround(p[i]! * 255);
      rgb[i] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0; // NaN -> 0
    }
    return rgb;
  }

  /** The normal map PNG infer.py writes (colorize()). */
  toPng(): Promise<Buffer> {
    return rgbPng(this.colorize(), this.width, this.height);
  }

  /** float32 .npy of shape [H, W, 3]: unit normals (`data`), or `prediction` as infer.py saves it. */
  toNpy(values: 'unit' | 'prediction' = 'unit'): Buffer {
    return encodeNpy(values === 'prediction' ? this.prediction : this.data, [this.height, this.width, 3]);
  }
}

export type EstimateResult = DepthResult | NormalResult;
