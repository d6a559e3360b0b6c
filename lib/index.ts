// Public API of lotus-trt (docs/design.md, "Public API").
export { createEstimator, LotusEstimator } from './estimator/estimator';
export type { EstimatorStats } from './estimator/estimator';
export type { DeviceStats } from './backends/device-pool';
export type {
  BackendChoice,
  BatchInfo,
  BatchingOptions,
  DeviceChoice,
  CpuOptions,
  EstimateOptions,
  EstimatorOptions,
  InputResample,
  OutputResample,
  ProfileSize,
  TensorRTOptions,
} from './estimator/options';
export { MAX_IMAGE_SIDE } from './estimator/options';
export type { ImageInput, RawImage } from './io/image-input';
export { DepthResult, NormalResult } from './estimator/results';
export type { EstimateResult, Timings } from './estimator/results';
export type { GpuMemoryStats } from './backends/backend';
export type { ElementType, Mode, ModelInfo, Precision, Task, TensorSignature } from './model/metadata';
export { readModelInfo } from './model/metadata';
export { deviceInfo, deviceMemory, tensorrtInfo } from './addon/info';
export type { DeviceInfo, DeviceMemory, DeviceProperties, TensorRTInfo } from './addon/info';
export {
  AbortedError,
  BackendUnavailableError,
  BusyError,
  CudaError,
  DisposedError,
  EngineCacheError,
  ImageError,
  InternalError,
  InvalidArgumentError,
  LotusError,
  ModelError,
  QueueError,
  TensorRTError,
  TimeoutError,
} from './errors';
export type { LotusErrorCode } from './errors';
export { decodeNpy, encodeNpy } from './io/npy';
export type { Npy, NpyArray } from './io/npy';
export { native } from './addon/load';
// Distributed work queue on Redis (BullMQ, loaded on first use): docs/queue.md.
export * from './queue/index';
