// Lists the external data files an ONNX model references (TensorProto.external_data "location"),
// without loading the model: a positional protobuf walk that reads only tags and lengths and
// skips tensor payloads, so a multi-GB model costs a few small reads.
import fs from 'node:fs';
import path from 'node:path';
import { ModelError } from '../errors';
import { describeFileKind, FileAccessError, openRegularFileSync } from '../io/regular-file';

// Field numbers from onnx.proto3.
const MODEL_GRAPH = 7;
const MODEL_FUNCTIONS = 25;
const FUNCTION_NODE = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_SPARSE_INITIALIZER = 15;
const NODE_ATTRIBUTE = 5;
const ATTRIBUTE_T = 5;
const ATTRIBUTE_G = 6;
const ATTRIBUTE_TENSORS = 10;
const ATTRIBUTE_GRAPHS = 11;
const ATTRIBUTE_SPARSE_TENSOR = 22;
const ATTRIBUTE_SPARSE_TENSORS = 23;
const SPARSE_VALUES = 1;
const SPARSE_INDICES = 2;
const TENSOR_EXTERNAL_DATA = 13;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

/** Reads the file through a small window; seeking past skipped fields costs nothing. */
class PositionalReader {
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(private readonly fd: number, readonly size: number) {}

  byteAt(position: number): number {
    if (position < this.windowStart || position >= this.windowStart + this.window.length) {
      const length = Math.min(64 * 1024, this.size - position);
      if (length <= 0) throw new Error('truncated protobuf');
      this.window = Buffer.alloc(length);
      fs.readSync(this.fd, this.window, 0, length, position);
      this.windowStart = position;
    }
    return this.window[position - this.windowStart];
  }

  bytes(position: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    const read = fs.readSync(this.fd, out, 0, length, position);
    if (read !== length) throw new Error('truncated protobuf');
    return out;
  }

  /** Returns [value, next position]. Values above 2^53 only occur in fields we skip. */
  varint(position: number): [number, number] {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const byte = this.byteAt(position++);
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return [value, position];
      scale *= 128;
    }
    throw new Error('bad varint');
  }
}

type FieldVisitor = (field: number, start: number, end: number) => void;

/** Calls `visit` for every length-delimited field of the message in [start, end). */
function forEachLengthField(reader: PositionalReader, start: number, end: number, visit: FieldVisitor): void {
  let position = start;
  while (position < end) {
    const [tag, afterTag] = reader.varint(position);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    position = afterTag;
    if (wire === WIRE_VARINT) {
      position = reader.varint(position)[1];
    } else if (wire === WIRE_FIXED64) {
      position += 8;
    } else if (wire === WIRE_FIXED32) {
      position += 4;
    } else if (wire === WIRE_LENGTH) {
      const [length, afterLength] = reader.varint(position);
      const fieldEnd = afterLength + length;
      if (fieldEnd > end) throw new Error('protobuf field runs past its message');
      visit(field, afterLength, fieldEnd);
      position = fieldEnd;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
  if (position !== end) throw new Error('protobuf message overruns its length');
}

/** Subgraphs nested deeper than this are refused (protobuf's own parsers stop at 100 messages). */
const MAX_GRAPH_DEPTH = 32;

class ExternalDataScanner {
  readonly locations = new Set<string>();
  private depth = 0;

  constructor(private readonly reader: PositionalReader) {}

  model(start: number, end: number): void {
    forEachLengthField(this.reader, start, end, (field, s, e) => {
      if (field === MODEL_GRAPH) this.graph(s, e);
      else if (field === MODEL_FUNCTIONS) {
        forEachLengthField(this.reader, s, e, (f, fs2, fe) => f === FUNCTION_NODE && this.node(fs2, fe));
      }
    });
  }

  private graph(start: number, end: number): void {
    // A stack-depth attack (graph > node > attribute > graph ...) ends here, not in a RangeError.
    if (++this.depth > MAX_GRAPH_DEPTH) throw new Error(`subgraphs nested deeper than ${MAX_GRAPH_DEPTH}`);
    forEachLengthField(this.reader, start, end, (field, s, e) => {
      if (field === GRAPH_INITIALIZER) this.tensor(s, e);
      else if (field === GRAPH_SPARSE_INITIALIZER) this.sparseTensor(s, e);
      else if (field === GRAPH_NODE) this.node(s, e);
    });
    this.depth--;
  }

  private node(start: number, end: number): void {
    forEachLengthField(this.reader, start, end, (field, s, e) => field === NODE_ATTRIBUTE && this.attribute(s, e));
  }

  private attribute(start: number, end: number): void {
    forEachLengthField(this.reader, start, end, (field, s, e) => {
      if (field === ATTRIBUTE_T || field === ATTRIBUTE_TENSORS) this.tensor(s, e);
      else if (field === ATTRIBUTE_G || field === ATTRIBUTE_GRAPHS) this.graph(s, e);
      else if (field === ATTRIBUTE_SPARSE_TENSOR || field === ATTRIBUTE_SPARSE_TENSORS) this.sparseTensor(s, e);
    });
  }

  private sparseTensor(start: number, end: number): void {
    forEachLengthField(this.reader, start, end, (field, s, e) => {
      if (field === SPARSE_VALUES || field === SPARSE_INDICES) this.tensor(s, e);
    });
  }

  private tensor(start: number, end: number): void {
    forEachLengthField(this.reader, start, end, (field, s, e) => {
      if (field !== TENSOR_EXTERNAL_DATA) return;
      let key = '';
      let value = '';
      forEachLengthField(this.reader, s, e, (f, fs2, fe) => {
        if (f === ENTRY_KEY) key = this.reader.bytes(fs2, fe - fs2).toString('utf8');
        else if (f === ENTRY_VALUE) value = this.reader.bytes(fs2, fe - fs2).toString('utf8');
      });
      if (key === 'location' && value) this.locations.add(value);
    });
  }
}

/**
 * An external data location as a real path: inside the model's directory after following
 * symlinks (as onnxruntime requires) and a regular file (a symlink to /dev/zero would never end
 * a read). Throws ModelError otherwise.
 */
function checkedLocation(onnxPath: string, dir: string, realDir: string, location: string): string {
  const resolved = path.resolve(dir, location);
  // ONNX (like the TensorRT parser) only allows locations inside the model's directory.
  if (path.isAbsolute(location) || !resolved.startsWith(dir + path.sep)) {
    throw new ModelError(`${onnxPath}: external data location ${JSON.stringify(location)} is outside ${dir}`);
  }
  let real: string;
  let stat: fs.Stats;
  try {
    real = fs.realpathSync(resolved);
    stat = fs.statSync(real);
  } catch (error) {
    throw new ModelError(`${onnxPath}: external data file ${JSON.stringify(location)} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (!real.startsWith(realDir + path.sep)) {
    throw new ModelError(`${onnxPath}: external data location ${JSON.stringify(location)} leads outside ${dir} (to ${real}) through a symlink`);
  }
  if (!stat.isFile()) {
    throw new ModelError(`${onnxPath}: external data location ${JSON.stringify(location)} is ${describeFileKind(stat)}, not a regular file`);
  }
  return real;
}

/**
 * Real paths of the external data files `onnxPath` references, sorted, deduplicated. Throws
 * ModelError when the file is not a regular file or not a parseable protobuf, or a location is
 * not a regular file inside the model's directory.
 */
export function externalDataFiles(onnxPath: string): string[] {
  let fd: number;
  let size: number;
  try {
    ({ fd, stat: { size } } = openRegularFileSync(onnxPath));
  } catch (error) {
    if (error instanceof FileAccessError) throw new ModelError(`modelPath: cannot open ${onnxPath}: ${error.message}`, { cause: error });
    throw error;
  }
  try {
    const scanner = new ExternalDataScanner(new PositionalReader(fd, size));
    try {
      scanner.model(0, size);
    } catch (error) {
      throw new ModelError(`${onnxPath}: cannot list its external data (protobuf parse failed: ${(error as Error).message})`, { cause: error });
    }
    const dir = path.dirname(path.resolve(onnxPath));
    const realDir = fs.realpathSync(dir);
    return [...new Set([...scanner.locations].map((location) => checkedLocation(onnxPath, dir, realDir, location)))].sort();
  } finally {
    fs.closeSync(fd);
  }
}

/** Bytes of the model: the .onnx file plus every external data file it references. */
export function modelFileBytes(onnxPath: string): number {
  return [onnxPath, ...externalDataFiles(onnxPath)].reduce((sum, file) => sum + fs.statSync(file).size, 0);
}
