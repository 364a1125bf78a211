"""Load test of `medimg serve` with worst-case uploads: do small requests stay fast, memory bounded, errors zero?

Run: ``nice -n 10 python benchmarks/serve_load.py --seconds 60`` (about 1.5 minutes with start-up). It starts a
real server (``medimg serve``: uvicorn on 127.0.0.1, a free port, a fresh SQLite database and working folder in a
temporary folder, a token made for it) on ``--run`` (default: a tiny simple-cnn trained on synthetic phantoms in a
few seconds), then runs two phases of equal length:

1. **small**: ``--clients`` clients upload a small phantom PNG in a loop;
2. **mixed**: the same clients, plus ``--heavy-clients`` clients uploading worst-case files in turn: small files
   that decode to huge images just under the 64 M-pixel limit (an 8000 x 8000 grey PNG of ~100 KB, a 4600 x 4600
   RGB PNG, a 7000 x 7000 ``.nii.gz`` of ~50 KB).

It samples the server's resident memory every 0.1 s and reports the peak (and the kernel's high-water mark),
p50/p99 latency of the small requests in each phase, the heavy requests' latencies, and every response that is
not 201 as an error. Prints a table and writes ``benchmarks/results/serve_load.json``; exits 1 on any error.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
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


def worst_case_uploads() -> dict[str, bytes]:
    """Small files that decode to images just under the service's 64 M-pixel limit."""
    import nibabel as nib
    from PIL import Image

    files: dict[str, bytes] = {}
    grey = np.zeros((8000, 8000), np.uint8)
    grey[::97, :] = 255
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, "PNG")
    files["png-8000-grey"] = buffer.getvalue()
    rgb = np.zeros((4600, 4600, 3), np.uint8)
    rgb[::61, :, 0] = 255
    rgb[:, ::67, 1] = 255
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    files["png-4600-rgb"] = buffer.getvalue()
    volume = np.zeros((7000, 7000, 1), np.uint8)
    volume[::89, :, 0] = 200
    nifti = nib.Nifti1Image(volume, np.eye(4))
    files["nifti-7000"] = gzip.compress(nifti.to_bytes(), 9)
    return files


def start_server(run: Path, folder: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    from medimg.serve.settings import database_url
    from medimg.serve.storage import Storage

    database = folder / "load.db"
    _, token = Storage(database_url(database)).create_token("serve_load")
    port = free_port()
    command = [sys.executable, "-m", "medimg.cli.app", "serve", str(run), "--port", str(port)]
    command += ["--db", str(database), "--explain", args.explain, "--log-level", "warning"]
    command += ["--workers", str(args.workers), "--queue-limit", str(args.queue_limit)]
    command += ["--work-dir", str(folder / "work")]
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return process, url, token, log_path
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start within 180 s")


def memory_kb(pid: int, field: str) -> int | None:
    """``VmRSS`` / ``VmHWM`` of a process in kB (Linux ``/proc``); None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Recorder:
    """Latencies and statuses of every request, by phase and kind (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[str, str, int, float]] = []
        self.errors: list[str] = []

    def add(self, phase: str, kind: str, status: int, seconds: float, detail: str) -> None:
        with self.lock:
            self.rows.append((phase, kind, status, seconds))
            if status != 201:
                self.errors.append(f"{phase}/{kind}: {detail}")

    def latencies_ms(self, phase: str, kinds: set[str]) -> np.ndarray:
        with self.lock:
            chosen = [s for p, k, status, s in self.rows if p == phase and k in kinds and status == 201]
        return 1000 * np.asarray(chosen, dtype=float)

    def count(self, phase: str, kinds: set[str]) -> tuple[int, int]:
        with self.lock:
            chosen = [status for p, k, status, _ in self.rows if p == phase and k in kinds]
        return len(chosen), sum(status != 201 for status in chosen)


def client_loop(
    url: str,
    token: str,
    uploads: list[tuple[str, bytes]],
    phase: str,
    stop_at: float,
    recorder: Recorder,
    offset: int = 0,
) -> None:
    index = offset
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as client:
        while time.monotonic() < stop_at:
            kind, payload = uploads[index % len(uploads)]
            index += 1
            started = time.perf_counter()
            try:
                response = client.post("/v1/predictions", files={"file": (f"upload-{kind}", payload)})
                status, detail = response.status_code, f"HTTP {response.status_code}: {response.text[:160]}"
            except httpx.HTTPError as error:
                status, detail = 0, f"{type(error).__name__}: {error}"
            recorder.add(phase, kind, status, time.perf_counter() - started, detail)


def run_phase(
    phase: str, seconds: float, url: str, token: str, small: bytes, heavy: dict[str, bytes], args: Any, rec: Recorder
) -> float:
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client_loop, args=(url, token, [("small", small)], phase, stop_at, rec))
        for _ in range(args.clients)
    ]
    if heavy:
        kinds = list(heavy.items())
        threads += [
            threading.Thread(target=client_loop, args=(url, token, kinds, phase, stop_at, rec, i))
            for i in range(args.heavy_clients)
        ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def percentiles(ms: np.ndarray) -> dict[str, float | None]:
    if ms.size == 0:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="run folder to serve (default: train a tiny one)")
    parser.add_argument("--clients", type=int, default=3, help="clients uploading the small image")
    parser.add_argument("--heavy-clients", type=int, default=1, help="clients uploading worst-case files (phase 2)")
    parser.add_argument("--seconds", type=float, default=60.0, help="both phases together")
    parser.add_argument("--workers", type=int, default=2, help="the server's --workers")
    parser.add_argument("--queue-limit", type=int, default=8, help="the server's --queue-limit")
    parser.add_argument("--explain", default="gradcam", help="server's heatmap method (or none)")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_load.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="medimg-load-") as tmp:
        folder = Path(tmp)
        run = args.run or tiny_run(folder)
        small_path = run.parent / "phantoms" / "lesion" / "phantom_0000.png"
        if not small_path.is_file():
            from medimg.data.synthetic import make_phantom_dataset

            make_phantom_dataset(folder / "phantoms", n_per_class=1, size=64, seed=1)
            small_path = folder / "phantoms" / "lesion" / "phantom_0000.png"
        small = small_path.read_bytes()
        heavy = worst_case_uploads()
        process, url, token, log_path = start_server(run, folder, args)
        recorder = Recorder()
        peak_kb = 0
        sampling = True

        def sample() -> None:
            nonlocal peak_kb
            while sampling:
                peak_kb = max(peak_kb, memory_kb(process.pid, "VmRSS") or 0)
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as warm:
                for _ in range(args.workers * 2):  # every worker makes its network copy
                    warm.post("/v1/predictions", files={"file": ("warm.png", small)}).raise_for_status()
            idle_kb = memory_kb(process.pid, "VmRSS")
            sampler.start()
            half = args.seconds / 2
            wall_small = run_phase("small", half, url, token, small, {}, args, recorder)
            wall_mixed = run_phase("mixed", half, url, token, small, heavy, args, recorder)
            high_water_kb = memory_kb(process.pid, "VmHWM")
        finally:
            sampling = False
            process.terminate()
            process.wait(timeout=60)
        leftovers = sorted(str(p.relative_to(folder)) for p in (folder / "work").rglob("*") if p.is_file())
        server_log = log_path.read_text()

    phases: dict[str, Any] = {}
    for phase, wall in (("small", wall_small), ("mixed", wall_mixed)):
        requests, errors = recorder.count(phase, {"small"})
        phases[phase] = {
            "seconds": round(wall, 1),
            "small_requests": requests,
            "small_errors": errors,
            "small_per_s": round(requests / wall, 2),
            **{f"small_{k}": v for k, v in percentiles(recorder.latencies_ms(phase, {"small"})).items()},
        }
    heavy_results = {}
    for kind, payload in heavy.items():
        requests, errors = recorder.count("mixed", {kind})
        heavy_results[kind] = {
            "file_bytes": len(payload),
            "requests": requests,
            "errors": errors,
            **percentiles(recorder.latencies_ms("mixed", {kind})),
        }
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "server": {"workers": args.workers, "queue_limit": args.queue_limit, "explain": args.explain},
        "clients": args.clients,
        "heavy_clients": args.heavy_clients,
        "small_image_bytes": len(small),
        "phases": phases,
        "heavy": heavy_results,
        "server_rss_idle_mb": round((idle_kb or 0) / 1024, 1),
        "server_rss_peak_mb": round(peak_kb / 1024, 1),
        "server_rss_high_water_mb": round((high_water_kb or 0) / 1024, 1),
        "errors": len(recorder.errors),
        "first_errors": recorder.errors[:5],
        "leftover_upload_files": leftovers,
        "tracebacks_in_server_log": server_log.count("Traceback"),
    }
    print(
        f"server: {args.workers} workers, queue {args.queue_limit}, explain={args.explain}; {args.clients} small "
        f"client(s), {args.heavy_clients} heavy client(s) in phase 2; {os.cpu_count()} CPUs"
    )
    print(f"{'phase':8s} {'small req':>9s} {'req/s':>7s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} {'errors':>7s}")
    for phase, row in phases.items():
        print(
            f"{phase:8s} {row['small_requests']:9d} {row['small_per_s']:7.2f} {row['small_p50_ms'] or 0:8.1f} "
            f"{row['small_p99_ms'] or 0:8.1f} {row['small_max_ms'] or 0:8.1f} {row['small_errors']:7d}"
        )
    print(f"{'heavy upload':16s} {'file KB':>8s} {'requests':>9s} {'p50 ms':>8s} {'max ms':>8s} {'errors':>7s}")
    for kind, row in heavy_results.items():
        print(
            f"{kind:16s} {row['file_bytes'] / 1024:8.0f} {row['requests']:9d} {row['p50_ms'] or 0:8.1f} "
            f"{row['max_ms'] or 0:8.1f} {row['errors']:7d}"
        )
    print(
        f"server memory: idle {result['server_rss_idle_mb']} MB, peak {result['server_rss_peak_mb']} MB "
        f"(high-water {result['server_rss_high_water_mb']} MB); errors {result['errors']}; leftover upload files "
        f"{len(leftovers)}; tracebacks in the server log {result['tracebacks_in_server_log']}"
    )
    for error in recorder.errors[:5]:
        print("error:", error)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")
    if recorder.errors or leftovers:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
