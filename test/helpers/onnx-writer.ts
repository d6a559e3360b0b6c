// A tiny protobuf/ONNX writer for tests: builds real (runnable) ONNX files with chosen metadata,
// so metadata and validation tests do not depend on the Python-made fixtures.

type Bytes = Buffer;

export function varint(n: number): Bytes {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

const tag = (field: number, wire: number) => varint(field * 8 + wire);
export const intField = (field: number, value: number): Bytes => Buffer.concat([tag(field, 0), varint(value)]);
export const bytesField = (field: number, payload: Bytes | string): Bytes => {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([tag(field, 2), varint(data.length), data]);
};
const message = (...parts: Bytes[]) => Buffer.concat(parts);

export type Dim = number | string;

export interface TensorSpec {
  name: string;
  /** ONNX TensorProto.DataType: 1 float, 10 float16, 7 int64. */
  elemType?: number;
  dims?: Dim[];
}

export function valueInfo({ name, elemType = 1, dims = ['N', 3, 'H', 'W'] }: TensorSpec): Bytes {
  const shape = message(
    ...dims.map((d) => bytesField(1, typeof d === 'number' ? intField(1, d) : bytesField(2, d))),
  );
  const tensorType = message(intField(1, elemType), bytesField(2, shape));
  return message(bytesField(1, name), bytesField(2, bytesField(1, tensorType)));
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
}

export interface ModelSpec {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  nodes: NodeSpec[];
  metadata?: Record<string, string>;
  /** Bytes of a dummy initializer, to check that large fields are skipped, not read. */
  initializerBytes?: number;
  /** int64 constants (1-D), e.g. Slice bounds. */
  int64Initializers?: Record<string, number[]>;
  irVersion?: number;
}

export function onnxModel(spec: ModelSpec): Buffer {
  const nodes = spec.nodes.map((n, i) =>
    bytesField(1, message(...n.inputs.map((s) => bytesField(1, s)), ...n.outputs.map((s) => bytesField(2, s)), bytesField(3, `node${i}`), bytesField(4, n.op))),
  );
  const initializer = spec.initializerBytes
    ? [bytesField(5, message(intField(1, spec.initializerBytes / 4), intField(2, 1), bytesField(8, 'unused_weight'), bytesField(9, Buffer.alloc(spec.initializerBytes))))]
    : [];
  for (const [name, values] of Object.entries(spec.int64Initializers ?? {})) {
    const raw = Buffer.alloc(8 * values.length);
    values.forEach((v, i) => raw.writeBigInt64LE(BigInt(v), 8 * i));
    initializer.push(bytesField(5, message(intField(1, values.length), intField(2, 7), bytesField(8, name), bytesField(9, raw))));
  }
  const graph = message(
    ...nodes,
    bytesField(2, 'test_graph'),
    ...initializer,
    ...spec.inputs.map((t) => bytesField(11, valueInfo(t))),
    ...spec.outputs.map((t) => bytesField(12, valueInfo(t))),
  );
  const metadata = Object.entries(spec.metadata ?? {}).map(([k, v]) => bytesField(14, message(bytesField(1, k), bytesField(2, v))));
  return message(
    intField(1, spec.irVersion ?? 8),
    bytesField(2, 'lotus-trt-tests'),
    bytesField(7, graph),
    bytesField(8, message(bytesField(1, ''), intField(2, 17))),
    ...metadata,
  );
}

export function lotusMetadata(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const base: Record<string, string | undefined> = {
    'lotus.format_version': '1',
    'lotus.task': 'depth',
    'lotus.mode': 'regression',
    'lotus.disparity': 'false',
    'lotus.processing_resolution': '768',
    'lotus.size_multiple': '8',
    'lotus.latent_scale': '0.18215',
    'lotus.timestep': '999',
    'lotus.precision': 'fp32',
    'lotus.source': 'test',
    'lotus.exporter_version': '0.0.0',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(base).filter((e): e is [string, string] => e[1] !== undefined));
}

/**
 * A runnable "identity Lotus": prediction = image cropped to 8 * floor(H / 8) x 8 * floor(W / 8), the
 * size a Lotus network's VAE gives back, so the pipeline's output is exactly the pre- and
 * post-processing (depth = mean over channels of clamp(x / 2 + 0.5)). G variants take an unused
 * noise input.
 */
export function identityLotusModel(options: { task?: 'depth' | 'normal'; mode?: 'generation' | 'regression'; metadata?: Record<string, string | undefined> } = {}): Buffer {
  const mode = options.mode ?? 'regression';
  const inputs: TensorSpec[] = [{ name: 'image' }];
  if (mode === 'generation') inputs.push({ name: 'noise', dims: ['N', 4, 'h', 'w'] });
  return onnxModel({
    inputs,
    outputs: [{ name: 'prediction', dims: ['N', 3, 'PH', 'PW'] }],
    int64Initializers: { two: [2], four: [4], eight: [8], zeros: [0, 0], spatial: [2, 3] },
    nodes: [
      { op: 'Shape', inputs: ['image'], outputs: ['shape'] },
      { op: 'Slice', inputs: ['shape', 'two', 'four'], outputs: ['hw'] },
      { op: 'Div', inputs: ['hw', 'eight'], outputs: ['latent'] },
      { op: 'Mul', inputs: ['latent', 'eight'], outputs: ['decoded'] },
      { op: 'Slice', inputs: ['image', 'zeros', 'decoded', 'spatial'], outputs: ['prediction'] },
    ],
    metadata: lotusMetadata({ 'lotus.task': options.task ?? 'depth', 'lotus.mode': mode, ...options.metadata }),
  });
}
