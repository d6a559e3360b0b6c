"""scripts/gpu-check: build the native tests for the GPU present and run everything that needs a GPU,
then print one JSON report and a summary (docs/gpu-check.md). Python standard library only; the
PyTorch part runs under --python. Exit 0 when no part failed (skipped parts are fine), 1 otherwise."""
import argparse
import datetime
import os
import platform
import sys
import time

from . import environment, native, pytorch_part, summary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARTS = ("kernels", "datapath", "timing", "pytorch")
OPTIONAL = ("sanitizer",)  # only with --only: compute-sanitizer memcheck over the parity and data path checks
SANITIZED_GROUPS = "single,batches,graphs,noise,leases,errors"


def log(message):
    print(f"[gpu-check] {message}", file=sys.stderr, flush=True)


def merge(parts):
    """One part from several runs of a binary: fail if any failed, skip only if all skipped."""
    statuses = [p["status"] for p in parts]
    status = "fail" if "fail" in statuses else ("skip" if all(s == "skip" for s in statuses) else "pass")
    merged = {"status": status, "seconds": round(sum(p.get("seconds", 0) for p in parts), 2), "runs": parts}
    reasons = [p["reason"] for p in parts if p.get("reason") and p["status"] == status]
    if reasons:
        merged["reason"] = reasons[0]
    return merged


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="scripts/gpu-check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests and iterations: under 2 minutes on an H100")
    ap.add_argument("--only", help=f"comma-separated parts to run: {','.join(PARTS + OPTIONAL)} (the build runs "
                                   "when a native part does; sanitizer runs only when named)")
    ap.add_argument("--datapath-groups", help="only these groups of lotus_datapath_tests (e.g. stress,lanes)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-gpu-check"))
    ap.add_argument("--out-dir", help="write the report and every log here (on the GPU machine: $OUT)")
    ap.add_argument("--json", help="report path (default: gpu-check.json in --out-dir, else in --build-dir)")
    ap.add_argument("--python", default=sys.executable, help="Python with torch for the PyTorch part")
    ap.add_argument("--carry", default=os.path.join(ROOT, ".gpu-carry"),
                    help="folder made by scripts/gpu-check-carry (diffusers source, Lotus code)")
    ap.add_argument("--lotus-repo", help="EnVision-Research/Lotus checkout (default: $LOTUS_REPO, else the carried one)")
    ap.add_argument("--checkpoint", help="full-size diffusers checkpoint to use instead of making one")
    ap.add_argument("--arch", help="CMake CUDA architecture (default: the GPU's, e.g. 90-real)")
    ap.add_argument("--pytorch-device", choices=["cuda", "cpu"], default="cuda",
                    help="cpu only to dry-run the PyTorch part without a GPU (with a small --checkpoint)")
    a = ap.parse_args(argv)
    selected = PARTS if not a.only else tuple(p.strip() for p in a.only.split(",") if p.strip())
    unknown = [p for p in selected if p not in PARTS + OPTIONAL]
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}; parts are {', '.join(PARTS + OPTIONAL)}")
    a.parts = selected
    return a


def main(argv=None):
    a = parse_args(argv)
    start = time.monotonic()
    logs = os.path.abspath(a.out_dir or a.build_dir)
    os.makedirs(logs, exist_ok=True)
    build_dir = os.path.abspath(a.build_dir)
    os.makedirs(build_dir, exist_ok=True)
    json_path = a.json or os.path.join(logs, "gpu-check.json")

    gpu, gpu_reason = environment.detect_gpu()
    nvcc = environment.find_nvcc()
    arch = a.arch or environment.cuda_architecture(gpu)
    report = {
        "schema": "lotus-gpu-check/1",
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if a.quick else "full",
        "host": {"os": f"{platform.system()} {platform.release()}", "machine": platform.machine(),
                 "python": platform.python_version()},
        "gpu": gpu, "gpuReason": gpu_reason, "tools": environment.tool_versions(nvcc), "cudaArchitecture": arch,
        "parts": {},
    }
    log(f"GPU: {gpu['name'] + ' (compute ' + gpu['computeCapability'] + ')' if gpu else gpu_reason}")
    parts = report["parts"]

    native_parts = [p for p in a.parts if p != "pytorch"]
    if native_parts:
        if not nvcc:
            built, seconds, detail = False, 0, "no CUDA compiler (nvcc): set CUDACXX or put nvcc on PATH"
        else:
            log(f"building the native tests for {arch} in {build_dir}")
            built, seconds, detail = native.build(ROOT, build_dir, arch, nvcc, os.path.join(logs, "build.log"))
        parts["build"] = {"status": "pass" if built else "fail", "seconds": round(seconds, 1),
                          ("detail" if built else "reason"): detail}
        log(f"build: {'done' if built else 'FAILED'} in {seconds:.0f} s")
        kernel = native.binary(build_dir, "lotus_kernel_tests")
        datapath = native.binary(build_dir, "lotus_datapath_tests")
        quick = ["--quick"] if a.quick else []

        def run(name, path, args, label, prefix=()):
            if not built or not path:
                return {"status": "fail", "reason": "the native tests did not build (see the build part)"}
            log(f"{label}: {os.path.basename(path)} {' '.join(args)}")
            return native.run_binary(path, args, os.path.join(build_dir, f"{name}.json"),
                                     os.path.join(logs, f"{name}.log"), timeout=600, prefix=prefix)

        if "kernels" in a.parts:
            parts["kernels"] = merge([run("kernel-parity", kernel, [], "kernel parity"),
                                      run("kernel-stress", kernel, ["--stress", "1000" if a.quick else "10000"],
                                          "kernel stress")])
        if "datapath" in a.parts:
            groups = ["--only", a.datapath_groups] if a.datapath_groups else []
            parts["datapath"] = run("datapath", datapath, quick + groups, "data path through GpuPipeline")
        if "timing" in a.parts:
            parts["timing"] = run("timing", datapath, ["--timing"] + quick, "stage timing")
        if "sanitizer" in a.parts:
            sanitizer = environment.find_tool("compute-sanitizer")
            if not sanitizer:
                parts["sanitizer"] = {"status": "skip", "reason": "compute-sanitizer not found"}
            else:
                prefix = [sanitizer, "--tool", "memcheck", "--error-exitcode", "99", "--leak-check", "no"]
                parts["sanitizer"] = merge([
                    run("sanitizer-kernels", kernel, [], "memcheck: kernel parity", prefix),
                    run("sanitizer-datapath", datapath, ["--quick", "--only", SANITIZED_GROUPS],
                        "memcheck: data path", prefix)])
        # A GPU that nvidia-smi lists but CUDA cannot use is a failure to look at, not a skip.
        for name in [p for p in native_parts if p != "sanitizer"]:
            if gpu and parts.get(name, {}).get("status") == "skip":
                parts[name]["status"] = "fail"
                parts[name]["reason"] = f"nvidia-smi lists {gpu['name']} but the test skipped: {parts[name]['reason']}"

    if "pytorch" in a.parts:
        log(f"PyTorch reference with {a.python}")
        parts["pytorch"] = pytorch_part.run(a.python, a.carry, build_dir, a.lotus_repo, a.checkpoint, a.quick,
                                            os.path.join(logs, "pytorch.log"), a.pytorch_device)

    report["seconds"] = round(time.monotonic() - start, 1)
    text = summary.dumps(report)
    with open(json_path, "w") as f:
        f.write(text + "\n")
    print(text)
    failed = summary.print_summary(report, json_path)
    return 1 if failed else 0
