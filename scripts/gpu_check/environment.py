"""What the machine has: GPU (nvidia-smi), CUDA compiler, CMake. Never raises."""
import os
import re
import shutil
import subprocess


def _run(cmd, timeout=30):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "", str(e)


def detect_gpu():
    """(facts, None) for the first GPU nvidia-smi lists, or (None, reason)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None, "no NVIDIA GPU: nvidia-smi is not on PATH"
    code, out, err = _run([smi, "--query-gpu=name,compute_cap,driver_version,memory.total,uuid",
                           "--format=csv,noheader,nounits"])
    if code != 0:
        return None, f"no NVIDIA GPU: nvidia-smi failed ({(err or out).strip()[:200]})"
    rows = [[f.strip() for f in line.split(",")] for line in out.splitlines() if line.strip()]
    if not rows or len(rows[0]) < 5:
        return None, "no NVIDIA GPU: nvidia-smi lists none"
    name, cap, driver, memory, uuid = rows[0][:5]
    facts = {"name": name, "computeCapability": cap, "driverVersion": driver, "memoryMiB": int(float(memory)),
             "uuid": uuid, "count": len(rows)}
    code, out, _ = _run([smi])
    match = re.search(r"CUDA Version:\s*([0-9.]+)", out or "")
    if match:
        facts["driverCudaVersion"] = match.group(1)
    return facts, None


def cuda_architecture(gpu):
    """CMake CUDA architecture for the GPU present ('90-real' for 9.0); a fixed one without a GPU
    (the build is then only a compile check)."""
    cap = (gpu or {}).get("computeCapability", "")
    if re.fullmatch(r"[0-9]+\.[0-9]+", cap):
        return cap.replace(".", "") + "-real"
    return "89-real"


def find_nvcc():
    for candidate in (os.environ.get("CUDACXX"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_tool(name):
    for candidate in (shutil.which(name), os.path.join("/usr/local/cuda/bin", name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def tool_versions(nvcc):
    versions = {}
    if nvcc:
        code, out, _ = _run([nvcc, "--version"])
        lines = [line for line in (out or "").splitlines() if line.strip()]
        versions["nvcc"] = lines[-1].strip() if code == 0 and lines else None
    cmake = shutil.which("cmake")
    if cmake:
        code, out, _ = _run([cmake, "--version"])
        versions["cmake"] = (out or "").splitlines()[0].strip() if code == 0 and out else None
    versions["cpus"] = os.cpu_count()
    return versions
