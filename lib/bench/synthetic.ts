// The benchmark's default input: a deterministic 1920x1080 RGB image encoded as PNG, so every
// timed request pays a real decode. scripts/bench_pytorch.py draws the same pattern.
import sharp from 'sharp';

export const SYNTHETIC_WIDTH = 1920;
export const SYNTHETIC_HEIGHT = 1080;

/** R = x ramp, G = y ramp, B = (7x + 13y) mod 256: gradients and texture, no flat regions. */
export function syntheticPixels(width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  const wDen = Math.max(width - 1, 1);
  const hDen = Math.max(height - 1, 1);
  for (let y = 0; y < height; y++) {
    const g = Math.floor((255 * y) / hDen);
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      out[i] = Math.floor((255 * x) / wDen);
      out[i + 1] = g;
      out[i + 2] = (7 * x + 13 * y) % 256;
    }
  }
  return out;
}

export async function syntheticPng(width = SYNTHETIC_WIDTH, height = SYNTHETIC_HEIGHT): Promise<Buffer> {
  return sharp(syntheticPixels(width, height), { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}
