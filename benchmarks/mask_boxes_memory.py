"""Peak memory of deriving detection boxes from masks (``Dataset.load(path, task="detect")`` on image/mask pairs).

Writes N image/mask PNG pairs of SIZE x SIZE (one rectangle each) in a temporary folder, then loads them for
detection in a fresh process per N and reports its peak RSS. Until this benchmark's commit every mask was kept (as
int64) until all had been read, so the peak grew with N (CBIS-DDSM: ~3,000 full-size mammogram masks); now each mask
is dropped once its boxes are found.

Run::

    python benchmarks/mask_boxes_memory.py --n 10 40 --size 2048

Prints a table and writes ``benchmarks/results/mask_boxes_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import resource, sys
from pathlib import Path
from medimg.data.dataset import Dataset
data = Dataset.load(Path(sys.argv[1]), task="detect")
boxes = sum(len(c.boxes or ()) for c in data.cases)
print(len(data.cases), boxes, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def write_pairs(root: Path, n: int, size: int) -> Path:
    from PIL import Image

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        mask[size // 8 + i : size // 4 + i, size // 8 : size // 3] = 255
        Image.fromarray(mask).save(root / "masks" / f"case_{i:04d}.png")
        Image.fromarray(mask // 2).save(root / "images" / f"case_{i:04d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 40], help="numbers of mask files")
    parser.add_argument("--size", type=int, default=2048, help="mask side in pixels")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "mask_boxes_memory.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            root = write_pairs(Path(tmp) / f"set{n}", n, args.size)
            result = subprocess.run(
                [sys.executable, "-c", CHILD, str(root)], capture_output=True, text=True, check=True
            )
            cases, boxes, peak = (int(v) for v in result.stdout.split()[-3:])
            rows.append({"masks": n, "size": args.size, "cases": cases, "boxes": boxes, "peak_rss_mb": peak})
    print(f"{'masks':>6} {'side':>6} {'boxes':>6} {'peak RSS MB':>12}")
    for row in rows:
        print(f"{row['masks']:>6} {row['size']:>6} {row['boxes']:>6} {row['peak_rss_mb']:>12}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "machine": platform.platform()}, indent=1) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
