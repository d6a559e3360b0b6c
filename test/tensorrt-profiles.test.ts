// The TensorRT backend's optimization profiles and the request check against them: plain functions
// of the model and options, so they run here without a GPU.
import { describe, expect, test } from 'vitest';
import type { RgbImage } from '../lib/backends/backend';
import { buildSettings, checkFitsProfile, defaultProfiles, TENSORRT_DEFAULTS } from '../lib/backends/tensorrt';
import { InvalidArgumentError } from '../lib/errors';
import type { ModelInfo } from '../lib/model/metadata';
import { expectLotusError } from './helpers/expect-error';

const model = (mode: 'generation' | 'regression', sizeMultiple = 8) => ({ mode, sizeMultiple }) as ModelInfo;
const image = (width: number, height: number): RgbImage => ({ data: new Uint8Array(width * height * 3), width, height, channels: 3 });
const request = (processingResolution: number) => ({ processingResolution, outputResample: 'nearest' as const, noise: [] });

describe('defaultProfiles', () => {
  test('defaults: batch 1, 256..1024, opt 576x768 (768 long edge, 4:3); G models get the matching noise profile', () => {
    expect(defaultProfiles(model('generation'))).toEqual([
      { input: 'image', min: [1, 3, 256, 256], opt: [1, 3, 576, 768], max: [1, 3, 1024, 1024] },
      { input: 'noise', min: [1, 4, 32, 32], opt: [1, 4, 72, 96], max: [1, 4, 128, 128] },
    ]);
    expect(defaultProfiles(model('regression'))).toHaveLength(1);
  });

  test('custom sizes are taken as they are (the network takes any size); the noise range is floor(size / 8); maxBatch widens N only', () => {
    const [imageProfile, noiseProfile] = defaultProfiles(model('generation'), { minSize: [100, 130], maxSize: 1000, optSize: 500, maxBatch: 4 });
    expect(imageProfile).toEqual({ input: 'image', min: [1, 3, 100, 130], opt: [1, 3, 500, 500], max: [4, 3, 1000, 1000] });
    expect(noiseProfile).toEqual({ input: 'noise', min: [1, 4, 12, 16], opt: [1, 4, 62, 62], max: [4, 4, 125, 125] });
  });

  test('an impossible range or an opt outside it names the option', async () => {
    await expectLotusError(() => defaultProfiles(model('regression'), { minSize: 900, maxSize: 800 }),
      InvalidArgumentError, { parameter: 'options.tensorrt.minSize' });
    await expectLotusError(() => defaultProfiles(model('regression'), { minSize: 256, maxSize: 512, optSize: 768 }),
      InvalidArgumentError, { parameter: 'options.tensorrt.optSize' });
    // The default opt is clamped into a custom range instead.
    expect(defaultProfiles(model('regression'), { maxSize: 512 })[0]!.opt).toEqual([1, 3, 512, 512]);
  });

  test('buildSettings: always FP16, defaults for lanes, workspace and optimisation level', () => {
    expect(buildSettings(model('regression'))).toMatchObject({
      lanes: TENSORRT_DEFAULTS.lanes, workspaceBytes: 0, optimizationLevel: 3, fp16: true,
    });
  });
});

describe('checkFitsProfile', () => {
  const [profile] = defaultProfiles(model('generation'), { maxBatch: 2 });

  test('accepts what the profile takes', () => {
    expect(() => checkFitsProfile(profile!, [image(1920, 1080), image(1920, 1080)], request(768), model('generation'))).not.toThrow();
    expect(() => checkFitsProfile(profile!, [image(300, 300)], request(0), model('generation'))).not.toThrow();
  });

  test('a network size outside the profile names options.processingResolution and says what fits', async () => {
    // 1920x1080 at 1536 needs 1536x864: wider than 1024.
    const error = await expectLotusError(() => checkFitsProfile(profile!, [image(1920, 1080)], request(1536), model('generation')),
      InvalidArgumentError, { parameter: 'options.processingResolution', message: /needs a 1536x864 network input.*width 256\.\.1024, height 256\.\.1024/ });
    expect(error.message).toMatch(/minSize\/maxSize/);
    // Too small: a 100x100 image at its own size pads to 104x104.
    await expectLotusError(() => checkFitsProfile(profile!, [image(100, 100)], request(0), model('generation')),
      InvalidArgumentError, { parameter: 'options.processingResolution' });
  });

  test('more images than the profile batch names images', async () => {
    await expectLotusError(() => checkFitsProfile(profile!, [image(512, 512), image(512, 512), image(512, 512)], request(512), model('generation')),
      InvalidArgumentError, { parameter: 'images', message: /1 to 2 images per call/ });
  });
});
