"""A class (or patient) named like a missing-value marker (``NA``, ``nan``, ``None``, ``N/A``) survives the manifests
medimg writes and reads back: ``fit(paths, labels)``'s ``training_labels.csv``, ``evaluate(paths, labels)``'s
``files.csv``, ``medimg compare --group``'s manifest, ``medimg generate``'s ``synthetic.csv``. A user's own table
keeps reading those markers as unlabelled images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.given_files import labels_table

NAMES = ["NA", "nan", "N/A", "None", "NULL", "<NA>"]


def _class_folders(root: Path, names: list[str], n: int = 3) -> list[Path]:
    """A folder per class (``N/A`` in a folder ``N_A``), ``n`` PNGs each; the files, sorted."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        folder = root / name.replace("/", "_").replace("<", "").replace(">", "")
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = (rng.random((8, 8)) * 60 + k * 60).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"img{i}.png")
    return sorted(root.rglob("*.png"))


@pytest.mark.parametrize("name", NAMES)
def test_fit_paths_labels_keeps_a_class_named_like_a_missing_value(tmp_path: Path, name: str) -> None:
    files = _class_folders(tmp_path / "data", [name, "tumour", "cyst"])
    labels = ["tumour" if f.parent.name == "tumour" else "cyst" if f.parent.name == "cyst" else name for f in files]
    copy = labels_table(files, labels).save(tmp_path / "run" / "training_labels.csv")
    dataset = Dataset.load(copy, task="classify")
    assert sorted(dataset.class_names) == sorted([name, "tumour", "cyst"])
    assert len(dataset.cases) == 9 and not dataset.unlabelled
    read = {str(c.path): dataset.class_names[c.label] for c in dataset.cases if c.label is not None}
    assert read == {str(f.resolve()): label for f, label in zip(files, labels, strict=True)}


def test_evaluate_paths_labels_keeps_a_class_named_na(tmp_path: Path) -> None:
    files = _class_folders(tmp_path / "data", ["NA", "tumour"])
    labels = [f.parent.name for f in files]
    table = labels_table(files, labels, class_names=["NA", "tumour"])
    manifest = table.save(tmp_path / "run" / "evaluations" / "given" / table.digest()[:16] / "files.csv")
    dataset = Dataset.load(manifest, task="classify")
    assert dataset.class_names == ["NA", "tumour"] and len(dataset.cases) == 6


def test_compare_group_manifest_keeps_a_group_and_patients_named_na(tmp_path: Path) -> None:
    from medimg.cli.compare import write_grouped_manifest

    _class_folders(tmp_path / "data", ["NA", "tumour", "cyst"])
    source = Dataset.load(tmp_path / "data", task="classify")
    manifest = write_grouped_manifest(source, ["NA=NA", "lesion=tumour|cyst"], tmp_path / "data-grouped.csv")
    grouped = Dataset.load(manifest, task="classify")
    assert sorted(grouped.class_names) == ["NA", "lesion"] and len(grouped.cases) == 9
    # a patient named NA (a patient folder "NA") stays one patient, kept together by the split
    lines = manifest.read_text().splitlines()
    lines[1:] = [",".join([*line.split(",")[:2], "NA" if i < 4 else f"p{i}", ""]) for i, line in enumerate(lines[1:])]
    manifest.write_text("\n".join(lines) + "\n")
    patients = [c.patient_id for c in Dataset.load(manifest, task="classify").cases]
    assert patients.count("NA") == 4 and None not in patients


def test_synthetic_set_of_a_class_named_na_joins_training(tmp_path: Path) -> None:
    from medimg.data.synthetic_sets import read_synthetic_cases
    from medimg.tasks.generate.synthesis import _manifest_text, class_folders

    folders = class_folders(["NA", "tumour"])
    files = _class_folders(tmp_path / "synth", folders)
    rows = [{"path": f.relative_to(tmp_path / "synth").as_posix(), "label": f.parent.name} for f in files]
    (tmp_path / "synth" / "synthetic.csv").write_text(_manifest_text(rows))
    cases = read_synthetic_cases(tmp_path / "synth", ["NA", "tumour"])
    assert sorted(c.label for c in cases) == [0, 0, 0, 1, 1, 1]


def test_a_users_table_still_reads_na_as_unlabelled(tmp_path: Path) -> None:
    """Documented: in a table the user wrote, ``NA`` is R's missing value, even named and headed as medimg's."""
    files = _class_folders(tmp_path, ["normal", "tumour", "more"], n=2)
    rows = [
        f"{f.relative_to(tmp_path).as_posix()},{'NA' if f.parent.name == 'more' else f.parent.name}," for f in files
    ]
    for name in ("labels.csv", "training_labels.csv"):  # relative paths: not medimg's copy
        (tmp_path / name).write_text("path,label,split\n" + "\n".join(rows) + "\n")
        dataset = Dataset.load(tmp_path / name, task="classify")
        assert dataset.class_names == ["normal", "tumour"] and len(dataset.unlabelled) == 2
