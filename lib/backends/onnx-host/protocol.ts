// Messages between the CPU backend and its onnxruntime process (docs/design.md, "Worker threads"). Sent over the IPC channel with `serialization: 'advanced'`
// (structured clone), so typed arrays travel as typed arrays.
/** A tensor as plain data: onnxruntime's Tensor class exists only in the host process. */
export interface TensorData {
  type: 'float32' | 'float16';
  /** float32 values, or float16 bit patterns. */
  data: Float32Array | Uint16Array;
  dims: number[];
}

/** The session options that cross the process boundary (callbacks become messages). */
export interface HostSessionOptions {
  intraOpThreads?: number;
  arena: boolean;
  prepack: boolean;
  cache?: boolean;
  cacheDir?: string;
  reportProgress: boolean;
}

export type ParentMessage =
  | { type: 'load'; modelPath: string; options: HostSessionOptions }
  | { type: 'run'; id: number; feeds: Record<string, TensorData>; fetches: string[] }
  | { type: 'release' };

/** An error as data; `kind` says which typed error the parent raises. */
export interface HostError {
  kind: 'unavailable' | 'model';
  message: string;
}

export type HostMessage =
  | { type: 'progress'; phase: string; step: number; steps: number }
  | { type: 'warning'; message: string }
  | { type: 'loaded' }
  | { type: 'load-failed'; error: HostError }
  | { type: 'result'; id: number; outputs: Record<string, TensorData> }
  | { type: 'run-failed'; id: number; error: HostError };
