// NumPy .npy (format 1.0 to write; 1.0-3.0 to read), little-endian, C order.
import { InvalidArgumentError } from '../errors';

export type NpyArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array;

export interface Npy {
  dtype: string;
  shape: number[];
  data: NpyArray;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

const DTYPES: Record<string, { bytes: number; make: (buffer: ArrayBuffer, count: number) => NpyArray }> = {
  '<f4': { bytes: 4, make: (b, n) => new Float32Array(b, 0, n) },
  '<f8': { bytes: 8, make: (b, n) => new Float64Array(b, 0, n) },
  '|u1': { bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  '|b1': { bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  '|i1': { bytes: 1, make: (b, n) => new Int8Array(b, 0, n) },
  '<u2': { bytes: 2, make: (b, n) => new Uint16Array(b, 0, n) },
  '<f2': { bytes: 2, make: (b, n) => new Uint16Array(b, 0, n) }, // raw IEEE half bits
  '<i2': { bytes: 2, make: (b, n) => new Int16Array(b, 0, n) },
  '<i4': { bytes: 4, make: (b, n) => new Int32Array(b, 0, n) },
  '<u4': { bytes: 4, make: (b, n) => new Uint32Array(b, 0, n) },
  '<i8': { bytes: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
};

function descrOf(data: NpyArray): string {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Uint8Array) return '|u1';
  if (data instanceof Int8Array) return '|i1';
  if (data instanceof Uint16Array) return '<u2';
  if (data instanceof Int16Array) return '<i2';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint32Array) return '<u4';
  return '<i8';
}

/** Encodes a typed array with the given shape as a .npy file. */
export function encodeNpy(data: NpyArray, shape: readonly number[]): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new InvalidArgumentError('shape', `shape: [${shape.join(', ')}] holds ${count} values, the data ${data.length}`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descrOf(data)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Magic (6) + version (2) + length (2) + header + '\n' is padded to a multiple of 64.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const head = Buffer.alloc(10);
  MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!isLittleEndian()) throw new Error('big-endian hosts are not supported');
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

function npyError(message: string): InvalidArgumentError {
  return new InvalidArgumentError('npy', `npy: ${message}`);
}

/** Decodes a .npy file (C order, little-endian numeric dtypes). The data is copied (aligned). */
export function decodeNpy(file: Uint8Array): Npy {
  const buffer = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buffer.length < 10 || !buffer.subarray(0, 6).equals(MAGIC)) throw npyError('not a .npy file (bad magic)');
  const major = buffer[6];
  let headerLength: number;
  let offset: number;
  if (major === 1) {
    headerLength = buffer.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLength = buffer.readUInt32LE(8);
    offset = 12;
  } else {
    throw npyError(`unsupported format version ${major}`);
  }
  const header = buffer.subarray(offset, offset + headerLength).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw npyError(`malformed header ${header.trim()}`);
  if (fortran === 'True') throw npyError('Fortran-order arrays are not supported');
  const dtype = DTYPES[descr];
  if (!dtype) throw npyError(`unsupported dtype ${descr}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = offset + headerLength;
  const bytes = count * dtype.bytes;
  if (buffer.length - start < bytes) throw npyError(`truncated: header promises ${bytes} data bytes, file has ${buffer.length - start}`);
  const copy = new ArrayBuffer(bytes);
  new Uint8Array(copy).set(buffer.subarray(start, start + bytes));
  return { dtype: descr, shape, data: dtype.make(copy, count) };
}
