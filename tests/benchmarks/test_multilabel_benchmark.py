"""The multi-label benchmark runs end to end on a tiny folder shaped like ``isic2018_task1_256`` (its images in
``data/{train,val,test}/`` and ``images-onehot.txt``) and writes its table from the runs' own reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _fake_isic(root: Path) -> None:
    """Attribute ``j`` brightens a band ``j`` of a noise image: learnable, so the AUCs must beat chance."""
    rng = np.random.default_rng(0)
    lines = []
    for split, count in (("train", 60), ("val", 20), ("test", 20)):
        (root / "data" / split).mkdir(parents=True)
        for i in range(count):
            bits = (rng.random(5) < 0.4).astype(int)
            bits[4] = 1 if i % 4 == 0 else 0  # every split has each attribute present and absent
            image = rng.integers(0, 80, (32, 32, 3))
            for j in np.flatnonzero(bits):
                image[6 * j : 6 * j + 6] += 150
            name = f"ISIC_{split}{i:04d}"
            Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(root / "data" / split / f"{name}.jpg")
            lines.append(f"{name} {''.join(map(str, bits))}")
    (root / "images-onehot.txt").write_text("\n".join(lines) + "\n")


def test_the_benchmark_reports_what_its_runs_measured(tmp_path: Path) -> None:
    import multilabel

    _fake_isic(tmp_path / "data" / "isic2018_task1_256")
    out = tmp_path / "result.json"
    argv = ["--data", str(tmp_path / "data"), "--seeds", "0", "--epochs", "4", "--threads", "1"]
    assert multilabel.main([*argv, "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    (run,) = result["runs"]
    assert result["epochs"] == 4 and result["budget_s"] is None
    report = json.loads((tmp_path / "work" / "seed0" / "report" / "report.json").read_text())
    assert run["macro_auc"] == report["metrics"]["macro_auc"] > 0.7
    assert set(run["auc"]) == set(multilabel.ATTRIBUTES) and run["n_test"] == 20
    manifest = (tmp_path / "work" / "isic2018_attributes.csv").read_text().splitlines()
    assert manifest[0] == "path,split,globules,milia_like_cyst,negative_network,pigment_network,streaks"
    bits = (tmp_path / "data" / "isic2018_task1_256" / "images-onehot.txt").read_text().split("\n")[0].split()[1]
    first = next(line for line in manifest if "ISIC_train0000.jpg" in line)
    assert len(manifest) == 101 and first.split(",")[1:] == ["train", *bits]
