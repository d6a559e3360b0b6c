"""Configure and build the native test binaries for the GPU present, then run them. Each binary
writes its checks as JSON (native/tests/test_report.h); its console output goes to a log file."""
import json
import os
import subprocess
import time

TARGETS = ("lotus_kernel_tests", "lotus_datapath_tests")


def _tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def build(root, build_dir, arch, nvcc, log_path):
    """Returns (ok, seconds, detail)."""
    os.makedirs(build_dir, exist_ok=True)
    env = dict(os.environ, LOTUS_CUDA_ARCHITECTURES=arch)  # the top-level CMakeLists lets this win
    configure = ["cmake", "-S", root, "-B", build_dir, "-DLOTUS_BUILD_TESTS=ON", "-DLOTUS_BUILD_ADDON=OFF",
                 "-DLOTUS_GPU=ON", "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_CUDA_COMPILER={nvcc}",
                 f"-DCMAKE_CUDA_ARCHITECTURES={arch}"]
    compile_ = ["cmake", "--build", build_dir, "--target", *TARGETS, "--parallel", str(os.cpu_count() or 2)]
    start = time.monotonic()
    with open(log_path, "w") as log:
        for cmd in (configure, compile_):
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
            if code != 0:
                return False, time.monotonic() - start, f"`{' '.join(cmd[:3])} ...` exited {code}:\n{_tail(log_path)}"
    return True, time.monotonic() - start, f"{', '.join(TARGETS)} for CUDA architecture {arch}"


def binary(build_dir, name):
    for candidate in (os.path.join(build_dir, "native", "tests", name), os.path.join(build_dir, name)):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def run_binary(path, args, json_path, log_path, timeout, prefix=()):
    """Runs one test binary (under `prefix`, e.g. compute-sanitizer); returns a part: status
    pass | fail | skip, with its checks and metrics."""
    start = time.monotonic()
    if os.path.exists(json_path):
        os.remove(json_path)
    with open(log_path, "w") as log:
        try:
            code = subprocess.run([*prefix, path, *args, "--json", json_path], stdout=log,
                                  stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    seconds = time.monotonic() - start
    try:
        with open(json_path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        doc = None
    part = {"command": " ".join([*(os.path.basename(p) for p in prefix[:1]), *prefix[1:], os.path.basename(path), *args]), "seconds": round(seconds, 2), "exitCode": code,
            "log": log_path}
    if prefix and "Device not supported" in _tail(log_path, 40):
        return {**part, "status": "skip", "reason": "compute-sanitizer: Device not supported (gVisor machines)"}
    if doc is None:
        return {**part, "status": "fail",
                "reason": f"no report (exit {code}{', after ' + str(timeout) + ' s' if code == 'timeout' else ''}); "
                          f"log tail:\n{_tail(log_path, 15)}"}
    if "skipped" in doc:
        return {**part, "status": "skip", "reason": doc["skipped"]}
    failed = [c for c in doc.get("checks", []) if not c.get("ok")]
    status = "pass" if code == 0 and not failed else "fail"
    part.update(status=status, checks=doc.get("checks", []), metrics=doc.get("metrics", []), notes=doc.get("notes", {}))
    if status == "fail":
        part["reason"] = (f"{len(failed)} failed: " + "; ".join(c["name"] for c in failed[:5])) if failed \
            else f"exit {code} with no failed check; log tail:\n{_tail(log_path, 10)}"
    return part
