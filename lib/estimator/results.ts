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

export class NormalResult {
  readonly task = 'normal' as const;

  constructor(
    readonly width: number,
    readonly height: number,
    /** H*W*3 unit normals, HWC, row-major. */
    readonly data: Float32Array,
    readonly timings: Timings,
    /** True when `data` is native memory handed over without a copy (false: one copy was made). */
    readonly zeroCopy = false,
  ) {
    checkResultArguments('NormalResult', width, height, data, timings, 3, { zeroCopy });
  }

  /** RGB8 HWC of uint8((n + 1) / 2 * 255), truncated as numpy's astype(uint8). */
  colorize(): Uint8Array {
    const rgb = new Uint8Array(this.data.length);
    for (let i = 0; i < rgb.length; i++) {
      const v = ((this.data[i] + 1) / 2) * 255;
      rgb[i] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
    }
    return rgb;
  }

  toPng(): Promise<Buffer> {
    return rgbPng(this.colorize(), this.width, this.height);
  }

  /** float32 .npy of shape [H, W, 3]. */
  toNpy(): Buffer {
    return encodeNpy(this.data, [this.height, this.width, 3]);
  }
}

export type EstimateResult = DepthResult | NormalResult;
