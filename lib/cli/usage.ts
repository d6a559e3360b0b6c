// Usage text for `lotus` and each subcommand (printed with argument errors and for --help).

const GLOBAL = `Usage: lotus <command> [options]

Lotus monocular depth and surface normals (TensorRT on NVIDIA GPUs, onnxruntime on the CPU).

Commands:
  depth   <image|folder>...  estimate depth maps
  normal  <image|folder>...  estimate surface normals
  build                      build and cache the TensorRT engine for a model
  info                       show GPUs, driver, CUDA, TensorRT and cached engines
  bench                      measure latency and throughput (optionally against PyTorch)
  export  <checkpoint>       export a Lotus checkpoint to FP16 and FP32 ONNX models (needs Python)
  worker                     take jobs from a Redis queue (BullMQ) and run them
  submit  <image|folder>...  enqueue jobs, wait for them with a progress bar
  queue-stats                queue depth, workers, jobs/s and failures by reason
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

const EXPORT = `Usage: lotus export <checkpoint> [options]

Exports a Lotus checkpoint (a Hugging Face id such as jingheya/lotus-depth-g-v2-1-disparity, or a
local diffusers folder) to <name>.fp16.onnx (TensorRT) and <name>.onnx (FP32, CPU), each validated
against PyTorch. Python 3.9+ is needed; a virtual environment is created (or reused) under the
cache folder and the pinned requirements (torch, onnx, diffusers, ...) are installed with pip.

Options:
  --out <dir>               folder for the models (default: the current folder)
  --precision <list>        fp16, fp32 or both (default: fp16,fp32)
  --python <path>           Python interpreter (default: $LOTUS_PYTHON or python3)
  --venv <dir>              virtual environment to create or reuse (default: <cache-dir>/export-venv)
  --index-url <url>         pip package index (a mirror, or file:///path/simple)
  --diffusers <spec|dir>    pip requirement for diffusers (default: diffusers), or a diffusers
                            source folder whose src/ is used as is
  --cache-dir <dir>         cache folder (default: $LOTUS_CACHE_DIR or ~/.cache/lotus-trt)
  --no-validate             skip the onnxruntime-vs-PyTorch check
  --json                    print the model paths as JSON
  -h, --help                show this help

Exit codes: 0 done, 2 bad arguments, 3 no usable Python, 4 no venv/pip, 5 no network,
6 pip failed, 7 the export or its validation failed.`;
const WORKER = `Usage: lotus worker --redis <url> --queue <name> --model <onnx> [options]

Takes depth/normal jobs from a Redis queue (BullMQ) and runs them, --concurrency at a time,
until SIGTERM/SIGINT: the first signal finishes the jobs in flight, a second hands them back.
Run one per GPU, on any number of machines (docs/queue.md).

Options:
  --redis <url>                   redis:// or rediss:// URL (required)
  --queue <name>                  queue name (required; one queue per model)
  --model <onnx>                  Lotus model exported to ONNX (required)
  --backend <auto|tensorrt|cpu>   inference backend (default: auto)
  --concurrency <N>               jobs in flight at once (default: 2)
  --processing-resolution <N>     default for jobs that do not set it (default: model's, 768)
  --cpu-threads <N>               onnxruntime intra-op threads (CPU backend)
  --device <N>                    CUDA device index (TensorRT backend; default: 0)
  --cache-dir <dir>               TensorRT engine cache folder
  --metrics-port <P>              serve Prometheus metrics on http://<host>:<P>/metrics
  --metrics-host <host>           address for the metrics server (default: 127.0.0.1)
  --lock-duration <ms>            a worker silent this long is presumed dead (default: 30000)
  --stalled-interval <ms>         how often to look for jobs of dead workers (default: 30000)
  --max-stalled <N>               recoveries a job gets before it fails (default: 1)
  --max-input-bytes <N>           largest input image (default: 16 MiB)
  --max-result-bytes <N>          largest outputs returned in a job result (default: 16 MiB)
  --input-root <dir>              accept input paths only inside this folder
  --output-root <dir>             write outputs only inside this folder
  --shutdown-timeout <s>          wait this long for jobs in flight on SIGTERM (default: 30)
  --name <name>                   worker name on jobs and results (default: host:pid)
  --log <text|json>               text status lines on stderr, or one JSON event per line on stdout
  -h, --help                      show this help`;

const SUBMIT = `Usage: lotus submit <image|folder>... --redis <url> --queue <name> [options]

Enqueues one job per image, shows a progress bar and prints a summary (failures with reasons).
Exit code 0 only when every job completed. Outputs have the names "lotus depth|normal" writes.

Options:
  --redis <url>                   redis:// or rediss:// URL (required)
  --queue <name>                  queue name (required)
  --task <depth|normal>           the task of the workers' model (default: depth)
  --out <dir>                     output folder (default: next to each input image)
  --format <list>                 depth: npy,png16,color; normal: npy,png (default: npy,color / npy,png)
  --inline                        send the image bytes in the job (default: its absolute path,
                                  which the workers must be able to read)
  --return                        workers return the outputs in the job result and submit writes
                                  them (no shared filesystem needed for outputs)
  --wait / --no-wait              wait for the jobs (default) or exit once they are enqueued
  --overwrite                     replace existing output files (without it, existing ones are an error)
  --attempts <N>                  attempts per job for transient failures (default: 3)
  --backoff <ms>                  first retry delay, doubling each attempt (default: 1000)
  --processing-resolution <N>     long edge the network sees; 0 = input size (default: worker's)
  --output-resample <nearest|bilinear>  resize of the prediction back to the input size
  --seed <N>                      noise seed for generative (G) models (default: 0)
  --timeout <s>                   stop waiting after this long (pending jobs count as not done)
  --json                          print one JSON document with every job's outcome
  -h, --help                      show this help`;

const QUEUE_STATS = `Usage: lotus queue-stats --redis <url> --queue <name> [options]

Jobs by state, connected workers, jobs per second (now and over the last minutes) and
failures grouped by reason.

Options:
  --redis <url>         redis:// or rediss:// URL (required)
  --queue <name>        queue name (required)
  --sample <ms>         window over which the current rate is measured; 0 skips it (default: 2000)
  --scan-failed <N>     group the newest N failed jobs by reason (default: 1000)
  --json                print one JSON document
  -h, --help            show this help`;

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
  export: EXPORT,
  worker: WORKER,
  submit: SUBMIT,
  'queue-stats': QUEUE_STATS,
  serve: SERVE,
};

export function usage(command?: string): string {
  return (command !== undefined && TEXTS[command]) || GLOBAL;
}

export const COMMANDS = Object.keys(TEXTS);
