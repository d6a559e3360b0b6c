// Why a GPU suite cannot run here (undefined when it can): the device, TensorRT (and its ONNX
// parser, for suites that build engines from ONNX), and the fixture models it needs.
import fs from 'node:fs';
import { deviceInfo, tensorrtInfo } from '../../lib/addon/info';

export function tensorrtSkipReason(models: string[], { parser }: { parser: boolean }): string | undefined {
  const device = deviceInfo();
  if (!device.usable) return `no usable CUDA device: ${device.reason}`;
  const trt = tensorrtInfo();
  if (!trt.available) return `TensorRT unavailable: ${trt.reason}`;
  if (parser && !trt.onnxParser.available) return `no ONNX parser: ${trt.onnxParser.reason}`;
  const missing = models.find((model) => !fs.existsSync(model));
  return missing ? `fixture ${missing} is missing` : undefined;
}
