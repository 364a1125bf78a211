"""Streaming classification: same predictions as the list API, bounded read-ahead, failed files in the middle,
and the CLI's JSON / JSON Lines / CSV written as the predictions come."""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from medimg.errors import DatasetError, ImageReadError
from medimg.io.image import ImageData
from medimg.tasks.classify.predict import Prediction
from medimg.tasks.classify.stream import StreamStats, stream_predictions
from tests.serve.support import train_tiny_run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory)


@pytest.fixture
def folder_with_bad_file(tiny_run: Path, tmp_path: Path) -> Path:
    """12 phantoms (6 per class) with a corrupt PNG sorted in the middle."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    phantoms = tiny_run.parent / "phantoms"
    for label in ("lesion", "normal"):
        for i in range(6):
            shutil.copy(phantoms / label / f"phantom_{i:04d}.png", folder / f"{label}_{i}.png")
    (folder / "m_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    return folder


class CountingReader:
    """Makes a tiny image per path and counts the reads (thread-safe), to see how far the pool reads ahead."""

    def __init__(self, bad: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.reads = 0
        self.bad = bad
        self.lock = threading.Lock()

    def read(self, path: Path) -> ImageData:
        with self.lock:
            self.reads += 1
        if path.name in self.bad:
            raise ImageReadError(path, "cannot be decoded")
        value = float(path.stem.split("_")[-1])
        return ImageData(array=np.full((1, 4, 4), value, np.float32), source=str(path))


def label_by_value(images: list[ImageData]) -> list[Prediction]:
    """A stand-in network: even pixel value -> class a, odd -> b; a 3-pixel-wide image is refused."""
    if any(image.array.shape[-1] == 3 for image in images):
        raise DatasetError("an image has the wrong shape")
    predictions = []
    for image in images:
        index = int(image.array.flat[0]) % 2
        probabilities = {"a": 1.0 - index, "b": float(index)}
        predictions.append(Prediction(image.source, "ab"[index], index, probabilities))
    return predictions


def test_read_ahead_is_bounded_by_chunks() -> None:
    """However many files, at most ``2 * prefetch`` chunks are read ahead of what has been yielded."""
    paths = [Path(f"img_{i}.png") for i in range(200)]
    reader, stats = CountingReader(), StreamStats()
    chunk, prefetch = 10, 3
    ahead = []
    stream = stream_predictions(
        paths, reader, label_by_value, chunk_size=chunk, decode_workers=2, decode_pool="thread", prefetch=prefetch,
        stats=stats,
    )  # fmt: skip
    for yielded, prediction in enumerate(stream, start=1):
        time.sleep(0.0005)  # a slow consumer: the pool would run ahead if nothing held it back
        ahead.append(reader.reads - yielded)
        assert prediction.source == f"img_{yielded - 1}.png"  # file order
    assert reader.reads == 200 and stats.images == 200
    # the pool's `prefetch` chunks, as many read here while the pool was behind, and the chunk being yielded
    assert max(ahead) <= (2 * prefetch + 1) * chunk, max(ahead)
    assert max(ahead) > chunk  # it did read ahead (the pool overlaps the network)
    assert prefetch <= stats.max_chunks_held <= 2 * prefetch and stats.decode_workers == 2


@pytest.mark.parametrize("chunk_size", [4, 1])
def test_failed_files_in_the_middle_keep_the_order(chunk_size: int) -> None:
    """An unreadable file and one the network refuses (alone in its chunk or not) are listed; the others come in
    file order."""
    paths = [Path(f"img_{i}.png") for i in range(30)]

    class OddShape(CountingReader):
        def read(self, path: Path) -> ImageData:
            image = super().read(path)
            if path.name == "img_17.png":
                image.array = np.zeros((1, 4, 3), np.float32)
            return image

    stats = StreamStats()
    reader = OddShape(bad={"img_5.png"})
    stream = stream_predictions(
        paths, reader, label_by_value, chunk_size=chunk_size, decode_workers=2, decode_pool="thread", stats=stats
    )
    predictions = list(stream)
    expected = [f"img_{i}.png" for i in range(30) if i not in (5, 17)]
    assert [p.source for p in predictions] == expected
    assert [p.label for p in predictions] == ["ab"[int(s.split("_")[1][:-4]) % 2] for s in expected]
    assert [path for path, _ in stats.failed] == ["img_5.png", "img_17.png"]
    assert "cannot be decoded" in stats.failed[0][1] and "wrong shape" in stats.failed[1][1]


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_stream_matches_the_list_api(tiny_run: Path, folder_with_bad_file: Path, pool: str) -> None:
    from medimg import Model

    model = Model.load(tiny_run)
    listed = model.predict(folder_with_bad_file)
    listed_failed = list(model.failed_)
    stats = StreamStats()
    streamed = list(
        model.predict_iter(folder_with_bad_file, chunk_size=3, decode_workers=2, decode_pool=pool, stats=stats)
    )
    assert [p.source for p in streamed] == [p.source for p in listed] and len(streamed) == 12
    for a, b in zip(streamed, listed, strict=True):
        assert a.label == b.label and a.domain == b.domain and a.domain is not None
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
    assert model.failed_ == listed_failed == stats.failed and len(stats.failed) == 1
    assert stats.failed[0][0].endswith("m_broken.png")
    assert stats.decode_workers == 2 and stats.max_chunks_held <= 8
    if pool == "process":
        assert stats.worker_peak_rss_mb > 0


def test_onnx_stream_matches_torch(tiny_run: Path, folder_with_bad_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from medimg import Model
    from medimg.export.predictor import OnnxPredictor

    model = Model.load(tiny_run)
    model.export(tmp_path / "model.onnx")
    predictor = OnnxPredictor(tmp_path / "model.onnx")
    listed = predictor.predict(folder_with_bad_file)
    stats = StreamStats()
    streamed = list(predictor.predict_iter(folder_with_bad_file, chunk_size=5, decode_workers=1, stats=stats))
    torch_side = model.predict(folder_with_bad_file)
    assert [p.source for p in streamed] == [p.source for p in listed] == [p.source for p in torch_side]
    for a, b, c in zip(streamed, listed, torch_side, strict=True):
        assert a.label == b.label == c.label and a.domain == c.domain
        assert a.probabilities == pytest.approx(c.probabilities, abs=1e-4)
    assert len(predictor.failed_) == 1 and predictor.failed_ == stats.failed


def test_cli_writes_valid_json_jsonl_and_csv_around_a_failed_file(
    tiny_run: Path, folder_with_bad_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medimg.cli.app import app

    monkeypatch.setattr("medimg.tasks.classify.stream.CHUNK_SIZE", 4)  # 13 files: 4 chunks through the pool
    runner = CliRunner()
    outputs = {}
    for fmt in ("json", "jsonl", "csv"):
        target = tmp_path / f"out.{fmt}"
        args = ["predict", str(tiny_run), str(folder_with_bad_file), "--format", fmt, "--out", str(target)]
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output  # a file could not be used
        assert "m_broken.png" in result.output and "12 prediction(s) written" in result.output
        assert "images/s" in result.output and "decode worker" in result.output
        outputs[fmt] = target.read_text()
    rows = json.loads(outputs["json"])
    assert isinstance(rows, list) and len(rows) == 12
    assert [json.loads(line) for line in outputs["jsonl"].splitlines()] == rows
    table = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert [r["source"] for r in table] == [r["source"] for r in rows]
    assert sorted(rows, key=lambda r: r["source"]) == rows and all("domain" in r for r in rows)
    assert [r["label"] for r in table] == [r["label"] for r in rows]
    # the list API's text, byte for byte
    from medimg import Model

    listed = Model.load(tiny_run).predict(folder_with_bad_file)
    assert outputs["json"] == json.dumps([p.to_dict() for p in listed], indent=2) + "\n"

    # the failure is kept beside the results, not only printed: one row per file with its reason
    failed = list(csv.DictReader(io.StringIO((tmp_path / "out.failed.csv").read_text())))
    assert [Path(r["source"]).name for r in failed] == ["m_broken.png"] and all(r["reason"] for r in failed)
    assert "listed in" in result.output and "out.failed.csv" in result.output

    folder = tmp_path / "as_folder"
    result = runner.invoke(app, ["predict", str(tiny_run), str(folder_with_bad_file), "--out", str(folder)])
    assert result.exit_code == 1 and len(json.loads((folder / "predictions.json").read_text())) == 12
    assert (folder / "predictions.failed.csv").read_text().startswith("source,reason\n")


def test_cli_json_of_nothing_is_an_empty_array(tiny_run: Path, tmp_path: Path) -> None:
    from medimg.cli.app import app

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"garbage")
    result = CliRunner().invoke(app, ["predict", str(tiny_run), str(broken), "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 1 and json.loads((tmp_path / "p.json").read_text()) == []


def test_out_of_domain_warnings_are_capped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The first DOMAIN_WARNINGS out-of-domain files are warned about one by one, then one summary counts them."""
    from PIL import Image

    from medimg.planning.domain import InputReader, TrainingDomain
    from medimg.tasks.classify.stream import DOMAIN_WARNINGS

    paths = []
    for i in range(DOMAIN_WARNINGS + 5):
        paths.append(tmp_path / f"img_{i:02d}.png")
        Image.fromarray(np.full((8, 8), i * 8, np.uint8)).save(paths[-1])
    reader = InputReader(domain=TrainingDomain(formats={"dicom": 10}, modalities={"CT": 10}))

    def constant(images: list[ImageData]) -> list[Prediction]:
        return [Prediction(image.source, "a", 0, {"a": 1.0}) for image in images]

    stats = StreamStats()
    with caplog.at_level("WARNING"):
        predictions = list(stream_predictions(paths, reader, constant, chunk_size=4, decode_workers=0, stats=stats))
    assert all(p.domain is not None and not p.domain["in_domain"] for p in predictions)
    assert stats.out_of_domain == DOMAIN_WARNINGS + 5 and not reader.verdicts  # verdicts do not pile up
    warned = [r.getMessage() for r in caplog.records if "outside the model's training domain" in r.getMessage()]
    assert len(warned) == DOMAIN_WARNINGS + 1, warned
    assert warned[0].startswith(str(paths[0])) and "a png image" in warned[0]
    assert warned[-1].startswith(f"{DOMAIN_WARNINGS + 5} of {DOMAIN_WARNINGS + 5} images")


def test_a_broken_pool_falls_back_to_reading_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers that cannot start (a script without a main guard) cost speed, not predictions."""
    from concurrent.futures import Executor, Future
    from concurrent.futures.process import BrokenProcessPool

    class BrokenPool(Executor):
        def submit(self, *args: object, **kwargs: object) -> Future:  # type: ignore[override]
            future: Future = Future()
            future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
            return future

    monkeypatch.setattr("medimg.tasks.classify.stream._pool", lambda kind, workers: BrokenPool())
    paths = [Path(f"img_{i}.png") for i in range(25)]
    stats = StreamStats()
    predictions = list(
        stream_predictions(paths, CountingReader(), label_by_value, chunk_size=4, decode_workers=2, stats=stats)
    )
    assert [p.source for p in predictions] == [str(p) for p in paths]
    assert stats.decode_workers == 0 and not stats.failed


def test_an_image_named_as_out_is_refused_and_left_as_it_was(tiny_run: Path, folder_with_bad_file: Path) -> None:
    """`--out *.dcm` (a shell glob right after --out) wrote the CSV over the first scan; `--out img.png` over the
    image just predicted."""
    from medimg.cli.app import app

    image = sorted(folder_with_bad_file.glob("*.png"))[0]
    before = image.read_bytes()
    for out in (str(image), str(folder_with_bad_file / "new_scan.dcm")):
        result = CliRunner().invoke(app, ["predict", str(tiny_run), str(image), "--format", "csv", "--out", out])
        assert result.exit_code != 0 and "names an image file" in str(result.exception or result.output)
    assert image.read_bytes() == before and not (folder_with_bad_file / "new_scan.dcm").exists()
