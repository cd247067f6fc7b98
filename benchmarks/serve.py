"""Load benchmark of `rnnlab serve`: N concurrent clients POST /predict on loopback for D seconds.

    python benchmarks/serve.py [--bundle runs/demo/bundle] [--clients 32] [--seconds 20] [--threads 1]

Starts `rnnlab serve BUNDLE` in a subprocess on a free loopback port (so the server and the load
generator do not share one interpreter lock), waits for /health, then runs `clients` asyncio clients
(httpx, one connection each), each sending its next request as soon as the previous one is answered
(closed loop: the offered load adapts to the server, nothing queues without bound). Every request is
a real sentence; a request counts as an error unless it answers 200 with an intent.

Writes benchmarks/results/serve.json: the command, the machine (CPU model, capability, native bf16, the
server's threads), versions, the settings, and the figures: requests/s, latency p50/p90/p99/max in ms,
and the error count. Targets (the `targets` list): 0 errors, and the server still answering /health
after the load (no latency or throughput target: they measure this machine). The clients run
on the same machine as the server, so on a small machine they take CPU from it: the figure is a
lower bound for the server alone.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO_BUNDLE = ROOT / "runs" / "demo" / "bundle"
CLI = "from rnnlab.cli import main; raise SystemExit(main())"  # `rnnlab ...` with this interpreter
SENTENCES = [
    "what time is it?", "what's the weather like in paris tomorrow", "set an alarm for seven am",
    "play some jazz", "will it rain today", "wake me up at six thirty", "what is the time in tokyo",
    "play the new album by adele", "how cold is it outside", "turn on the alarm for monday morning",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, in ticks


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


async def client(http: httpx.AsyncClient, url: str, deadline: float, start: int, lat: list[float],
                 errors: dict[str, int]) -> None:
    i = start
    while time.perf_counter() < deadline:
        text = SENTENCES[i % len(SENTENCES)]
        i += 1
        t0 = time.perf_counter()
        try:
            r = await http.post(url, json={"text": text})
            ok = r.status_code == 200 and "intent" in r.json()
            key = None if ok else f"http {r.status_code}"
        except httpx.HTTPError as e:
            key = type(e).__name__
        if key is None:
            lat.append(time.perf_counter() - t0)
        else:
            errors[key] = errors.get(key, 0) + 1


async def load(base: str, clients: int, seconds: float) -> tuple[list[float], dict[str, int], float]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    lat: list[float] = []
    errors: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as http:
        # warm-up: a few sequential requests (first-call allocations), not counted
        for text in SENTENCES:
            (await http.post("/predict", json={"text": text})).raise_for_status()
        t0 = time.perf_counter()
        deadline = t0 + seconds
        await asyncio.gather(*(client(http, "/predict", deadline, c, lat, errors) for c in range(clients)))
        elapsed = time.perf_counter() - t0
    return lat, errors, elapsed


def targets(result: dict) -> list[dict]:
    """The `targets` list of a serve JSON: no request failed, and the server survived the load."""
    figures = result["figures"]
    return [benchcommon.target("errors", figures["errors"], 0, "<="),
            benchcommon.target("server_alive_after", int(bool(figures["server_alive_after"])), 1, ">=")]


def ensure_bundle(path: Path) -> None:
    """Train the demo bundle if it is not there yet (`rnnlab demo --out RUN_DIR` writes RUN_DIR/bundle)."""
    if (path / "config.json").is_file():
        return
    if path != DEMO_BUNDLE:
        raise SystemExit(f"{path}: no bundle there (train one, or omit --bundle to use the demo model)")
    print(f"no bundle at {path}: training the demo model with `rnnlab demo` first", flush=True)
    subprocess.run([sys.executable, "-c", CLI, "demo", "--out", str(path.parent)], check=True, cwd=ROOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", default=str(DEMO_BUNDLE), help="default: the demo model (trained if missing)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=1, help="the server's torch threads (rnnlab serve --threads)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serve.json"))
    args = ap.parse_args()

    bundle = Path(args.bundle).resolve()
    ensure_bundle(bundle)
    load_before = os.getloadavg()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_cmd = [sys.executable, "-c", CLI, "serve", str(bundle), "--port", str(port),
                  "--threads", str(args.threads), "--log-level", "warning"]
    server = subprocess.Popen(server_cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while True:
            if server.poll() is not None:
                raise SystemExit(f"server exited ({server.returncode}):\n{server.stdout.read()}")
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise SystemExit("server did not come up within 120 s")
            time.sleep(0.2)
        print(f"server up on {base}; {args.clients} clients for {args.seconds:.0f} s ...", flush=True)
        cpu_before = cpu_seconds(server.pid)
        lat, errors, elapsed = asyncio.run(load(base, args.clients, args.seconds))
        cpu_after = cpu_seconds(server.pid)
        alive = httpx.get(f"{base}/health", timeout=5.0).status_code == 200
        load_after = os.getloadavg()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    import torch

    import rnnlab

    lat_ms = sorted(1000 * v for v in lat)
    n_err = sum(errors.values())
    figures = {
        "requests_ok": len(lat_ms), "errors": n_err, "error_kinds": errors,
        "seconds": round(elapsed, 2), "requests_per_s": round(len(lat_ms) / elapsed, 1),
        "latency_ms": {"p50": round(percentile(lat_ms, 50), 2), "p90": round(percentile(lat_ms, 90), 2),
                       "p99": round(percentile(lat_ms, 99), 2), "max": round(lat_ms[-1], 2) if lat_ms else None},
        "server_alive_after": alive,
        # CPU the server process spent per request (the warm-up requests counted too): unlike
        # requests/s, this hardly depends on what else the machine is running
        "server_cpu_ms_per_request": (round(1000 * (cpu_after - cpu_before) / (len(lat_ms) + n_err + len(SENTENCES)), 2)
                                      if cpu_before is not None and cpu_after is not None else None),
    }
    bundle_config = json.loads((bundle / "config.json").read_text())
    result = {
        "benchmark": "serve",
        "command": " ".join(["python", "benchmarks/serve.py", *sys.argv[1:]]),
        "server_command": " ".join(["rnnlab", "serve", os.path.relpath(bundle, ROOT), "--port", "PORT",
                                    "--threads", str(args.threads)]),
        "machine": benchcommon.machine(
            args.threads, server_torch_threads=args.threads,
            load_average_1m_before_after=[round(load_before[0], 2), round(load_after[0], 2)],
            note="threads: the server's torch threads; load generator and server share this machine; a load "
                 "average above the CPU count means other processes competed for the CPUs during the run"),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "rnnlab": rnnlab.__version__,
                     "httpx": httpx.__version__},
        "settings": {"endpoint": "POST /predict", "clients": args.clients, "duration_s": args.seconds,
                     "task": bundle_config.get("task"), "model": bundle_config.get("model"),
                     "sentences": len(SENTENCES)},
        "figures": figures,
    }
    result["targets"] = targets(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(benchcommon.describe(result["targets"]))
    print(f"wrote {out}")
    return 0 if n_err == 0 and alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
