"""Real-world inputs at inference: the input-domain check, DICOM intensity by modality, --window/--strict/--threads/
--include/--exclude on predict, outputs that mirror the input tree (issue 14)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from medimg.cli.app import app
from tests.serve.support import train_tiny_run, train_tiny_segmentation_run
from tests.test_end_to_end import medimg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory)


@pytest.fixture
def mr_dcm(tmp_path: Path) -> Path:
    """pydicom's MR_small.dcm: a 16-bit MR slice (values 127..2145) with its own VOI window (600/1600)."""
    from pydicom.data import get_testdata_file

    return Path(shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "mr.dcm"))


def _predict(*args: str) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(app, ["predict", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    start = result.stdout.find("[")
    rows = json.loads(result.stdout[start:]) if start >= 0 else []
    return result.exit_code, rows, result.output


def test_16bit_mr_into_an_8bit_model_is_flagged_and_strict_refuses_it(
    tiny_run: Path, mr_dcm: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        code, rows, _ = _predict(str(tiny_run), str(mr_dcm))
    assert code == 0
    assert rows[0]["domain"]["in_domain"] is False
    assert any("DICOM MR" in r for r in rows[0]["domain"]["reasons"])
    assert "outside the model's training domain" in caplog.text and str(mr_dcm) in caplog.text
    strict_code, strict_rows, output = _predict(str(tiny_run), str(mr_dcm), "--strict")
    assert strict_code == 1 and strict_rows == []
    assert "refused by --strict" in output


def test_an_input_like_the_training_images_is_in_domain(tiny_run: Path) -> None:
    sample = sorted((tiny_run.parent / "phantoms" / "normal").glob("*.png"))[0]
    code, rows, _ = _predict(str(tiny_run), str(sample), "--threads", "1")
    assert code == 0 and rows[0]["domain"] == {"in_domain": True, "reasons": []}


def test_a_run_trained_before_the_domain_was_saved_still_predicts_and_checks(
    tiny_run: Path, mr_dcm: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old-run"
    shutil.copytree(tiny_run, old)
    fingerprint = json.loads((old / "fingerprint.json").read_text())
    fingerprint.pop("domain")
    (old / "fingerprint.json").write_text(json.dumps(fingerprint))
    code, rows, _ = _predict(str(old), str(mr_dcm))
    assert code == 0 and rows[0]["domain"]["in_domain"] is False


def test_ct_window_on_mr_is_refused_naming_the_modality(tiny_run: Path, mr_dcm: Path, tmp_path: Path) -> None:
    result = medimg("predict", str(tiny_run), str(mr_dcm), "--window", "brain", cwd=tmp_path)
    assert result.returncode != 0
    assert "modality is MR" in result.stderr and "Traceback" not in result.stderr


def test_window_file_on_predict_applies_the_file_window(tiny_run: Path, mr_dcm: Path) -> None:
    code, rows, _ = _predict(str(tiny_run), str(mr_dcm), "--window", "file")
    assert code == 0  # 0..1 values into a 0..255 model: predicted, and flagged
    assert any("reach only" in r for r in rows[0]["domain"]["reasons"])


def test_scale_is_refused_for_a_classifier_with_the_reason(tiny_run: Path) -> None:
    from medimg.errors import ConfigError

    sample = sorted((tiny_run.parent / "phantoms" / "normal").glob("*.png"))[0]
    result = CliRunner().invoke(app, ["predict", str(tiny_run), str(sample), "--scale", "0.5"])
    assert isinstance(result.exception, ConfigError)
    assert "--scale: for segmentation models only" in str(result.exception)


def test_include_and_exclude_select_files_inside_folders(tiny_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name in ("a.png", "b.png", "b_mask_1.png"):
        Image.fromarray(np.full((32, 32), 90, np.uint8)).save(folder / name)
    code, rows, _ = _predict(str(tiny_run), str(folder), "--exclude", "*_mask*")
    assert code == 0 and sorted(Path(r["source"]).name for r in rows) == ["a.png", "b.png"]
    code, rows, _ = _predict(str(tiny_run), str(folder), "--include", "a*")
    assert [Path(r["source"]).name for r in rows] == ["a.png"]
    # given twice, as find and rsync take it, both count (typer kept the last one)
    code, rows, _ = _predict(str(tiny_run), str(folder), "--include", "a*", "--include", "b.png")
    assert sorted(Path(r["source"]).name for r in rows) == ["a.png", "b.png"]


def test_same_named_inputs_from_two_folders_get_their_own_masks(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    run = train_tiny_segmentation_run(tmp_path_factory)
    source = run.parent / "discs" / "images" / "case_00.png"
    for folder in ("site_a", "site_b"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        shutil.copy(source, tmp_path / "in" / folder / "scan.png")
    out = tmp_path / "out"
    code, _, _ = _predict(str(run), str(tmp_path / "in"), "--out", str(out))
    assert code == 0
    masks = sorted(p.relative_to(out).as_posix() for p in out.rglob("*_mask.png"))
    assert masks == ["site_a/scan_mask.png", "site_b/scan_mask.png"]
    assert json.loads((out / "predictions.json").read_text())[0]["mask_path"].endswith("site_a/scan_mask.png")


def test_onnx_predictor_flags_the_same_inputs(tiny_run: Path, mr_dcm: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from medimg import Model
    from medimg.export.predictor import OnnxPredictor

    target = tmp_path / "export" / "model.onnx"
    Model.load(tiny_run).export(target)  # the training domain travels inside the file
    predictor = OnnxPredictor(target)
    [prediction] = predictor.predict(mr_dcm)
    assert prediction.domain is not None and prediction.domain["in_domain"] is False
    strict = OnnxPredictor(target, strict=True)
    assert strict.predict(mr_dcm) == [] and "refused by --strict" in strict.failed_[0][1]


def _evaluate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["evaluate", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_single_class_external_set_is_evaluated_with_the_defined_metrics(tiny_run: Path, tmp_path: Path) -> None:
    external = tmp_path / "external" / "lesion"
    external.mkdir(parents=True)
    for source in sorted((tiny_run.parent / "phantoms" / "lesion").glob("*.png"))[:8]:
        shutil.copy(source, external / source.name)
    shutil.copy(external / "phantom_0000.png", external / "phantom_0000_mask_1.png")
    out = tmp_path / "report"
    code, output = _evaluate(
        str(tiny_run), str(tmp_path / "external"), "--split", "all", "--out", str(out), "--exclude", "*_mask*",
        "--threads", "1",
    )  # fmt: skip
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["n"] == 8  # the excluded file is not evaluated
    assert report["metrics"]["roc_auc"] is None and "undefined" in report["metrics"]["roc_auc_note"]
    assert report["metrics"]["sensitivity"] is not None
    assert report["extra"]["domain"]["checked"] == 8


def test_an_external_set_without_splits_is_evaluated_whole_and_class_names_match_in_any_case(
    tiny_run: Path, tmp_path: Path
) -> None:
    for name in ("normal", "lesion"):  # the model's classes, spelled as another site spells them
        folder = tmp_path / "external" / name.upper()
        folder.mkdir(parents=True)
        for source in sorted((tiny_run.parent / "phantoms" / name).glob("*.png"))[:5]:
            shutil.copy(source, folder / source.name)
    out = tmp_path / "report"
    code, output = _evaluate(str(tiny_run), str(tmp_path / "external"), "--out", str(out), "--threads", "1")
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["n"] == 10 and report["split"] == "all"
    assert report["metrics"]["accuracy"] > 0.5  # NORMAL read as normal, LESION as lesion


def test_the_training_data_given_by_its_path_is_evaluated_on_the_saved_test_split(tiny_run: Path) -> None:
    saved = json.loads((tiny_run / "splits.json").read_text())["assignment"]
    code, output = _evaluate(str(tiny_run), str(tiny_run.parent / "phantoms"), "--threads", "1")
    assert code == 0, output
    assert f"test set: {sum(v == 'test' for v in saved.values())} images" in output  # not all of it


def test_external_binary_masks_in_another_encoding_and_scale_are_evaluated_with_a_warning(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.tasks.segment.synthetic import write_2d_pairs

    run = train_tiny_segmentation_run(tmp_path_factory)  # trained on 32 px images with 0/255 masks
    external = write_2d_pairs(tmp_path / "ext", n=4, size=64, seed=3, mask_scale=1)  # 0/1 masks, twice the size
    out = tmp_path / "report"
    with caplog.at_level(logging.WARNING):
        code, output = _evaluate(str(run), str(external), "--split", "all", "--out", str(out))
    assert code == 0, output
    report = json.loads((out / "report.json").read_text())
    assert report["extra"]["domain"]["out_of_domain"] == 4
    assert "outside the model's training domain" in caplog.text and "size 64x64" in caplog.text
    assert "mapped by rank of values (0 -> background, 1 -> foreground)" in caplog.text
    assert "mapped by rank" in report["extra"]["label_mapping"]
    # the pixel scale: one warning naming the files and the factor to try; --scale 0.5 applies it
    assert "4 of 4 input(s) are at about 2x the training images' resolution" in caplog.text
    assert "case_00.png (64x64 px, structures" in caplog.text and "Rerun with --scale 0.5" in caplog.text
    assert report["extra"]["scale"]["suggested_scale"] == 0.5
    caplog.clear()
    rescaled = tmp_path / "rescaled"
    with caplog.at_level(logging.WARNING):
        code, output = _evaluate(str(run), str(external), "--split", "all", "--out", str(rescaled), "--scale", "0.5")
    assert code == 0, output
    scaled = json.loads((rescaled / "report.json").read_text())
    assert "--scale" not in caplog.text and "outside the model's training domain" not in caplog.text
    assert scaled["extra"]["domain"]["out_of_domain"] == 0  # judged at the size the network sees
    assert scaled["extra"]["scale"] == {
        "scale": 0.5, "checked": 4, "differing": 0, "examples": [], "suggested_scale": None, "other_field_of_view": 0
    }  # fmt: skip
    assert scaled["metrics"]["dice_mean"] != report["metrics"]["dice_mean"]
    assert [c["case_id"] for c in scaled["cases"]] == [c["case_id"] for c in report["cases"]]
    # predicted masks come back at the input's native size
    code, _, output = _predict(str(run), str(external / "images"), "--scale", "0.5", "--out", str(tmp_path / "p"))
    assert code == 0, output
    masks = sorted((tmp_path / "p").rglob("*_mask.png"))
    assert len(masks) == 4 and all(Image.open(m).size == (64, 64) for m in masks)
    from medimg.errors import OutOfDomainError

    strict = CliRunner().invoke(app, ["evaluate", str(run), str(external), "--split", "all", "--strict"])
    assert isinstance(strict.exception, OutOfDomainError)  # the CLI's main prints it as one error line, exit 2


def test_ambiguous_external_masks_name_the_file_and_the_fix(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from medimg.errors import DatasetError
    from tests.tasks.segment.synthetic import write_2d_pairs

    run = train_tiny_segmentation_run(tmp_path_factory)  # binary, 0/255 masks
    external = write_2d_pairs(tmp_path / "ext", n=2, size=32, seed=4, mask_scale=255)
    mask = np.asarray(Image.open(external / "masks" / "case_01.png")).copy()
    mask[:4, :4] = 128  # a third value: 0/128/255 is three classes for a two-class run
    Image.fromarray(mask).save(external / "masks" / "case_01.png")
    result = CliRunner().invoke(app, ["evaluate", str(run), str(external), "--split", "all"])
    assert isinstance(result.exception, DatasetError)
    message = str(result.exception)
    assert "case_01.png" in message and "values 0, 128, 255" in message and "--mask-labels" in message
    out = tmp_path / "report"
    labels = "0=background,128=ignore,255=foreground"
    code, output = _evaluate(str(run), str(external), "--split", "all", "--out", str(out), "--mask-labels", labels)
    assert code == 0, output
    assert "mask labels" in json.loads((out / "report.json").read_text())["extra"]["label_mapping"]


def test_fit_prints_the_check_findings_and_strict_refuses_them(phantom_dir: Path, tmp_path: Path) -> None:
    from medimg.errors import DatasetError
    from tests.test_end_to_end import quick_fit_args

    lesion = phantom_dir / "lesion"
    pixels = np.asarray(Image.open(lesion / "phantom_0000.png"))
    Image.fromarray(np.where(pixels > pixels.mean(), 255, 0).astype(np.uint8)).save(lesion / "phantom_0000_mask_1.png")
    strict = CliRunner().invoke(app, [*quick_fit_args(phantom_dir, tmp_path / "strict", epochs=1), "--strict"])
    assert isinstance(strict.exception, DatasetError) and "--strict refuses" in str(strict.exception)
    assert "check: warning: 1 file(s) are label maps" in strict.output and "*_mask_1.png" in strict.output
    assert not (tmp_path / "strict" / "model.pt").exists()
    trained = CliRunner().invoke(app, quick_fit_args(phantom_dir, tmp_path / "run", epochs=1))
    assert trained.exit_code == 0, trained.output
    assert "check: warning: 1 file(s) are label maps" in trained.output and "training anyway" in trained.output


def test_a_multi_page_tiff_among_2d_images_is_left_out_with_the_reason(phantom_dir: Path, tmp_path: Path) -> None:
    from tests.test_end_to_end import quick_fit_args

    pages = [Image.fromarray(np.full((32, 32), 40 * k, dtype=np.uint8)) for k in range(3)]
    stack = phantom_dir / "lesion" / "scan stack.tif"
    pages[0].save(stack, save_all=True, append_images=pages[1:])
    checked = CliRunner().invoke(app, ["check", str(phantom_dir)])
    assert checked.exit_code == 1
    assert "scan stack.tif: a 3D image (3 x 32 x 32, a multi-page file or volume) among 2D images" in checked.output
    trained = CliRunner().invoke(app, quick_fit_args(phantom_dir, tmp_path / "run", epochs=1))
    assert trained.exit_code == 0, trained.output
    assert "scan stack.tif: a 3D image" in trained.output
