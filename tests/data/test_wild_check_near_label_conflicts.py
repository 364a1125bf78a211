"""One X-ray filed under two classes as two exports (a PNG in normal/, its JPEG re-save in pneumonia/; a resized
copy): `medimg check` counted a "near-identical group" but listed no label conflict, status OK, exit 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from medimg import Dataset
from medimg.data.quality import check_dataset
from tests.data.radiographs import radiograph


def test_one_picture_under_two_labels_as_other_exports_is_a_label_conflict(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    for cls in ("normal", "pneumonia"):
        (tmp_path / cls).mkdir()
    pictures = [radiograph(rng) for _ in range(12)]
    for i, picture in enumerate(pictures):
        Image.fromarray(picture).save(tmp_path / ("normal", "pneumonia")[i % 2] / f"{i}.png")
    Image.fromarray(pictures[0]).save(tmp_path / "pneumonia" / "0_export.jpg", quality=90)  # 0 is normal
    Image.fromarray(pictures[2]).resize((64, 64)).save(tmp_path / "pneumonia" / "2_small.png")  # 2 is normal
    Image.fromarray(pictures[4]).save(tmp_path / "normal" / "4_again.jpg", quality=90)  # same label: no conflict
    report = check_dataset(Dataset.load(tmp_path))
    assert not report.ok  # was OK: nothing would be fixed
    assert sorted(report.near_label_conflicts) == [
        ["normal/0.png [normal]", "pneumonia/0_export.jpg [pneumonia]"],
        ["normal/2.png [normal]", "pneumonia/2_small.png [pneumonia]"],
    ]
    assert report.to_dict()["near_label_conflicts"] == report.near_label_conflicts
    text = report.summary()
    assert "label conflict (nearly the same picture, different labels): normal/0.png [normal]" in text
    assert "4_again" not in text.split("warning:")[0]
