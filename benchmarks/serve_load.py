"""Load test of `medimg serve`: N concurrent clients POST an image to /v1/predictions for a bounded time.

Run: ``nice -n 10 python benchmarks/serve_load.py --run runs/demo/run --clients 4 --seconds 20``. Without
``--url`` it starts its own server (uvicorn on 127.0.0.1, a free port, a fresh SQLite database in a temporary
folder, a token made for it); with ``--url URL --token TOKEN`` it loads a running one. Without ``--run`` it
first trains a tiny simple-cnn on synthetic phantoms (a few seconds). Prints requests/s, p50/p99 latency and
errors (which must be 0), and writes ``benchmarks/results/serve_load.json``.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tiny_run(folder: Path) -> Path:
    from medimg import Model
    from medimg.data.synthetic import make_phantom_dataset

    data = make_phantom_dataset(folder / "phantoms", n_per_class=40, size=32, seed=1)
    Model("simple-cnn").fit(data, run_dir=folder / "run", epochs=3, progress=False, tensorboard=False)
    return folder / "run"


def start_server(run: Path, folder: Path, explain: str) -> tuple[subprocess.Popen[bytes], str, str]:
    from medimg.serve.settings import database_url
    from medimg.serve.storage import Storage

    database = folder / "load.db"
    _, token = Storage(database_url(database)).create_token("serve_load")
    port = free_port()
    command = [sys.executable, "-m", "medimg.cli.app", "serve", str(run), "--port", str(port)]
    command += ["--db", str(database), "--explain", explain, "--log-level", "warning"]
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{(folder / 'server.log').read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return process, url, token
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start within 180 s")


def client_loop(
    url: str, token: str, payload: bytes, stop_at: float, latencies: list[float], errors: list[str]
) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                response = client.post("/v1/predictions", files={"file": ("image.png", payload, "image/png")})
                ok = response.status_code == 201
                detail = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as error:
                ok, detail = False, f"{type(error).__name__}: {error}"
            elapsed = time.perf_counter() - started
            (latencies.append(elapsed) if ok else errors.append(detail))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="run folder to serve (default: train a tiny one)")
    parser.add_argument("--image", type=Path, help="image to upload (default: a phantom PNG)")
    parser.add_argument("--url", help="load an already running server instead of starting one")
    parser.add_argument("--token", help="API token for --url")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--explain", default="gradcam", help="server's heatmap method (or none)")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_load.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="medimg-load-") as tmp:
        folder = Path(tmp)
        run = args.run or (tiny_run(folder) if not args.url else None)
        image = args.image or (run.parent / "phantoms" / "lesion" / "phantom_0000.png" if run else None)
        if image is None or not image.is_file():
            raise SystemExit("pass --image FILE (no default image next to this run)")
        payload = image.read_bytes()
        process = None
        if args.url:
            if not args.token:
                raise SystemExit("--url needs --token")
            url, token = args.url.rstrip("/"), args.token
        else:
            assert run is not None
            process, url, token = start_server(run, folder, args.explain)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as warm:
                warm.post("/v1/predictions", files={"file": ("image.png", payload, "image/png")}).raise_for_status()
            latencies: list[float] = []
            errors: list[str] = []
            stop_at = time.monotonic() + args.seconds
            threads = [
                threading.Thread(target=client_loop, args=(url, token, payload, stop_at, latencies, errors))
                for _ in range(args.clients)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    ms = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "clients": args.clients,
        "seconds": round(wall, 2),
        "explain": args.explain,
        "image_bytes": len(payload),
        "requests": len(latencies),
        "errors": len(errors),
        "requests_per_s": round(len(latencies) / wall, 2),
        "latency_p50_ms": round(float(np.percentile(ms, 50)), 1),
        "latency_p99_ms": round(float(np.percentile(ms, 99)), 1),
        "latency_max_ms": round(float(ms.max()), 1),
        "first_errors": errors[:5],
    }
    print(f"{args.clients} clients x {wall:.1f} s against {url} (explain={args.explain})")
    print(f"{'requests':>9s} {'req/s':>7s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} {'errors':>7s}")
    print(
        f"{result['requests']:9d} {result['requests_per_s']:7.2f} {result['latency_p50_ms']:8.1f} "
        f"{result['latency_p99_ms']:8.1f} {result['latency_max_ms']:8.1f} {result['errors']:7d}"
    )
    for error in errors[:5]:
        print("error:", error)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
