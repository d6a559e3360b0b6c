// Usage text for `lotus` and each subcommand (printed with argument errors and for --help).

const GLOBAL = `Usage: lotus <command> [options]

Lotus monocular depth and surface normals (TensorRT on NVIDIA GPUs, onnxruntime on the CPU).

Commands:
  depth   <image|folder>...  estimate depth maps
  normal  <image|folder>...  estimate surface normals
  build                      build and cache the TensorRT engine for a model
  info                       show GPUs, driver, CUDA, TensorRT and cached engines
  bench                      measure latency and throughput (optionally against PyTorch)
  serve                      HTTP server: POST /v1/depth or /v1/normal with image bytes

Run "lotus <command> --help" for a command's options.`;

const PREDICT = (task: 'depth' | 'normal'): string => {
  const formats = task === 'depth' ? 'npy,png16,color' : 'npy,png';
  const defaults = task === 'depth' ? 'npy,color' : 'npy,png';
  const files = task === 'depth'
    ? '<name>_depth.npy, <name>_depth16.png, <name>_depth_color.png'
    : '<name>_normal.npy, <name>_normal.png';
  return `Usage: lotus ${task} <image|folder>... --model <onnx> [options]

Images: png, jpg, jpeg, webp, tif, tiff; folders are searched (not recursively) for those,
skipping files named like this command's outputs. Inputs must be regular files (not pipes).
Writes ${files}; an existing file is only replaced with --overwrite, and an input never.
Ctrl-C (SIGINT) or SIGTERM: the images in flight finish, no new ones start, exit code 130 / 143;
a second signal stops at once. Files appear complete or not at all (temporary name, then rename).

Options:
  --model <onnx>                  Lotus ${task} model exported to ONNX (required)
  --out <dir>                     output folder (default: next to each input image)
  --format <list>                 any of ${formats} (default: ${defaults})
  --backend <auto|tensorrt|cpu>   inference backend (default: auto)
  --processing-resolution <N>     long edge the network sees; 0 = input size (default: model's, 768)
  --output-resample <nearest|bilinear>  resize of the prediction back to the input size (default: nearest)
  --seed <N>                      noise seed for generative (G) models, 0 to 2^53-1 (default: 0)
  --noise <file.npy>              explicit noise for a G model and one image: float32 [1, 4, h/8, w/8]
                                  of the resized h x w (to reproduce an official Lotus run)
  --no-auto-orient                ignore EXIF orientation, as Lotus's infer.py does (default: apply it)
  --overwrite                     replace existing output files
  --cache-dir <dir>               TensorRT engine cache folder
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
  --cache-dir <dir>           TensorRT engine cache folder
  --peer-checkpoint <dir>     also run the PyTorch reference (scripts/bench_pytorch.py) on this
                              diffusers checkpoint in the same run and print latency ratios
  --python <path>             Python interpreter for the peer (default: $LOTUS_PYTHON or python3)
  --peer-device <auto|cuda|cpu>  device for the peer (default: cuda with the tensorrt backend, else cpu)
  --json                      print one JSON document (fields: docs/benchmarks.md)
  -h, --help                  show this help`;

const SERVE = `Usage: lotus serve --model <onnx> [options]

HTTP server (node:http) around one estimator. Listens at once; the model loads after (GET /healthz
answers 503 until it has). Prints one line with the address and backend when ready.

  POST /v1/depth | /v1/normal   body: the image bytes (jpeg, png, webp, gif, tiff, heif/avif)
      ?output=png|png16|npy|json (default png; png16 for depth only) &processingResolution=N &seed=N
      200 with the result; 400 {"error":{code,message,parameter}} for a bad image or option;
      413 over --max-body-mib; 429 + Retry-After when --max-queue requests already wait;
      503 + Retry-After past --request-timeout-ms or while loading / shutting down
  GET /healthz                  200 {"status":"ready",...} once the model is loaded, else 503
  GET /metrics                  Prometheus: requests by status, latency, queue depth, batch sizes,
                                per-device load, GPU pools, process memory

SIGTERM / SIGINT: stop accepting connections, answer every request already accepted, close the
estimator, exit 0 (1 if --drain-timeout-ms passed first); a second signal exits at once.

Options:
  --model <onnx>              Lotus model exported to ONNX (required)
  --host <addr>               address to listen on (default: 127.0.0.1)
  --port <N>                  port (default: 8080; 0 = any free port, printed at start)
  --backend <auto|tensorrt|cpu>  inference backend (default: auto)
  --device <N|N,M|all>        CUDA device(s): one TensorRT session each, least-loaded first (default: 0)
  --processing-resolution <N> default long edge for requests without ?processingResolution
  --batch-max <N>             most images per network call, also the backend's batch limit
                              (default: the backend's: 4 on the CPU, the engine's on TensorRT; 1 = no batching)
  --batch-delay-ms <N>        longest wait of a request for company (default: 2)
  --max-queue <N>             requests that may wait beyond those admitted; more get 429 (default: 64)
  --max-body-mib <N>          largest request body (default: 32)
  --max-input-pixels <N>      largest image, width x height, checked before decoding (default: 8192 x 8192)
  --request-timeout-ms <N>    a request not answered by then gets 503 (default: 60000)
  --drain-timeout-ms <N>      shutdown deadline (default: 30000)
  --cpu-threads <N>           onnxruntime intra-op threads (default: onnxruntime's)
  --cache-dir <dir>           TensorRT engine cache folder
  -h, --help                  show this help`;

const TEXTS: Record<string, string> = {
  depth: PREDICT('depth'),
  normal: PREDICT('normal'),
  build: BUILD,
  info: INFO,
  bench: BENCH,
  serve: SERVE,
};

export function usage(command?: string): string {
  return (command !== undefined && TEXTS[command]) || GLOBAL;
}

export const COMMANDS = Object.keys(TEXTS);
