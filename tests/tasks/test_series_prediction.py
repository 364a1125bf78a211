"""predict on a folder holding DICOM series (issue 14): a 2D model gives one prediction per slice in slice order and
a series summary, a 3D model one prediction of the series' volume; several series in one folder stay separate,
corrupt slices are reported by name; CLI JSON/CSV, Python API and the ONNX predictor agree."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from medimg.cli.app import app
from medimg.io.series_inputs import SeriesInput, expand_prediction_inputs
from medimg.tasks.series_prediction import SeriesSummary, summarise_series
from tests.io.conftest import write_dicom
from tests.serve.support import train_tiny_run

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
#: slice i of a series lies at z = Z_ORDER[i] * spacing: file names are not in slice order
Z_ORDER = (3, 0, 4, 1, 2)


def write_series(
    folder: Path, uid: str, *, n: int = 5, modality: str = "MR", spacing: float = 2.0, number: int = 1, size: int = 32
) -> list[Path]:
    """``n`` axial 8-bit slices of one series in ``folder`` (``im_<uid tail>_<i>.dcm``); returns them in slice
    order."""
    rng = np.random.default_rng(number)
    folder.mkdir(parents=True, exist_ok=True)
    order = [z for z in Z_ORDER if z < n] if n <= len(Z_ORDER) else list(range(n))
    files = {}
    for i, z in enumerate(order):
        yy, xx = np.mgrid[:size, :size]
        disc = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= (2 + z) ** 2) * 150
        pixels = np.clip(40 + disc + rng.normal(0, 10, (size, size)), 0, 255)
        path = folder / f"im_{uid.rsplit('.', 1)[-1]}_{i}.dcm"
        files[z] = write_dicom(
            path, pixels, modality=modality, bits_stored=8, position=(0.0, 0.0, spacing * z), orientation=AXIAL,
            series_uid=uid, instance=z + 1, extra={"SeriesNumber": number},
        )  # fmt: skip
    return [files[z] for z in sorted(files)]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory)


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["predict", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.output


def test_a_folder_s_series_are_found_in_slice_order_and_other_files_stay_files(tmp_path: Path) -> None:
    study = tmp_path / "study"
    mr = write_series(study / "s1", "1.2.3.1", number=1)
    ct = write_series(study / "s1", "1.2.3.2", n=3, modality="CT", spacing=5.0, number=2)
    alone = write_series(study / "s2", "1.2.3.3", n=4, number=7)
    write_dicom(study / "xray.dcm", np.zeros((16, 16)), modality="DX", series_uid="1.2.3.9")  # one file: a file
    (study / "notes.png").write_bytes(_png())
    found = expand_prediction_inputs([study])
    series = {s.series_uid: s for s in found.series}
    assert set(series) == {"1.2.3.1", "1.2.3.2", "1.2.3.3"}
    assert list(series["1.2.3.1"].files) == mr and list(series["1.2.3.2"].files) == ct
    assert series["1.2.3.1"].spacing_mm == (2.0, 0.5, 0.75) and series["1.2.3.2"].modality == "CT"
    # two series share s1: each gets its own key (masks/overlays never collide); s2's series is its folder
    assert series["1.2.3.1"].key == study / "s1" / "series_1" and series["1.2.3.2"].key == study / "s1" / "series_2"
    assert series["1.2.3.3"].key == study / "s2" and list(series["1.2.3.3"].files) == alone
    assert sorted(p.name for p in found.files) == ["notes.png", "xray.dcm"]
    # a file named on its own is never grouped
    assert expand_prediction_inputs([mr[0], mr[1]]).series == []


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 32), 90, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_2d_classifier_gives_one_prediction_per_slice_in_order_and_a_series_summary(
    tiny_run: Path, tmp_path: Path
) -> None:
    from medimg import Model

    slices = write_series(tmp_path / "study" / "series", "1.2.3.1")
    predictions = Model.load(tiny_run).predict(tmp_path / "study")
    assert len(predictions) == 6
    *per_slice, summary = predictions
    assert [p.source for p in per_slice] == [str(s) for s in slices]
    assert [p.series["slice"] for p in per_slice] == [1, 2, 3, 4, 5]
    assert {p.series["series_uid"] for p in per_slice} == {"1.2.3.1"}
    assert isinstance(summary, SeriesSummary) and summary.source == str(tmp_path / "study" / "series")
    data = summary.to_dict()
    assert data["record"] == "series_summary" and data["series"]["slices"] == 5 and data["slices_predicted"] == 5
    assert data["series"]["series_uid"] == "1.2.3.1" and data["series"]["modality"] == "MR"
    assert sum(data["label_counts"].values()) == 5
    assert data["label_counts"] == {n: sum(p.label == n for p in per_slice) for n in data["label_counts"]}
    for name, mean in data["mean_probabilities"].items():
        assert mean == pytest.approx(np.mean([p.probabilities[name] for p in per_slice]))
        peak = data["max_probability"][name]
        assert peak["probability"] == max(p.probabilities[name] for p in per_slice)
        assert per_slice[peak["slice"] - 1].source == peak["source"]
    assert data["domain"]["out_of_domain_slices"] == sum(not p.domain["in_domain"] for p in per_slice)


def test_cli_keeps_two_series_of_one_folder_apart_in_valid_json_and_csv(tiny_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "study"
    write_series(folder, "1.2.3.1", number=1)
    write_series(folder, "1.2.3.2", n=3, modality="CT", spacing=5.0, number=2)
    (folder / "photo.png").write_bytes(_png())
    code, stdout, _ = _cli(str(tiny_run), str(folder))
    assert code == 0
    rows = json.loads(stdout)
    summaries = [r for r in rows if r.get("record") == "series_summary"]
    assert [(s["series"]["series_uid"], s["series"]["modality"], s["slices_predicted"]) for s in summaries] == [
        ("1.2.3.1", "MR", 5),
        ("1.2.3.2", "CT", 3),
    ]
    assert len(rows) == 1 + 5 + 1 + 3 + 1  # the PNG, each series' slices and its summary
    assert "series" not in next(r for r in rows if r["source"].endswith("photo.png"))
    code, table, _ = _cli(str(tiny_run), str(folder), "--format", "csv")
    assert code == 0
    records = list(csv.DictReader(io.StringIO(table)))
    assert len(records) == len(rows)
    marked = [r for r in records if r["slice"].startswith("series summary")]
    assert [(r["series_uid"], r["slice"]) for r in marked] == [
        ("1.2.3.1", "series summary (5 slices)"),
        ("1.2.3.2", "series summary (3 slices)"),
    ]
    assert all(r["label"] and float(r["confidence"]) > 0 for r in marked)
    for summary in marked:  # the summary row says how many of its slices the domain check flagged
        flagged = sum(r["in_domain"] == "no" for r in records if r["series_uid"] == summary["series_uid"]) - (
            summary["in_domain"] == "no"
        )
        assert summary["in_domain"] == ("no" if flagged else "yes")
        expected = f"{flagged} of {summary['slice'].split('(')[1].split()[0]} slices outside" if flagged else ""
        assert summary["domain_reasons"].startswith(expected)
    assert {r["in_domain"] for r in marked} == {"no"}  # DICOM slices to a model trained on PNG images


def test_cli_explain_saves_slice_overlays_and_keeps_the_summary(tiny_run: Path, tmp_path: Path) -> None:
    write_series(tmp_path / "series", "1.2.3.1", n=3)
    out = tmp_path / "out"
    code, _, output = _cli(str(tiny_run), str(tmp_path / "series"), "--explain", "--out", str(out))
    assert code == 0, output
    rows = json.loads((out / "predictions.json").read_text())
    assert [r.get("record") for r in rows] == [None, None, None, "series_summary"]
    assert all(Path(r["explanation"]["overlay"]).is_file() for r in rows[:3])


def test_corrupt_slices_are_reported_by_name_and_the_rest_predicted(tiny_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "series"
    slices = write_series(folder, "1.2.3.1")
    broken = slices[2]
    broken.write_bytes(broken.read_bytes()[:-600])  # header intact, pixel data truncated
    (folder / "junk.dcm").write_bytes(b"DICM" + b"\x00" * 20)  # not even a header
    code, stdout, output = _cli(str(tiny_run), str(folder))
    assert code == 1 and "Traceback" not in output
    rows = json.loads(stdout)
    assert broken.name in output and "junk.dcm" in output
    summary = rows[-1]
    assert summary["record"] == "series_summary" and summary["slices_predicted"] == 4
    assert [r["series"]["slice"] for r in rows[:-1]] == [1, 2, 4, 5]


def test_onnx_predictor_gives_the_same_series_records(tiny_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from medimg import Model
    from medimg.export.predictor import OnnxPredictor

    model = Model.load(tiny_run)
    onnx_path = tmp_path / "model.onnx"
    model.export(onnx_path, parity_inputs=[tiny_run.parent / "phantoms"])
    slices = write_series(tmp_path / "study" / "s", "1.2.3.1")
    torch_records = [p.to_dict() for p in model.predict(tmp_path / "study")]
    onnx_records = [p.to_dict() for p in OnnxPredictor(onnx_path).predict(tmp_path / "study")]
    assert [r["source"] for r in onnx_records] == [*map(str, slices), str(tmp_path / "study" / "s")]
    assert onnx_records[-1]["label_counts"] == torch_records[-1]["label_counts"]
    onnx_means, torch_means = onnx_records[-1]["mean_probabilities"], torch_records[-1]["mean_probabilities"]
    assert onnx_means == pytest.approx(torch_means, abs=1e-3)


def test_classical_classifier_predicts_slices_and_a_summary(tiny_run: Path, tmp_path: Path) -> None:
    from medimg import Model

    model = Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1)
    model.fit(tiny_run.parent / "phantoms", run_dir=tmp_path / "run", progress=False)
    slices = write_series(tmp_path / "study", "1.2.3.1", n=3)
    *per_slice, summary = Model.load(tmp_path / "run").predict(tmp_path / "study")
    assert [p.source for p in per_slice] == [str(s) for s in slices]
    assert isinstance(summary, SeriesSummary) and sum(summary.summary["label_counts"].values()) == 3


# ---------------------------------------------------------------------------------------------------- 3D model
FAST_3D = {
    "epochs": 1,
    "iterations_per_epoch": 2,
    "batch_size": 2,
    "channels": [4, 8],
    "tta": False,
    "amp": "none",
    "channels_last": False,
}


@pytest.fixture(scope="module")
def run_3d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medimg import Model
    from tests.tasks.segment.synthetic import write_3d_pairs

    root = tmp_path_factory.mktemp("series3d")
    data = write_3d_pairs(root / "vols", n=8, shape=(16, 16, 16))
    Model("unet", task="segment", **FAST_3D).fit(data, run_dir=root / "run", progress=False, tensorboard=False)
    return root / "run"


def test_3d_model_predicts_each_series_as_one_volume(run_3d: Path, tmp_path: Path) -> None:
    import nibabel as nib

    from medimg import Model

    folder = tmp_path / "study"
    write_series(folder, "1.2.3.1", n=5, size=16, number=1)
    write_series(folder, "1.2.3.2", n=4, size=16, number=2, spacing=3.0)
    predictions = Model.load(run_3d).predict(folder, out_dir=tmp_path / "masks")
    assert len(predictions) == 2
    for prediction, uid, slices in zip(predictions, ("1.2.3.1", "1.2.3.2"), (5, 4), strict=True):
        record = prediction.to_dict()
        assert record["source"] == str(folder) and "record" not in record
        assert (record["series"]["series_uid"], record["series"]["slices"]) == (uid, slices)
        mask = nib.load(record["mask_path"])
        assert record["mask_path"].endswith(".nii.gz") and sorted(mask.shape) == sorted((slices, 16, 16))
    assert predictions[0].mask_path != predictions[1].mask_path  # one folder, two series, two masks


def test_3d_model_names_the_corrupt_slice_of_a_series(run_3d: Path, tmp_path: Path) -> None:
    folder = tmp_path / "series"
    slices = write_series(folder, "1.2.3.1", size=16)
    slices[1].write_bytes(slices[1].read_bytes()[:-200])
    code, _, output = _cli(str(run_3d), str(folder), "--out", str(tmp_path / "out"))
    assert code == 1 and "Traceback" not in output
    assert slices[1].name in output
    assert json.loads((tmp_path / "out" / "predictions.json").read_text()) == []


def test_onnx_3d_segmentation_predicts_the_series_as_one_volume(run_3d: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from medimg import Model
    from medimg.export.predictor import OnnxPredictor

    Model.load(run_3d).export(tmp_path / "model.onnx")
    folder = tmp_path / "series"
    write_series(folder, "1.2.3.1", n=5, size=16)
    predictor = OnnxPredictor(tmp_path / "model.onnx", mask_dir=tmp_path / "masks")
    assert predictor.spatial_dims == 3
    (prediction,) = predictor.predict(folder)
    assert prediction.source == str(folder) and prediction.series is not None
    assert (prediction.series["series_uid"], prediction.series["slices"]) == ("1.2.3.1", 5)
    assert str(prediction.mask_path).endswith(".nii.gz") and Path(str(prediction.mask_path)).is_file()


# ---------------------------------------------------------------------------------------------------- summaries
def _series(n: int, spacing: tuple[float, float, float] | None = (2.0, 0.5, 0.5)) -> SeriesInput:
    files = tuple(Path(f"/s/{i}.dcm") for i in range(n))
    return SeriesInput(folder=Path("/s"), series_uid="1.2", files=files, key=Path("/s"), spacing_mm=spacing)


def test_segmentation_summary_counts_voxels_and_volume_in_ml() -> None:
    from medimg.tasks.segment.masks import summarise

    masks = [np.zeros((10, 10), np.uint8) for _ in range(3)]
    masks[0][:2, :5] = 1  # 10 voxels on slice 1, none on slice 2, 20 on slice 3
    masks[2][:4, :5] = 1
    probs = np.full((2, 10, 10), 0.5, np.float32)
    records = [summarise(m, probs, ["background", "lesion"], (0.5, 0.5), f"/s/{i}.dcm") for i, m in enumerate(masks)]
    for i, record in enumerate(records, start=1):
        record.series = {"series_uid": "1.2", "slice": i, "slices": 3}
    summary = summarise_series(_series(3), records)
    assert summary.summary["voxels"]["lesion"] == 30
    assert summary.summary["volume_ml"]["lesion"] == pytest.approx(30 * 2.0 * 0.5 * 0.5 / 1000)
    assert summary.summary["slices_with"]["lesion"] == [1, 3]
    assert summarise_series(_series(3, None), records).summary["volume_ml"] is None
    row = summary.csv_rows()[0]
    assert row["volume_ml_lesion"] == "0.0150" and row["slices_with_lesion"] == 2


def test_detection_summary_counts_boxes_per_class_and_the_best_slice() -> None:
    from medimg.tasks.detect.predict import DetectionPrediction

    def record(i: int, labels: list[str], scores: list[float]) -> DetectionPrediction:
        return DetectionPrediction(
            source=f"/s/{i}.dcm", boxes=np.zeros((len(labels), 4), np.float32), scores=np.asarray(scores),
            labels=labels, label_indices=[0] * len(labels), class_names=["nodule", "mass"], score_threshold=0.3,
            image_size=(10, 10), series={"series_uid": "1.2", "slice": i + 1, "slices": 3},
        )  # fmt: skip

    records = [record(0, ["nodule"], [0.4]), record(1, [], []), record(2, ["nodule", "mass"], [0.9, 0.5])]
    summary = summarise_series(_series(3), records).to_dict()
    assert summary["counts"] == {"nodule": 2, "mass": 1}
    assert summary["slices_with"] == {"nodule": [1, 3], "mass": [3]}
    assert summary["max_score"]["nodule"] == {"score": 0.9, "slice": 3, "source": "/s/2.dcm"}
    assert json.loads(json.dumps(summary)) == summary


def test_a_multi_frame_file_is_predicted_frame_by_frame_by_a_2d_model(tiny_run: Path, tmp_path: Path) -> None:
    """An ultrasound cine or angiography run (one multi-frame file) was refused by a 2D model ("is 3D"): each frame
    is predicted as the same pixels in a single-frame file would be, with a summary; ONNX Runtime agrees."""
    pytest.importorskip("onnxruntime")
    from medimg import Model
    from medimg.export.predictor import OnnxPredictor

    rng = np.random.default_rng(0)
    frames = np.clip(rng.normal(90, 40, (4, 32, 32)), 0, 255)
    frames[1:3, 8:24, 8:24] = 250  # frames 2 and 3 hold a bright square
    (tmp_path / "cine").mkdir()
    (tmp_path / "singles").mkdir()
    cine = write_dicom(tmp_path / "cine" / "us.dcm", frames, modality="US", bits_stored=8, series_uid="1.2.5")
    for i in range(4):
        write_dicom(tmp_path / "singles" / f"f{i}.dcm", frames[i], modality="US", bits_stored=8)
    model = Model.load(tiny_run)
    *per_frame, summary = model.predict(cine)
    alone = model.predict(tmp_path / "singles")
    assert [p.source for p in per_frame] == [str(tmp_path / "cine" / f"us_frame000{i}.dcm") for i in range(1, 5)]
    assert [p.series["slice"] for p in per_frame] == [1, 2, 3, 4] and per_frame[0].series["series_uid"] == "1.2.5"
    for frame, single in zip(per_frame, alone, strict=True):
        assert frame.probabilities == pytest.approx(single.probabilities, abs=1e-5)
    assert isinstance(summary, SeriesSummary) and summary.source == str(cine)
    assert summary.series["file"] == str(cine) and summary.slices_predicted == 4
    onnx_path = tmp_path / "model.onnx"
    model.export(onnx_path, parity_inputs=[tiny_run.parent / "phantoms"])
    onnx_records = [p.to_dict() for p in OnnxPredictor(onnx_path).predict(cine)]
    assert [r["source"] for r in onnx_records] == [*(p.source for p in per_frame), str(cine)]
    for record, frame in zip(onnx_records[:-1], per_frame, strict=True):
        assert record["probabilities"] == pytest.approx(frame.probabilities, abs=1e-3)
    assert expand_prediction_inputs([cine]).series == []  # a 3D model reads the file as one volume, as before


def test_a_2d_segmentation_model_writes_one_mask_per_frame(tmp_path_factory: pytest.TempPathFactory) -> None:
    from medimg import Model
    from tests.serve.support import train_tiny_segmentation_run

    run = train_tiny_segmentation_run(tmp_path_factory)
    folder = tmp_path_factory.mktemp("cine")
    frames = np.full((3, 32, 32), 30.0)
    for i, radius in enumerate((4, 8, 12)):
        yy, xx = np.mgrid[:32, :32]
        frames[i][(yy - 16) ** 2 + (xx - 16) ** 2 <= radius**2] = 220
    cine = write_dicom(folder / "run.dcm", frames, modality="XA", bits_stored=8)
    *per_frame, summary = Model.load(run).predict(cine, out_dir=folder / "masks")
    paths = [Path(p.mask_path) for p in per_frame]
    assert [p.name for p in paths] == [f"run_frame000{i}_mask.png" for i in (1, 2, 3)]
    assert all(p.is_file() for p in paths)
    assert isinstance(summary, SeriesSummary) and summary.task == "segment" and summary.slices_predicted == 3
