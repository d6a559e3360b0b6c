"""The report as compact JSON (one line per check or metric) and the closing summary."""
import json

ORDER = ("build", "kernels", "datapath", "timing", "sanitizer", "pytorch")


def dumps(value, indent=0):
    """JSON with nested containers on their own lines and flat ones (a check, a metric) on one line."""
    pad = " " * (indent + 1)
    if isinstance(value, dict) and any(isinstance(v, (dict, list)) for v in value.values()):
        body = ",\n".join(f"{pad}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items())
        return "{\n" + body + "\n" + " " * indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        body = ",\n".join(pad + dumps(v, indent + 1) for v in value)
        return "[\n" + body + "\n" + " " * indent + "]"
    return json.dumps(value)


def _metrics(part):
    found = {}
    for run in [part, *part.get("runs", [])]:
        for m in run.get("metrics", []):
            found[m["name"]] = m["value"]
    return found


def _checks(part):
    checks = [c for run in [part, *part.get("runs", [])] for c in run.get("checks", [])]
    return len(checks), sum(1 for c in checks if not c.get("ok"))


def _describe(name, part):
    if part["status"] != "pass":
        return (part.get("reason") or "").splitlines()[0][:160] if part.get("reason") else ""
    if name == "build":
        return part.get("detail", "")
    if name == "timing":
        m = _metrics(part)
        keys = ("gpu.upload.p50", "gpu.preprocess.p50", "gpu.postprocessNearest.p50", "gpu.download.p50")
        if all(k in m for k in keys):
            return ("GPU upload {:.2f} + pre {:.2f} + post {:.2f} + download {:.2f} ms; host pre {:.1f}, post {:.1f} ms; "
                    "host/GPU pixel path {:.0f}x").format(*(m[k] for k in keys), m.get("host.preprocess.p50", 0),
                                                          m.get("host.postprocessNearest.p50", 0),
                                                          m.get("ratio.pixelPath", 0))
    if name == "pytorch":
        ref = part.get("reference", {})
        rows = [f"R={r['resolution']} b{r['batch']} {r['latency']['p50']:.1f} ms" for r in ref.get("results", [])]
        return f"{ref.get('device', {}).get('name', '?')} {ref.get('precision', '')}: " + ", ".join(rows)
    total, failed = _checks(part)
    return f"{total} checks, {failed} failed"


def print_summary(report, json_path):
    """Prints the summary; returns True when a part failed."""
    gpu = report.get("gpu")
    tools = report.get("tools", {})
    head = (f"{gpu['name']} (compute {gpu['computeCapability']}), driver {gpu['driverVersion']}, "
            f"CUDA {gpu.get('driverCudaVersion', '?')}" if gpu else report.get("gpuReason"))
    print(f"\ngpu-check ({report['mode']}): {head}; {tools.get('nvcc') or 'no nvcc'}")
    parts = report["parts"]
    for name in [n for n in ORDER if n in parts]:
        part = parts[name]
        seconds = f"{part['seconds']:6.1f} s" if "seconds" in part else " " * 8
        print(f"  {name:9} {part['status']:5} {seconds}  {_describe(name, part)}")
    statuses = [p["status"] for p in parts.values()]
    failed = statuses.count("fail")
    verdict = "FAILED" if failed else "OK"
    print(f"gpu-check {verdict} in {report['seconds']:.0f} s: {statuses.count('pass')} part(s) passed, {failed} failed, "
          f"{statuses.count('skip')} skipped; report {json_path}")
    return failed > 0
