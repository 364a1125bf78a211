"""Peak memory of a fit on large images, with the cases held in memory vs read again / memory-mapped.

    python benchmarks/case_memory.py                               # segmentation: 24 CT-like volumes, 128x320x320
    python benchmarks/case_memory.py --cases 72 --shape 96 256 256 --budgets-mb default 0 500
    python benchmarks/case_memory.py --task classify --cases 600   # 600 radiograph-sized JPEGs, 1200x1500

Segmentation writes synthetic CT-like NIfTI volumes (int16 Hounsfield units, 0.8 x 0.8 x 2.5 mm, a liver-like blob
and a lesion); classification writes a folder per class of 8-bit JPEG "radiographs" (smooth texture, an opacity in
one class). Both go into a temporary folder; then one ``medimg fit`` runs per case-memory budget
(``MEDIMG_CASE_MEMORY_MB``; ``default`` = a quarter of the machine's memory), each in its own process, and
reports the process's peak anonymous memory (``RssAnon`` sampled every 20 ms: what the process itself holds) and
its peak resident memory (``ru_maxrss``, which also counts pages of the memory-mapped files and of the libraries,
pages the OS drops under pressure), its wall time and the best validation metric (Dice; classification: the
monitored AUC/balanced-accuracy mean), so the budgets are compared side by side on the same data. Training is kept
short (``--epochs``): the memory peak comes from reading, planning and preparing the cases, not from the number of
steps (segmentation: TTA off, 25% window overlap, a quick evaluation of large volumes). Results:
``benchmarks/results/case_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent

CHILD = """
import json, resource, sys, threading, time
task = sys.argv[5]
peak = [0]

def anonymous_mb():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("RssAnon")) / 1024
    except (OSError, StopIteration):
        return 0.0

def watch():
    while True:
        peak[0] = max(peak[0], anonymous_mb())
        time.sleep(0.02)

threading.Thread(target=watch, daemon=True).start()
from medimg import Model
if task == "segment":
    model = Model(
        "unet", task="segment", epochs=int(sys.argv[3]), iterations_per_epoch=10, tta=False, sw_overlap=0.25
    )
else:
    model = Model("simple-cnn", epochs=int(sys.argv[3]))
model.fit(sys.argv[1], run_dir=sys.argv[2], progress=False, num_threads=int(sys.argv[4]))
training = model.metadata_["training"]
print(json.dumps({
    "peak_anonymous_mb": round(peak[0]),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "best_val": training.get("best_val_dice", training.get("best_val_auc_bacc")),
    "memory_mapped_arrays": training.get("prepared_arrays_memory_mapped", 0),
}))
"""


def write_volumes(root: Path, n: int, shape: tuple[int, int, int], seed: int = 0) -> Path:
    """``root/images/ct_XXX.nii.gz`` + ``root/labels/ct_XXX.nii.gz``: body, organ (1) and lesion (2)."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    for i in range(n):
        centre = np.array(shape) / 2 + rng.uniform(-0.1, 0.1, 3) * np.array(shape)
        radii = np.array(shape) * rng.uniform(0.15, 0.25, 3)
        organ = ((z - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2 + (
            (x - centre[2]) / radii[2]
        ) ** 2 <= 1
        lesion = ((z - centre[0]) / (radii[0] / 3)) ** 2 + ((y - centre[1]) / (radii[1] / 3)) ** 2 + (
            (x - centre[2]) / (radii[2] / 3)
        ) ** 2 <= 1
        body = ((y - shape[1] / 2) / (shape[1] * 0.45)) ** 2 + ((x - shape[2] / 2) / (shape[2] * 0.45)) ** 2 <= 1
        hu = np.where(body, 20.0, -1000.0) + 40.0 * organ - 30.0 * lesion
        image = (hu + rng.normal(0, 20, shape)).astype(np.int16)
        labels = (organ.astype(np.uint8) + lesion.astype(np.uint8)) * np.broadcast_to(body, shape)
        affine = np.diag([0.8, 0.8, 2.5, 1.0])
        # NIfTI axes are (x, y, z): store the (z, y, x) arrays transposed
        nib.save(nib.Nifti1Image(image.transpose(2, 1, 0), affine), root / "images" / f"ct_{i:03d}.nii.gz")
        nib.save(
            nib.Nifti1Image(labels.astype(np.uint8).transpose(2, 1, 0), affine), root / "labels" / f"ct_{i:03d}.nii.gz"
        )
    return root


def write_radiographs(root: Path, n: int, shape: tuple[int, int], seed: int = 0) -> Path:
    """``root/normal/*.jpeg`` + ``root/opacity/*.jpeg``: 8-bit grey, smooth texture, a bright blob in one class."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]] / shape[0]
    for i in range(n):
        label = ("normal", "opacity")[i % 2]
        (root / label).mkdir(parents=True, exist_ok=True)
        image = 120 + 60 * np.sin(xx * rng.uniform(2, 6)) * np.cos(yy * rng.uniform(2, 6))
        if label == "opacity":
            cy, cx = rng.uniform(0.3, 0.8), rng.uniform(0.3, 1.0)
            image += 50 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02)
        pixels = np.clip(image + rng.normal(0, 8, shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / label / f"img_{i:04d}.jpeg", quality=90)
    return root


def run_fit(data: Path, run_dir: Path, budget: str, epochs: int, threads: int, task: str) -> dict[str, Any]:
    """One fit in a fresh process under ``budget`` (MB or ``default``): peak memory, wall time, validation metric."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")])}
    env.pop("MEDIMG_CASE_MEMORY_MB", None)
    if budget != "default":
        env["MEDIMG_CASE_MEMORY_MB"] = budget
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(run_dir), str(epochs), str(threads), task],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"fit with budget {budget} failed:\n{done.stderr[-3000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {"budget_mb": budget, "wall_s": round(time.perf_counter() - started, 1), **row}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["segment", "classify"], default="segment")
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument(
        "--shape", type=int, nargs="+", default=None, help="volume (z, y, x; default 128 320 320) or image size"
    )
    parser.add_argument("--budgets-mb", nargs="+", default=["default", "0"], help="MB, or 'default'")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "case_memory.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.task == "segment":
            shape = tuple(args.shape or (128, 320, 320))
            data = write_volumes(Path(tmp) / "ct", args.cases, (shape[0], shape[1], shape[2]))
        else:
            shape = tuple(args.shape or (1200, 1500))
            data = write_radiographs(Path(tmp) / "xray", args.cases, (shape[0], shape[1]))
        float32_mb = args.cases * int(np.prod(shape)) * 4 / 2**20
        rows = [
            run_fit(data, Path(tmp) / f"run_{budget}", budget, args.epochs, args.threads, args.task)
            for budget in args.budgets_mb
        ]
    result = {
        "command": "python benchmarks/case_memory.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "task": args.task,
        "cases": args.cases,
        "shape": list(shape),
        "volumes_float32_mb": round(float32_mb),
        "rows": rows,
        "machine": platform.platform(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.task}: {args.cases} images {shape}: {float32_mb:.0f} MB as float32")
    print("| case-memory budget | peak anonymous memory | peak RSS | wall | memory-mapped arrays | best val metric |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['budget_mb']} MB | {row['peak_anonymous_mb']:.0f} MB | {row['peak_rss_mb']:.0f} MB | "
            f"{row['wall_s']:.0f} s | "
            f"{row['memory_mapped_arrays']} | {row['best_val']:.3f} |"
        )
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
