// lib/model/metadata.ts: the lotus ONNX contract is read from metadata_props and the graph's I/O
// without reading weights, and every violation is a ModelError naming what is wrong.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { ModelError } from '../lib/errors';
import { readModelInfo, readOnnxSignature } from '../lib/model/metadata';
import { expectLotusError } from './helpers/expect-error';
import { bytesField, identityLotusModel, intField, lotusMetadata, onnxModel, valueInfo, varint } from './helpers/onnx-writer';
import { tempFolder } from './helpers/temp-folder';

const { dir, write } = tempFolder('lotus-meta-');

describe('readModelInfo', () => {
  test('reads the contract of a generation depth model', () => {
    const file = write('g.onnx', identityLotusModel({ mode: 'generation', metadata: { 'lotus.disparity': 'true', 'lotus.processing_resolution': '512', 'lotus.source': 'jingheya/lotus-depth-g-v2-1-disparity' } }));
    const info = readModelInfo(file);
    expect(info).toMatchObject({
      path: file,
      task: 'depth',
      mode: 'generation',
      disparity: true,
      processingResolution: 512,
      sizeMultiple: 8,
      precision: 'fp32',
      source: 'jingheya/lotus-depth-g-v2-1-disparity',
      formatVersion: '1',
      exporterVersion: '0.0.0',
      randomWeights: false,
    });
    expect(info.metadata['lotus.latent_scale']).toBe('0.18215');
    expect(info.inputs).toEqual([
      { name: 'image', type: 'float32', shape: ['N', 3, 'H', 'W'] },
      { name: 'noise', type: 'float32', shape: ['N', 4, 'h', 'w'] },
    ]);
    expect(info.outputs).toEqual([{ name: 'prediction', type: 'float32', shape: ['N', 3, 'PH', 'PW'] }]);
  });

  test('lotus.random_weights marks a random-weight export', () => {
    const marked = write('random.onnx', identityLotusModel({ mode: 'regression', metadata: { 'lotus.random_weights': 'true' } }));
    expect(readModelInfo(marked).randomWeights).toBe(true);
    const other = write('random-false.onnx', identityLotusModel({ mode: 'regression', metadata: { 'lotus.random_weights': 'no' } }));
    expect(readModelInfo(other).randomWeights).toBe(false);
  });

  test('reads float16 I/O of an fp16 regression normal model', () => {
    const model = onnxModel({
      inputs: [{ name: 'image', elemType: 10 }],
      outputs: [{ name: 'prediction', elemType: 10, dims: [1, 3, 64, 64] }],
      nodes: [{ op: 'Identity', inputs: ['image'], outputs: ['prediction'] }],
      metadata: lotusMetadata({ 'lotus.task': 'normal', 'lotus.precision': 'fp16' }),
    });
    const info = readModelInfo(write('n16.onnx', model));
    expect(info).toMatchObject({ task: 'normal', mode: 'regression', disparity: false, precision: 'fp16' });
    expect(info.inputs[0].type).toBe('float16');
    expect(info.outputs[0].shape).toEqual([1, 3, 64, 64]);
  });

  test('skips initializers by seeking: a 3 GiB weight (a sparse hole) costs nothing', () => {
    // Graph = [initializer with 3 GiB raw_data][inputs][outputs]; the hole is never written.
    const hole = 3 * 1024 ** 3;
    const tensorHead = Buffer.concat([bytesField(8, 'huge_weight'), Buffer.from([9 * 8 + 2]), varint(hole)]);
    const tensorLength = tensorHead.length + hole;
    const initializerHead = Buffer.concat([Buffer.from([5 * 8 + 2]), varint(tensorLength), tensorHead]);
    const io = Buffer.concat([
      bytesField(11, valueInfo({ name: 'image' })),
      bytesField(11, valueInfo({ name: 'noise' })),
      bytesField(12, valueInfo({ name: 'prediction' })),
    ]);
    const graphLength = initializerHead.length + hole + io.length;
    const head = Buffer.concat([intField(1, 8), Buffer.from([7 * 8 + 2]), varint(graphLength), initializerHead]);
    const metadata = Buffer.concat(
      Object.entries(lotusMetadata({ 'lotus.mode': 'generation' })).map(([k, v]) => bytesField(14, Buffer.concat([bytesField(1, k), bytesField(2, v)]))),
    );
    const file = path.join(dir, 'sparse.onnx');
    const fd = fs.openSync(file, 'w');
    try {
      fs.writeSync(fd, head, 0, head.length, 0);
      const tail = Buffer.concat([io, metadata]);
      fs.writeSync(fd, tail, 0, tail.length, head.length + hole);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.statSync(file).size).toBeGreaterThan(hole);
    const start = performance.now();
    const info = readModelInfo(file);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(info.mode).toBe('generation');
    expect(info.inputs.map((t) => t.name)).toEqual(['image', 'noise']);
  });

  test('a file that is not ONNX -> ModelError', () => {
    expect(() => readOnnxSignature(write('text.onnx', Buffer.from('{"not": "onnx"}')))).toThrow(ModelError);
    expect(() => readOnnxSignature(write('empty.onnx', Buffer.alloc(0)))).toThrow(/not an ONNX model/);
  });

  test('a truncated ONNX file -> ModelError', () => {
    const full = identityLotusModel();
    const file = write('truncated.onnx', full.subarray(0, Math.floor(full.length / 2)));
    expect(() => readModelInfo(file)).toThrow(/not an ONNX model.*(past|end of file)/);
  });

  test.each(Object.keys(lotusMetadata()).filter((k) => !['lotus.latent_scale', 'lotus.timestep', 'lotus.source', 'lotus.exporter_version'].includes(k)))(
    'missing required key %s -> ModelError naming it',
    async (key) => {
      const file = write(`missing-${key}.onnx`, identityLotusModel({ metadata: { [key]: undefined } }));
      await expectLotusError(() => readModelInfo(file), ModelError, { message: new RegExp(`missing ONNX metadata key "${key.replace('.', '\\.')}"`) });
    },
  );

  test.each([
    ['lotus.format_version', '2'],
    ['lotus.task', 'depth '],
    ['lotus.mode', 'G'],
    ['lotus.disparity', 'yes'],
    ['lotus.processing_resolution', '-1'],
    ['lotus.processing_resolution', '768px'],
    ['lotus.size_multiple', '12'],
    ['lotus.size_multiple', '0'],
    ['lotus.precision', 'int8'],
  ])('%s = %j -> ModelError naming key and value', async (key, value) => {
    const file = write(`bad-${key}-${value}.onnx`, identityLotusModel({ metadata: { [key]: value } }));
    await expectLotusError(() => readModelInfo(file), ModelError, { message: new RegExp(`${key.replace('.', '\\.')} is ${JSON.stringify(JSON.stringify(value)).slice(1, -1)}`) });
  });

  test('graph I/O that breaks the contract -> ModelError', () => {
    const model = (inputs: string[], outputs: string[], mode: 'generation' | 'regression', elemType = 1) =>
      onnxModel({
        inputs: inputs.map((name) => ({ name, elemType })),
        outputs: outputs.map((name) => ({ name })),
        nodes: [{ op: 'Identity', inputs: [inputs[0]], outputs: [outputs[0]] }],
        metadata: lotusMetadata({ 'lotus.mode': mode }),
      });
    expect(() => readModelInfo(write('io1.onnx', model(['pixels'], ['prediction'], 'regression')))).toThrow(/no input named "image" \(inputs: pixels\)/);
    expect(() => readModelInfo(write('io2.onnx', model(['image'], ['depth'], 'regression')))).toThrow(/no output named "prediction"/);
    expect(() => readModelInfo(write('io3.onnx', model(['image', 'noise'], ['prediction'], 'regression')))).toThrow(/regression but the graph takes a "noise"/);
    expect(() => readModelInfo(write('io4.onnx', model(['image'], ['prediction'], 'regression', 7)))).toThrow(/"image" is int64/);
  });
});

// The exporter's real output (test/fixtures, from scripts/lotus_export) follows the contract.
const fixtures = path.join(__dirname, 'fixtures');
const manifestPath = path.join(fixtures, 'manifest.json');
const manifestModels: [string, { file: string; task: string; mode: string; disparity: boolean; precision: string }][] = fs.existsSync(manifestPath)
  ? Object.entries(JSON.parse(fs.readFileSync(manifestPath, 'utf8')).models)
  : [];
describe.skipIf(manifestModels.length === 0)('exported fixture models', () => {
  test.each(manifestModels)('%s', (_name, expected) => {
    const info = readModelInfo(path.join(fixtures, expected.file));
    expect(info).toMatchObject({
      task: expected.task,
      mode: expected.mode,
      disparity: expected.disparity,
      precision: expected.precision,
      sizeMultiple: 8,
      formatVersion: '1',
    });
    expect(info.source.length).toBeGreaterThan(0);
    const io = expected.precision === 'fp16' ? 'float16' : 'float32';
    expect(info.inputs.map((t) => [t.name, t.type])).toEqual(
      expected.mode === 'generation' ? [['image', io], ['noise', io]] : [['image', io]],
    );
    expect(info.outputs.map((t) => [t.name, t.type])).toEqual([['prediction', io]]);
  });
});
