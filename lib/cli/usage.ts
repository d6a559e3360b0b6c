// Usage text for `lotus` and each subcommand (printed with argument errors and for --help).

const GLOBAL = `Usage: lotus <command> [options]

Lotus monocular depth and surface normals (TensorRT on NVIDIA GPUs, onnxruntime on the CPU).

Commands:
  depth   <image|folder>...  estimate depth maps
  normal  <image|folder>...  estimate surface normals
  build                      build and cache the TensorRT engine for a model
  info                       show GPUs, driver, CUDA, TensorRT and cached engines
  bench                      measure latency and throughput (optionally against PyTorch)

Run "lotus <command> --help" for a command's options.`;

const PREDICT = (task: 'depth' | 'normal'): string => {
  const formats = task === 'depth' ? 'npy,png16,color' : 'npy,png';
  const defaults = task === 'depth' ? 'npy,color' : 'npy,png';
  const files = task === 'depth'
    ? '<name>_depth.npy, <name>_depth16.png, <name>_depth_color.png'
    : '<name>_normal.npy, <name>_normal.png';
  return `Usage: lotus ${task} <image|folder>... --model <onnx> [options]

Images: png, jpg, jpeg, webp, tif, tiff; folders are searched (not recursively) for those.
Writes ${files}.

Options:
  --model <onnx>                  Lotus ${task} model exported to ONNX (required)
  --out <dir>                     output folder (default: next to each input image)
  --format <list>                 any of ${formats} (default: ${defaults})
  --backend <auto|tensorrt|cpu>   inference backend (default: auto)
  --processing-resolution <N>     long edge the network sees; 0 = input size (default: model's, 768)
  --output-resample <nearest|bilinear>  resize of the prediction back to the input size (default: nearest)
  --seed <N>                      noise seed for generative (G) models (default: 0)
  --cache-dir <dir>               cache folder: TensorRT engines, CPU optimised models
  --json                          print one JSON document describing the outputs
  -h, --help                      show this help`;
};

const BUILD = `Usage: lotus build --model <onnx> [options]

Builds the TensorRT engine for a model and stores it in the engine cache.

Options:
  --model <onnx>        Lotus model exported to ONNX (required)
  --cache-dir <dir>     engine cache folder
  --min <WxH|N>         smallest network input of the optimisation profile
  --opt <WxH|N>         input size TensorRT tunes for
  --max <WxH|N>         largest network input of the optimisation profile
  --max-batch <N>       largest batch the engine accepts
  --lanes <N>           concurrent execution lanes (CUDA streams + contexts)
  --workspace <MiB>     TensorRT builder workspace limit in MiB
  --json                print the result as JSON
  -h, --help            show this help`;

const INFO = `Usage: lotus info [options]

Shows GPUs, driver, CUDA runtime, TensorRT availability and version, and cached engines.

Options:
  --cache-dir <dir>     engine cache folder to list
  --json                print one JSON document
  -h, --help            show this help`;

const BENCH = `Usage: lotus bench --model <onnx> [options]

Warms up, then times --iterations requests per (resolution, concurrency) and reports
p50/p90/p99 latency, throughput and the per-stage breakdown. The first (cold) request and the
model load / engine build are reported separately.

Options:
  --model <onnx>              Lotus model exported to ONNX (required)
  --backend <auto|tensorrt|cpu>  inference backend (default: auto)
  --resolutions <list>        processing resolutions (long edge), e.g. 384,768 (default: 768)
  --batch <N>                 images per request, one estimateBatch() call (default: 1)
  --concurrency <list>        requests in flight, e.g. 1,4 (default: 1)
  --iterations <N>            timed requests per (resolution, concurrency) (default: 20)
  --warmup <N>                untimed requests per resolution before timing (default: 3)
  --image <file>              input image (default: a synthetic 1920x1080 PNG)
  --seed <N>                  noise seed for generative (G) models (default: 0)
  --cache-dir <dir>           cache folder: TensorRT engines, CPU optimised models
  --peer-checkpoint <dir>     also run the PyTorch reference (scripts/bench_pytorch.py) on this
                              diffusers checkpoint in the same run and print latency ratios
  --python <path>             Python interpreter for the peer (default: $LOTUS_PYTHON or python3)
  --peer-device <auto|cuda|cpu>  device for the peer (default: cuda with the tensorrt backend, else cpu)
  --json                      print one JSON document (fields: docs/benchmarks.md)
  -h, --help                  show this help`;

const TEXTS: Record<string, string> = {
  depth: PREDICT('depth'),
  normal: PREDICT('normal'),
  build: BUILD,
  info: INFO,
  bench: BENCH,
};

export function usage(command?: string): string {
  return (command !== undefined && TEXTS[command]) || GLOBAL;
}

export const COMMANDS = Object.keys(TEXTS);
