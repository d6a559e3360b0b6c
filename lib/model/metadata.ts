// Reads what lotus-trt needs from an ONNX file (metadata_props, graph input/output names and
// types) without loading weights: a minimal protobuf walker that seeks over every field it does not
// need (initializers, nodes), so a multi-GB model costs a few small reads.
import fs from 'node:fs';
import { ModelError } from '../errors';
import { FileAccessError, openRegularFileSync } from '../io/regular-file';

export type Task = 'depth' | 'normal';
export type Mode = 'generation' | 'regression';
export type Precision = 'fp32' | 'fp16';
export type ElementType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool' | 'other';

export interface TensorSignature {
  name: string;
  type: ElementType;
  /** Dimensions: a number, a symbolic name for dynamic ones, or null when unknown. */
  shape: (number | string | null)[] | null;
}

export interface ModelInfo {
  path: string;
  task: Task;
  mode: Mode;
  disparity: boolean;
  /** Default long edge of the network input (lotus.processing_resolution). */
  processingResolution: number;
  /** The VAE's downscale factor (lotus.size_multiple, 8): the latent is floor(h / 8) x floor(w / 8) of the network input, the prediction 8 times that. */
  sizeMultiple: number;
  precision: Precision;
  source: string;
  /** lotus.random_weights: exported from a random-weight checkpoint (test and timing models), so its predictions are noise. */
  randomWeights: boolean;
  formatVersion: string;
  exporterVersion: string;
  /** All metadata_props of the file (values over 1 MiB, never lotus.* ones, are left out unread). */
  metadata: Record<string, string>;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
}

const REQUIRED_KEYS = [
  'lotus.format_version',
  'lotus.task',
  'lotus.mode',
  'lotus.disparity',
  'lotus.processing_resolution',
  'lotus.size_multiple',
  'lotus.precision',
] as const;

const ELEMENT_TYPES: Record<number, ElementType> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64',
};

// ---- Protobuf over a file -------------------------------------------------------------------

class ParseError extends Error {}

/** Positional reads through a small window, so varints and short strings cost no syscalls each. */
class FileWindow {
  private buffer = Buffer.alloc(64 * 1024);
  private start = 0;
  private end = 0;

  constructor(private readonly fd: number, readonly size: number) {}

  byte(pos: number): number {
    if (pos >= this.size) throw new ParseError(`unexpected end of file at byte ${pos}`);
    if (pos < this.start || pos >= this.end) this.fill(pos);
    return this.buffer[pos - this.start];
  }

  bytes(pos: number, length: number): Buffer {
    if (pos + length > this.size) throw new ParseError(`field at byte ${pos} runs past the end of the file`);
    if (length > this.buffer.length) {
      const out = Buffer.alloc(length);
      fs.readSync(this.fd, out, 0, length, pos);
      return out;
    }
    if (pos < this.start || pos + length > this.end) this.fill(pos);
    return Buffer.from(this.buffer.subarray(pos - this.start, pos - this.start + length));
  }

  private fill(pos: number): void {
    const read = fs.readSync(this.fd, this.buffer, 0, this.buffer.length, pos);
    this.start = pos;
    this.end = pos + read;
  }
}

interface Field {
  number: number;
  wireType: number;
  /** Varint / fixed value (as a number; large int64s lose precision, which we never need). */
  value: number;
  /** Length-delimited: payload range. */
  start: number;
  end: number;
}

/** Iterates the fields of the message in [start, end), skipping payloads by offset. */
function* fields(file: FileWindow, start: number, end: number): Generator<Field> {
  let pos = start;
  const varint = (): number => {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      const b = file.byte(pos++);
      result += (b & 0x7f) * multiplier;
      if ((b & 0x80) === 0) return result;
      multiplier *= 128;
    }
    throw new ParseError(`malformed varint at byte ${pos}`);
  };
  while (pos < end) {
    const tag = varint();
    const number = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (number === 0) throw new ParseError(`invalid field number 0 at byte ${pos}`);
    let value = 0;
    let payloadStart = pos;
    switch (wireType) {
      case 0:
        value = varint();
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const length = varint();
        payloadStart = pos;
        pos += length;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        throw new ParseError(`unsupported protobuf wire type ${wireType} at byte ${pos}`);
    }
    if (pos > end) throw new ParseError(`field ${number} at byte ${payloadStart} runs past its message`);
    yield { number, wireType, value, start: payloadStart, end: pos };
  }
}

function expectWire(field: Field, wireType: number, what: string): void {
  if (field.wireType !== wireType) throw new ParseError(`${what} has wire type ${field.wireType}, expected ${wireType}`);
}

/** Strings past this are not read (metadata values may legally be large: they are skipped). */
const MAX_STRING_BYTES = 1 << 20;

function readString(file: FileWindow, field: Field, what: string): string {
  expectWire(field, 2, what);
  if (field.end - field.start > MAX_STRING_BYTES) throw new ParseError(`${what} is implausibly long`);
  return file.bytes(field.start, field.end - field.start).toString('utf8');
}

// ---- ONNX messages ------------------------------------------------------------------------------

/** A metadata entry; a value over MAX_STRING_BYTES is not read (its length is kept instead). */
function readStringEntry(file: FileWindow, field: Field): { key: string; value?: string; length: number } {
  expectWire(field, 2, 'metadata_props');
  let key = '';
  let value: string | undefined = '';
  let length = 0;
  for (const f of fields(file, field.start, field.end)) {
    if (f.number === 1) key = readString(file, f, 'metadata key');
    else if (f.number === 2) {
      expectWire(f, 2, 'metadata value');
      length = f.end - f.start;
      value = length > MAX_STRING_BYTES ? undefined : readString(file, f, 'metadata value');
    }
  }
  return { key, value, length };
}

function readShape(file: FileWindow, field: Field): (number | string | null)[] {
  const dims: (number | string | null)[] = [];
  for (const f of fields(file, field.start, field.end)) {
    if (f.number !== 1) continue;
    expectWire(f, 2, 'dim');
    let dim: number | string | null = null;
    for (const d of fields(file, f.start, f.end)) {
      if (d.number === 1 && d.wireType === 0) dim = d.value;
      else if (d.number === 2) dim = readString(file, d, 'dim_param');
    }
    dims.push(dim);
  }
  return dims;
}

function readValueInfo(file: FileWindow, field: Field): TensorSignature {
  expectWire(field, 2, 'value info');
  const signature: TensorSignature = { name: '', type: 'other', shape: null };
  for (const f of fields(file, field.start, field.end)) {
    if (f.number === 1) signature.name = readString(file, f, 'value name');
    else if (f.number === 2 && f.wireType === 2) {
      for (const t of fields(file, f.start, f.end)) {
        if (t.number !== 1 || t.wireType !== 2) continue; // only tensor_type
        for (const tt of fields(file, t.start, t.end)) {
          if (tt.number === 1 && tt.wireType === 0) signature.type = ELEMENT_TYPES[tt.value] ?? 'other';
          else if (tt.number === 2 && tt.wireType === 2) signature.shape = readShape(file, tt);
        }
      }
    }
  }
  return signature;
}

interface RawModel {
  irVersion: number | undefined;
  hasGraph: boolean;
  metadata: Record<string, string>;
  /** Metadata keys whose values were too long to read, with their byte lengths. */
  oversizedMetadata: Record<string, number>;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
}

function readModelProto(file: FileWindow): RawModel {
  const model: RawModel = { irVersion: undefined, hasGraph: false, metadata: {}, oversizedMetadata: {}, inputs: [], outputs: [] };
  for (const f of fields(file, 0, file.size)) {
    if (f.number === 1) {
      expectWire(f, 0, 'ir_version');
      model.irVersion = f.value;
    } else if (f.number === 7) {
      expectWire(f, 2, 'graph');
      model.hasGraph = true;
      for (const g of fields(file, f.start, f.end)) {
        if (g.number === 11) model.inputs.push(readValueInfo(file, g));
        else if (g.number === 12) model.outputs.push(readValueInfo(file, g));
      }
    } else if (f.number === 14) {
      const { key, value, length } = readStringEntry(file, f);
      if (value === undefined) model.oversizedMetadata[key] = length;
      else model.metadata[key] = value;
    }
  }
  return model;
}

// ---- Lotus contract ----------------------------------------------------------------------------

/** Reads metadata and I/O signatures of an ONNX file without parsing its weights. */
export function readOnnxSignature(modelPath: string): RawModel {
  let fd: number;
  let stat: fs.Stats;
  try {
    // Non-blocking open + fstat: a FIFO or device path fails here instead of blocking forever.
    ({ fd, stat } = openRegularFileSync(modelPath));
  } catch (error) {
    if (!(error instanceof FileAccessError)) throw error;
    const why = error.reason === 'not-regular' ? `${error.message}, expected an .onnx file` : error.message;
    throw new ModelError(`modelPath: cannot open ${modelPath}: ${why}`, { cause: error });
  }
  try {
    let model: RawModel;
    try {
      model = readModelProto(new FileWindow(fd, stat.size));
    } catch (error) {
      if (error instanceof ParseError) {
        throw new ModelError(`modelPath: ${modelPath} is not an ONNX model (protobuf parse failed: ${error.message})`, { cause: error });
      }
      throw error;
    }
    if (model.irVersion === undefined || !model.hasGraph) {
      throw new ModelError(`modelPath: ${modelPath} is not an ONNX model (no ${model.hasGraph ? 'ir_version' : 'graph'} field)`);
    }
    return model;
  } finally {
    fs.closeSync(fd);
  }
}

function metadataError(modelPath: string, message: string): ModelError {
  return new ModelError(`${modelPath}: ${message} (see docs/design.md, "ONNX model contract"; export with scripts/lotus_export)`);
}

function oneOf<T extends string>(modelPath: string, metadata: Record<string, string>, key: string, allowed: readonly T[]): T {
  const value = metadata[key];
  if (!(allowed as readonly string[]).includes(value)) {
    throw metadataError(modelPath, `metadata ${key} is ${JSON.stringify(value)}, expected one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function integerValue(modelPath: string, metadata: Record<string, string>, key: string, check: (n: number) => boolean, expected: string): number {
  const value = metadata[key];
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || !check(n)) {
    throw metadataError(modelPath, `metadata ${key} is ${JSON.stringify(value)}, expected ${expected}`);
  }
  return n;
}

function checkTensor(modelPath: string, list: TensorSignature[], name: string, kind: 'input' | 'output'): TensorSignature {
  const tensor = list.find((t) => t.name === name);
  if (!tensor) {
    const names = list.map((t) => t.name).join(', ') || 'none';
    throw metadataError(modelPath, `the graph has no ${kind} named "${name}" (${kind}s: ${names})`);
  }
  if (tensor.type !== 'float32' && tensor.type !== 'float16') {
    throw metadataError(modelPath, `${kind} "${name}" is ${tensor.type}, expected float32 or float16`);
  }
  if (tensor.shape && tensor.shape.length !== 4) {
    throw metadataError(modelPath, `${kind} "${name}" has rank ${tensor.shape.length}, expected 4 (NCHW)`);
  }
  return tensor;
}

/** Reads and validates a Lotus ONNX model's contract. Throws ModelError naming what is wrong. */
export function readModelInfo(modelPath: string): ModelInfo {
  const raw = readOnnxSignature(modelPath);
  const metadata = raw.metadata;
  const oversized = Object.keys(raw.oversizedMetadata).find((key) => key.startsWith('lotus.'));
  if (oversized !== undefined) {
    throw metadataError(modelPath, `metadata ${oversized} is ${raw.oversizedMetadata[oversized]} bytes long; lotus.* values are short strings`);
  }
  const missing = REQUIRED_KEYS.filter((key) => metadata[key] === undefined);
  if (missing.length > 0) {
    throw metadataError(
      modelPath,
      `missing ONNX metadata key${missing.length > 1 ? 's' : ''} ${missing.map((k) => `"${k}"`).join(', ')}; is this a Lotus export?`,
    );
  }
  if (metadata['lotus.format_version'] !== '1') {
    throw metadataError(modelPath, `metadata lotus.format_version is ${JSON.stringify(metadata['lotus.format_version'])}; this version of lotus-trt reads format 1`);
  }
  const mode = oneOf(modelPath, metadata, 'lotus.mode', ['generation', 'regression'] as const);
  const info: ModelInfo = {
    path: modelPath,
    task: oneOf(modelPath, metadata, 'lotus.task', ['depth', 'normal'] as const),
    mode,
    disparity: oneOf(modelPath, metadata, 'lotus.disparity', ['true', 'false'] as const) === 'true',
    processingResolution: integerValue(modelPath, metadata, 'lotus.processing_resolution', (n) => n >= 0, 'a non-negative integer'),
    sizeMultiple: integerValue(modelPath, metadata, 'lotus.size_multiple', (n) => n === 8, '8 (the SD VAE downscale factor)'),
    precision: oneOf(modelPath, metadata, 'lotus.precision', ['fp32', 'fp16'] as const),
    source: metadata['lotus.source'] ?? '',
    randomWeights: metadata['lotus.random_weights'] === 'true',
    formatVersion: metadata['lotus.format_version'],
    exporterVersion: metadata['lotus.exporter_version'] ?? '',
    metadata,
    inputs: raw.inputs,
    outputs: raw.outputs,
  };
  checkTensor(modelPath, raw.inputs, 'image', 'input');
  if (mode === 'generation') checkTensor(modelPath, raw.inputs, 'noise', 'input');
  else if (raw.inputs.some((t) => t.name === 'noise')) {
    throw metadataError(modelPath, 'lotus.mode is regression but the graph takes a "noise" input');
  }
  checkTensor(modelPath, raw.outputs, 'prediction', 'output');
  return info;
}
