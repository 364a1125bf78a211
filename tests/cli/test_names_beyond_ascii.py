"""Names beyond ASCII: datasets named in any script get runs folders of their own, and predictions of files named
``lésion é.png`` print on any console (a Latin-1 or ASCII one escapes what it cannot show instead of failing
half-way through a CSV)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from medimg.io.formats import distinct_file_name
from medimg.run_folder import create_run_dir, latest_resumable_run, runs_folder_name
from medimg.tasks.classify.predict import Prediction
from medimg.tasks.prediction_output import write_predictions
from medimg.terminal import escape_what_streams_cannot_encode
from tests.serve.support import train_tiny_run


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("Chest X-rays (ünï)", "Chest_X-rays_ünï"),
        ("肺部X光", "肺部X光"),
        ("Thorax-Röntgen 2024", "Thorax-Röntgen_2024"),
        ("pneumoniamnist", "pneumoniamnist"),
        ("my data/../x", "my_data_.._x"),
        ("..", "dataset"),
        ("", "dataset"),
        ("()", "dataset"),
    ],
)
def test_a_dataset_name_becomes_a_folder_name_of_its_letters(name: str, folder: str) -> None:
    assert runs_folder_name(name) == folder


def test_datasets_named_in_other_scripts_do_not_share_a_folder(tmp_path: Path) -> None:
    """Both were ``runs/_`` before, so ``--resume`` could continue the other dataset's run."""
    first, second = create_run_dir(tmp_path, "肺炎"), create_run_dir(tmp_path, "胸片")
    assert first.parent != second.parent
    assert (first.name, second.name) == ("exp1", "exp1")


def test_a_decomposed_name_shares_the_composed_names_folder(tmp_path: Path) -> None:
    """macOS hands file names back decomposed (``u`` + combining diaeresis): the same dataset, the same folder."""
    composed = create_run_dir(tmp_path, "Röntgen")
    decomposed = create_run_dir(tmp_path, unicodedata.normalize("NFD", "Röntgen"))
    assert decomposed == composed.parent / "exp2"


def test_a_run_interrupted_in_the_older_folder_stays_resumable(tmp_path: Path) -> None:
    older = tmp_path / "Chest_X-rays_n_" / "exp1"  # how "Chest X-rays (ünï)" was written before
    (older / "checkpoints").mkdir(parents=True)
    (older / "checkpoints" / "last.pt").write_bytes(b"checkpoint")
    assert latest_resumable_run(tmp_path, "Chest X-rays (ünï)") == older
    assert create_run_dir(tmp_path, "Chest X-rays (ünï)") == older.parent / "exp2"


def test_a_stream_escapes_what_its_encoding_lacks() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    escape_what_streams_cannot_encode(stream)
    stream.write('{"label": "Pneumonia – viral"}\n')
    stream.flush()
    assert json.loads(raw.getvalue().decode("ascii")) == {"label": "Pneumonia – viral"}


@pytest.fixture(scope="module")
def accented_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    run = train_tiny_run(tmp_path_factory)
    folder = tmp_path_factory.mktemp("accents")
    image = folder / "lésion – é.png"
    shutil.copy(run.parent / "phantoms" / "lesion" / "phantom_0000.png", image)
    return run, image


def _predict(run: Path, image: Path, output_format: str, encoding: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "medimg.cli.app", "predict", str(run), str(image), "--format", output_format],
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONIOENCODING": encoding},
    )


def test_a_csv_of_accented_file_names_prints_on_an_ascii_console(accented_input: tuple[Path, Path]) -> None:
    """It stopped with a UnicodeEncodeError traceback after the header."""
    run, image = accented_input
    done = _predict(run, image, "csv", "ascii")
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode("ascii"))))
    assert len(rows) == 1
    assert rows[0]["source"].endswith("l\\xe9sion \\u2013 \\xe9.png"), rows[0]["source"]


def test_json_names_files_as_they_are_written_where_the_target_encodes_them() -> None:
    """On a UTF-8 target the JSON shows ``lésion – é.png``, not ``l\\u00e9sion``; on an ASCII one it escapes it
    and stays JSON (the CLI's standard output would otherwise write ``\\xe9``, which JSON does not know)."""
    prediction = Prediction("lésion – é.png", "Pneumonia – viral", 1, {"normal": 0.25, "Pneumonia – viral": 0.75})
    for output_format in ("json", "jsonl"):
        shown = io.StringIO()
        write_predictions([prediction], shown, output_format)
        assert "lésion – é.png" in shown.getvalue() and "Pneumonia – viral" in shown.getvalue()
        raw = io.BytesIO()
        ascii_stream = io.TextIOWrapper(raw, encoding="ascii")
        escape_what_streams_cannot_encode(ascii_stream)
        write_predictions([prediction], ascii_stream, output_format)
        ascii_stream.flush()
        text = raw.getvalue().decode("ascii")
        assert "\\u00e9" in text
        record = json.loads(text) if output_format == "jsonl" else json.loads(text)[0]
        assert record["source"] == "lésion – é.png" and record["label"] == "Pneumonia – viral"


def test_a_long_name_is_cut_to_a_file_name_and_kept_apart(tmp_path: Path) -> None:
    """300 Chinese characters are 900 bytes: ``mkdir`` failed with 'File name too long'."""
    first, second = "肺" * 299 + "甲", "肺" * 299 + "乙"
    assert runs_folder_name(first) != runs_folder_name(second)
    assert len(runs_folder_name(first).encode()) <= 120
    assert create_run_dir(tmp_path, first).is_dir()
    assert create_run_dir(tmp_path, "a" * 300).is_dir()


@pytest.mark.parametrize(
    ("first", "second"),
    [("images/病例一.png", "images/病例二.png"), ("a b.png", "a_b.png"), ("x" * 300 + "1", "x" * 300 + "2")],
)
def test_texts_that_one_file_name_would_hold_get_names_of_their_own(first: str, second: str) -> None:
    names = distinct_file_name(first), distinct_file_name(second)
    assert names[0] != names[1] and all(len(n.encode()) <= 120 for n in names)
    assert names[0] == distinct_file_name(first)  # the same text, the same name (a cache finds it again)
    assert distinct_file_name("case_001.png") == "case_001.png"  # a name that is already safe stays readable
