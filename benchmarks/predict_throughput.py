"""Inference at scale: ``medimg predict`` over a folder of N 28 px PNGs, PyTorch and ONNX Runtime side by side.

Makes N PNGs (default 100,000) from the PneumoniaMNIST test images (synthetic 28 px images when the ``.npz`` is
absent) in a temporary folder, trains a short run per network (``medimg fit``, a few epochs) unless ``--run`` is
given, exports it to ONNX, then times ``medimg predict RUN FOLDER --out preds.csv --format csv --engine E`` for
each engine in one run. Per row: images/s of the stream and of the whole command (start-up included), where the
time went (decoding in the decode workers, waiting for them, preprocessing + network), peak RSS of the command
(``wait4``) and of a decode worker, CPU seconds, and whether the two engines agree.

Run (the machine is shared: ``--boost`` gives the predict commands' autogroup nice -15, as root)::

    python benchmarks/predict_throughput.py --n 20000 --boost
    python benchmarks/predict_throughput.py --n 100000 --networks simple-cnn --boost

Prints a table and writes ``benchmarks/results/predict_throughput.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "medmnist" / "pneumoniamnist.npz"
MEDIMG = [sys.executable, "-m", "medimg.cli.app"] if not shutil.which("medimg") else [str(shutil.which("medimg"))]
SUMMARY = re.compile(
    r"(?P<images>\d+) image\(s\) in (?P<wall>[\d.]+) s \((?P<rate>[\d.]+) images/s\): decoding (?P<decode>[\d.]+) s "
    r"in (?P<workers>\w+) worker\(s\) \(waited (?P<wait>[\d.]+) s\), network (?P<network>[\d.]+) s; "
    r"peak RSS (?P<rss>\d+) MB(?: \+ (?P<worker_rss>\d+) MB per decode worker)?"
)


def make_images(folder: Path, n: int, data: Path) -> str:
    """Write ``n`` 28x28 PNGs into ``folder`` (1,000 per sub-folder); returns where the pixels came from."""
    from PIL import Image

    if data.is_file():
        pool = np.load(data)["test_images"]
        source = f"{data.name} test images (cycled)"
    else:
        rng = np.random.default_rng(0)
        pool = rng.integers(0, 256, size=(1000, 28, 28), dtype=np.uint8)
        source = "synthetic noise (the .npz is absent)"
    for i in range(n):
        sub = folder / f"{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pool[i % len(pool)]).save(sub / f"img_{i:06d}.png")
    return source


def train_run(work: Path, network: str, data: Path, epochs: int) -> Path:
    """A short ``medimg fit`` of ``network`` (``auto``: the plan's choice), exported to ONNX."""
    run = work / "runs" / network
    cmd = [*MEDIMG, "fit", str(data), "--epochs", str(epochs), "--run-dir", str(run), "--no-progress"]
    if network != "auto":
        cmd += ["--network", network]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return run


def ensure_onnx(run: Path) -> None:
    if not (run / "model.onnx").is_file():
        subprocess.run([*MEDIMG, "export", str(run), "--format", "onnx"], check=True, stdout=subprocess.DEVNULL)


def boost(pid: int) -> bool:
    """Give ``pid``'s autogroup (its session: the command and its decode workers) nice -15 (root only)."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text("-15")
        return True
    except OSError:
        return False


def time_predict(run: Path, folder: Path, engine: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``medimg predict`` once in its own session; its rusage comes from ``wait4``."""
    cmd = [*MEDIMG, "predict", str(run), str(folder), "--out", str(out), "--format", "csv", "--engine", engine]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    err_path = out.with_suffix(".stderr")
    load_before = os.getloadavg()
    started = time.perf_counter()
    with err_path.open("w") as err:
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        boosted = boost(process.pid) if args.boost else False
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    text = err_path.read_text()
    found = SUMMARY.search(text)
    if os.waitstatus_to_exitcode(status) not in (0, 1) or found is None:
        raise SystemExit(f"medimg predict failed ({status}): {' '.join(cmd)}\n{text[-2000:]}")
    summary = found.groupdict()
    n = int(summary["images"])
    return {
        "engine": engine,
        "images": n,
        "stream_images_per_s": round(n / float(summary["wall"]), 1),
        "command_images_per_s": round(n / wall, 1),
        "command_wall_s": round(wall, 2),
        "stream_wall_s": float(summary["wall"]),
        "decode_s": float(summary["decode"]),
        "decode_workers": 0 if summary["workers"] == "no" else int(summary["workers"]),
        "waited_for_decode_s": float(summary["wait"]),
        "network_s": float(summary["network"]),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "decode_worker_peak_rss_mb": float(summary["worker_rss"] or 0),
        "cpu_s_main_process": round(usage.ru_utime + usage.ru_stime, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "boosted": boosted,
        "command": " ".join(["medimg", *cmd[len(MEDIMG) :]]),
    }


def labels(path: Path) -> list[str]:
    with path.open() as handle:
        return [row["label"] for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="images to predict")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PneumoniaMNIST .npz")
    parser.add_argument("--run", type=Path, help="a trained 28 px run (default: train one per --networks)")
    parser.add_argument("--networks", default="simple-cnn,auto", help="networks to train (auto: the plan's)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each short fit")
    parser.add_argument("--engines", default="torch,onnx")
    parser.add_argument("--threads", type=int, help="--threads for medimg predict (default: the library's)")
    parser.add_argument("--boost", action="store_true", help="nice -15 for the predict commands' autogroup (root)")
    parser.add_argument("--work", type=Path, help="keep images and runs here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=RESULTS / "predict_throughput.json")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="predict-throughput-"))
    folder = work / f"images_{args.n}"
    try:
        if not folder.is_dir():
            started = time.perf_counter()
            source = make_images(folder, args.n, args.data)
            print(f"{args.n} PNGs from {source} in {time.perf_counter() - started:.0f} s: {folder}", flush=True)
        else:
            source = "kept from an earlier run"
        runs = {"given": args.run} if args.run else {}
        for network in [] if args.run else args.networks.split(","):
            runs[network] = work / "runs" / network
            if not (runs[network] / "model.pt").is_file():
                print(f"training {network} ({args.epochs} epochs)", flush=True)
                train_run(work, network, args.data, args.epochs)
        rows = []
        for name, run in runs.items():
            ensure_onnx(run)
            network = json.loads((run / "plan.json").read_text()).get("network", name)
            produced = {}
            for engine in args.engines.split(","):
                out = work / f"pred_{name}_{engine}.csv"
                row = {"network": network, **time_predict(run, folder, engine, out, args)}
                produced[engine] = labels(out)
                rows.append(row)
                print(
                    f"{network:12s} {engine:6s} {row['stream_images_per_s']:8.1f} img/s (command "
                    f"{row['command_images_per_s']:.1f}) decode {row['decode_s']:.1f} s / wait "
                    f"{row['waited_for_decode_s']:.1f} s / network {row['network_s']:.1f} s, "
                    f"peak RSS {row['peak_rss_mb']:.0f} MB + {row['decode_worker_peak_rss_mb']:.0f} MB/worker, "
                    f"load {row['load_before'][0]:.1f}",
                    flush=True,
                )
            if len(produced) == 2:
                a, b = produced.values()
                agree = float(np.mean([x == y for x, y in zip(a, b, strict=True)])) if a and len(a) == len(b) else 0.0
                for row in rows[-2:]:
                    row["engines_agree"] = round(agree, 5)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'network':12s} {'engine':6s} {'images':>7s} {'img/s':>8s} {'cmd img/s':>9s} {'decode s':>8s} "
          f"{'wait s':>7s} {'net s':>6s} {'RSS MB':>7s} {'worker MB':>9s}")  # fmt: skip
    for r in rows:
        print(
            f"{r['network']:12s} {r['engine']:6s} {r['images']:7d} {r['stream_images_per_s']:8.1f} "
            f"{r['command_images_per_s']:9.1f} {r['decode_s']:8.1f} {r['waited_for_decode_s']:7.1f} "
            f"{r['network_s']:6.1f} {r['peak_rss_mb']:7.0f} {r['decode_worker_peak_rss_mb']:9.0f}"
        )
    result = {
        "command": "python benchmarks/predict_throughput.py " + " ".join(sys.argv[1:]),
        "images": args.n,
        "image_source": source,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
