"""Feature extraction throughput: images/s and feature values/s per feature family, in-process and with
joblib workers, on real data (PneumoniaMNIST 28 px; Herlev cells with their colour masks).

Run: ``python benchmarks/features.py [--images 400] [--jobs 2]`` (prints a table, writes
``benchmarks/results/features.json``). No cache is used: every number is a fresh extraction.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

FAMILIES = ("first-order", "glcm", "lbp", "hog", "shape", "handcrafted", "radiomics")


def measure(dataset: Any, cases: list[Any], family: str, masks: str | None, jobs: int) -> dict[str, Any]:
    from medimg.features.extract import FeatureExtractor

    extractor = FeatureExtractor(family, masks=masks, n_jobs=jobs)
    extractor.extract(dataset, cases[:2])  # fit (channels, names) and warm imports outside the timing
    started = time.perf_counter()
    matrix = extractor.extract(dataset, cases)
    seconds = time.perf_counter() - started
    n, f = matrix.X.shape
    return {
        "family": family,
        "jobs": jobs,
        "images": n,
        "features": f,
        "seconds": round(seconds, 3),
        "images_per_s": round(n / seconds, 1),
        "features_per_s": round(n * f / seconds, 0),
    }


def main() -> None:
    import logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=400, help="images per dataset")
    parser.add_argument("--jobs", type=int, default=2, help="joblib workers for the parallel rows")
    args = parser.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    from medimg.data.dataset import Dataset

    sets = []
    if (SHARED / "medmnist/pneumoniamnist.npz").is_file():
        sets.append(("pneumoniamnist", Dataset.load(SHARED / "medmnist/pneumoniamnist.npz"), None))
    if (SHARED / "herlev/data").is_dir():
        sets.append(("herlev+masks", Dataset.load(SHARED / "herlev/data", exclude="*-d.bmp"), "herlev"))
    rows = []
    for name, dataset, masks in sets:
        cases = dataset.cases[:: max(1, len(dataset.cases) // args.images)][: args.images]
        for family in FAMILIES:
            if family == "shape" and masks is None:
                continue
            try:
                import radiomics  # noqa: F401
            except ImportError:
                if family == "radiomics":
                    continue
            for jobs in sorted({1, args.jobs}) if family in ("handcrafted", "radiomics") else [1]:
                row = {"dataset": name, **measure(dataset, cases, family, masks, jobs)}
                rows.append(row)
                print(
                    f"{name:16s} {family:12s} jobs={jobs} {row['images']:5d} img {row['features']:5d} feat "
                    f"{row['images_per_s']:8.1f} img/s {row['features_per_s']:10.0f} features/s",
                    flush=True,
                )
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "rows": rows,
    }
    (RESULTS / "features.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"written: {RESULTS / 'features.json'}")


if __name__ == "__main__":
    main()
