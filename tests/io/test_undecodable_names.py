"""File names that are not valid UTF-8 (Latin-1 bytes from a Windows share or an old zip) are refused before
anything is written, with the files and the rename: ``fit`` crashed with a UnicodeEncodeError traceback while
writing ``splits.json`` and left a run folder holding only ``config.json`` and ``dataset.json``; ``check`` said
``status OK``; ``predict --out x.csv`` crashed and ``predict`` to stdout wrote ``r\\udcf6ntgen_0.png``, a name no
file has."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.errors import DatasetError

LATIN1 = os.fsdecode(b"r\xf6ntgen_") + "{}.png"  # the Latin-1 bytes of "röntgen_N.png", as Python holds them


def _data(root: Path, bad: int = 2) -> Path:
    """Two classes of tiny PNGs; ``bad`` files of ``normal/`` renamed to Latin-1 bytes (``r\\xf6ntgen_N.png``)."""
    rng = np.random.default_rng(0)
    for name in ("normal", "pneumonia"):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(root / name / f"img_{i}.png")
    for i in range(bad):
        os.rename(root / "normal" / f"img_{i}.png", os.fsencode(root / "normal") + b"/r\xf6ntgen_%d.png" % i)
    return root


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return _data(tmp_path / "my data")


def test_a_dataset_with_latin1_names_is_refused_naming_the_files_and_the_rename(data: Path) -> None:
    from medimg.data.dataset import Dataset

    with pytest.raises(DatasetError) as raised:
        Dataset.load(data)
    message = str(raised.value)
    assert "2 file names" in message and "not valid UTF-8" in message
    assert "normal/r\\xf6ntgen_0.png" in message and "röntgen_0.png" in message  # the bytes, and what they say
    assert "convmv -f latin1 -t utf-8 -r --notest" in message and "my data" in message
    assert "\udcf6" not in message  # printable on any terminal


def test_a_class_folder_with_a_latin1_name_is_refused(tmp_path: Path) -> None:
    from medimg.data.dataset import Dataset

    data = _data(tmp_path / "d", bad=0)
    os.rename(data / "normal", os.fsencode(data) + b"/gesund_\xfc")
    with pytest.raises(DatasetError, match=r"gesund_\\xfc"):
        Dataset.load(data)


def test_predict_inputs_with_latin1_names_are_refused(data: Path) -> None:
    from medimg.io.inputs import expand_inputs

    with pytest.raises(DatasetError, match=r"not valid UTF-8 \(r\\xf6ntgen_0.png, r\\xf6ntgen_1.png;"):
        expand_inputs([data / "normal"])
    with pytest.raises(DatasetError, match="1 file name in"):  # a file named on the command line
        expand_inputs([data / "normal" / LATIN1.format(0)])
    assert len(expand_inputs([data / "pneumonia"])) == 6  # UTF-8 names as before


def test_a_writer_given_such_a_name_names_its_file_and_leaves_nothing(tmp_path: Path) -> None:
    """The last line of defence (a path from somewhere the input checks do not see): a clear error, no file."""
    from medimg.fileio import atomic_text_file, atomic_write_json

    with pytest.raises(DatasetError, match=r"cannot write .*splits.json: .*r\\xf6ntgen_0.png.*convmv"):
        atomic_write_json(tmp_path / "splits.json", {"train": [LATIN1.format(0)]})
    with (
        pytest.raises(DatasetError, match=r"predictions.csv: .*r\\xf6ntgen"),
        atomic_text_file(tmp_path / "predictions.csv") as handle,
    ):
        handle.write(LATIN1.format(0))
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file


def test_fit_refuses_them_with_exit_2_and_leaves_no_run_folder(data: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "medimg.cli.app", "fit", str(data), "--epochs", "1", "--run-dir", "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert "not valid UTF-8" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_commands_offered_for_a_path_with_spaces_can_be_copied(tmp_path: Path) -> None:
    """FIVES: `--task classify` on 'FIVES A Fundus Image Dataset/' offered `medimg fit /tmp/.../FIVES A Fundus Image
    Dataset/Quality Assessment.xlsx --label-column COLUMN`: copied into a shell, the path split into four words."""
    import shlex

    from medimg.data.dataset import Dataset

    root = tmp_path / "FIVES A Fundus Image Dataset"
    for i in range(4):
        for folder, value in (("Original", 90), ("Ground truth", 255)):
            (root / "train" / folder).mkdir(parents=True, exist_ok=True)
            pixels = np.zeros((8, 8), np.uint8)
            pixels[2:6, 2:6] = value
            Image.fromarray(pixels).save(root / "train" / folder / f"{i}_A.png")
    (root / "Quality Assessment.csv").write_text("No.,Disease\n1,AMD\n")
    with pytest.raises(DatasetError) as refused:
        Dataset.load(root, task="classify")
    offered = str(refused.value).split("medimg fit ", 1)[1].split(" --label-column")[0]
    assert shlex.split(offered) == [str(root / "Quality Assessment.csv")], offered
