// Public API of lotus-trt (docs/design.md, "Public API").
export { createEstimator, LotusEstimator } from './estimator';
export type {
  BackendChoice,
  CpuOptions,
  EstimateOptions,
  EstimatorOptions,
  InputResample,
  OutputResample,
  ProfileSize,
  TensorRTOptions,
} from './options';
export { MAX_IMAGE_SIDE } from './options';
export type { ImageInput, RawImage } from './image-input';
export { DepthResult, NormalResult } from './results';
export type { EstimateResult, Timings } from './results';
export type { GpuMemoryStats } from './backends/backend';
export type { ElementType, Mode, ModelInfo, Precision, Task, TensorSignature } from './model-metadata';
export { readModelInfo } from './model-metadata';
export { deviceInfo, tensorrtInfo } from './info';
export type { DeviceInfo, DeviceProperties, TensorRTInfo } from './info';
export {
  BackendUnavailableError,
  CudaError,
  DisposedError,
  ImageError,
  InternalError,
  InvalidArgumentError,
  LotusError,
  ModelError,
  TensorRTError,
} from './errors';
export type { LotusErrorCode } from './errors';
export { decodeNpy, encodeNpy } from './npy';
export type { Npy, NpyArray } from './npy';
export { native } from './native';
