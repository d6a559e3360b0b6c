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
        return (f"{ref.get('implementation', '?')}, {ref.get('device', {}).get('name', '?')}, "
                f"{ref.get('precision', '')}{' autocast' if ref.get('autocast') else ''}")
    total, failed = _checks(part)
    return f"{total} checks, {failed} failed"


def _details(name, part):
    """Extra summary lines: the failed checks, or the PyTorch reference's figures per configuration."""
    if part["status"] == "fail":
        failed = [c for run in [part, *part.get("runs", [])] for c in run.get("checks", []) if not c.get("ok")]
        def seen(c):
            if "count" in c:
                return f"{c['mismatches']}/{c['count']} mismatching, max error {c['maxError']}"
            return c.get("detail", "")
        return [f"FAIL {c['name']}: {seen(c)}"[:220] for c in failed[:12]]
    if name == "pytorch" and part["status"] == "pass":
        lines = []
        for r in part.get("reference", {}).get("results", []):
            stages = ", ".join(f"{k} {v['p50']:.1f}" for k, v in r["stages"].items() if k != "total")
            lines.append(f"R={r['resolution']} ({r['networkWidth']}x{r['networkHeight']}) batch {r['batch']}: "
                         f"p50 {r['latency']['p50']:.1f} ms, {r['imagesPerSecond']:.2f} img/s; {stages}")
        return lines
    return []


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
        for line in _details(name, part):
            print(f"{' ' * 28}{line}")
    statuses = [p["status"] for p in parts.values()]
    failed = statuses.count("fail")
    verdict = "FAILED" if failed else "OK"
    print(f"gpu-check {verdict} in {report['seconds']:.0f} s: {statuses.count('pass')} part(s) passed, {failed} failed, "
          f"{statuses.count('skip')} skipped; report {json_path}")
    return failed > 0
