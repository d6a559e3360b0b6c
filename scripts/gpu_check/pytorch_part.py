"""Part 4: the PyTorch reference on the GPU (pytorch_reference.py under the Python that has torch),
on a full-size random-weight Lotus-G checkpoint made here by scripts/lotus_export/full.py.

What Python needs beyond torch and transformers comes from the carry folder (scripts/gpu-check-carry
makes it; docs/gpu-check.md): diffusers' source as diffusers-src.tar.xz, unpacked into the build
folder, and the official Lotus code under lotus/ (used unless LOTUS_REPO or --lotus-repo says
otherwise)."""
import json
import os
import subprocess
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
REFERENCE = os.path.join(HERE, "pytorch_reference.py")
COMPLETE = ".gpu-check-complete"


def _tail(text, lines=15):
    return "\n".join((text or "").strip().splitlines()[-lines:])


def prepare_carry(carry_dir, build_dir):
    """(PYTHONPATH entries, Lotus checkout or None, manifest) from the carry folder."""
    paths, lotus, manifest = [], None, None
    if not carry_dir or not os.path.isdir(carry_dir):
        return paths, lotus, manifest
    try:
        with open(os.path.join(carry_dir, "MANIFEST.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        manifest = None
    archive = os.path.join(carry_dir, "diffusers-src.tar.xz")
    if os.path.isfile(archive):
        target = os.path.join(build_dir, "carry-python")
        stamp = os.path.join(target, ".from")
        key = f"{os.path.getsize(archive)}:{os.path.getmtime(archive)}"
        if not (os.path.isfile(stamp) and open(stamp).read() == key):
            os.makedirs(target, exist_ok=True)
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse links and paths out of target
                    tar.extractall(target, filter="data")
                else:
                    tar.extractall(target)
            with open(stamp, "w") as f:
                f.write(key)
        paths.append(target)
    if os.path.isfile(os.path.join(carry_dir, "lotus", "pipeline.py")):
        lotus = os.path.join(carry_dir, "lotus")
    return paths, lotus, manifest


def _env(python_paths):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([*python_paths, SCRIPTS, *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def _run(cmd, env, timeout, cwd=None):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        return "timeout", e.stdout or "", e.stderr or ""


def run(python, carry_dir, build_dir, lotus_repo, checkpoint, quick, log_path, device="cuda"):
    start = time.monotonic()
    python_paths, carried_lotus, manifest = prepare_carry(carry_dir, build_dir)
    env = _env(python_paths)
    part = {"python": python, "carry": manifest}
    code, out, err = _run([python, REFERENCE, "--probe", "--device", device], env, 300)
    try:
        facts = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {**part, "status": "skip", "reason": f"cannot run {python} (exit {code}): {_tail(err, 3)}"}
    part["probe"] = facts
    if not facts.get("ok"):
        return {**part, "status": "skip", "reason": facts.get("reason")}

    lotus = lotus_repo or os.environ.get("LOTUS_REPO") or carried_lotus
    log = open(log_path, "w")
    if not checkpoint:
        checkpoint = os.path.join(build_dir, "checkpoints", "lotus-depth-g-random-full")
        if not os.path.isfile(os.path.join(checkpoint, COMPLETE)):
            made = time.monotonic()
            code, out, err = _run([python, "-m", "lotus_export.full", checkpoint], env, 900, cwd=SCRIPTS)
            log.write(f"$ {python} -m lotus_export.full {checkpoint}\n{out}\n{err}\n")
            if code != 0:
                log.close()
                return {**part, "status": "fail", "reason": f"lotus_export.full exited {code}: {_tail(err)}"}
            with open(os.path.join(checkpoint, COMPLETE), "w") as f:
                f.write("made by scripts/gpu-check with scripts/lotus_export/full.py\n")
            part["checkpointSeconds"] = round(time.monotonic() - made, 1)
    part["checkpoint"] = checkpoint

    settings = (["--resolutions", "768", "--batches", "1,4", "--iterations", "3", "--warmup", "1"] if quick else
                ["--resolutions", "512,768", "--batches", "1,4", "--iterations", "10", "--warmup", "2"])
    result_path = os.path.join(build_dir, "pytorch-reference.json")
    attempts = [lotus, None] if lotus else [None]
    failures = []
    for repo in attempts:
        cmd = [python, REFERENCE, "--checkpoint", checkpoint, "--json", result_path, "--device", device, *settings]
        if repo:
            cmd += ["--lotus-repo", repo]
        else:
            env.pop("LOTUS_REPO", None)
        if os.path.exists(result_path):
            os.remove(result_path)
        code, out, err = _run(cmd, env, 900)
        log.write(f"$ {' '.join(cmd)}\n{err}\n")
        try:
            with open(result_path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            doc = None
        if code == 0 and doc and doc.get("ok"):
            log.close()
            part.update(status="pass", seconds=round(time.monotonic() - start, 1), reference=doc)
            if failures:
                part["officialPipelineFailed"] = failures[0]
            return part
        failures.append(f"{'official pipeline' if repo else 're-implementation'} exited {code}: {_tail(err)}")
    log.close()
    return {**part, "status": "fail", "seconds": round(time.monotonic() - start, 1), "reason": " | ".join(failures)}
