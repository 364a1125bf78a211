"""The service's per-image report as a radiologist reads it, built from hand-made runs' test reports and report
rows (no model): the operating point a two-class model decides at, an out-of-domain upload's headline and FHIR
conclusion code, a segmentation model's distances with their unit, and which trained weights made the report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from medimg.serve import model_card
from medimg.serve.reports import report_fhir, report_html, report_json
from medimg.serve.storage import ReportRow
from tests.serve.support import report_row

_SHA = "9864640f7179864c047ec4c256867abe7d875f80c57105ca94602341ffa06e45"


def _row(**fields: Any) -> ReportRow:
    """A hand-made report row predicting "lesion" at 0.548, the weights named by ``_SHA``."""
    lesion = {
        "label": "lesion",
        "label_index": 1,
        "confidence": 0.548,
        "probabilities": {"normal": 0.452, "lesion": 0.548},
        "model_info": {"network": "simple-cnn", "class_names": ["normal", "lesion"], "weights_sha256": _SHA},
    }
    return report_row(**{**lesion, **fields})


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _run(tmp_path: Path, report: dict[str, Any]) -> Path:
    run = tmp_path / "run"
    (run / "report").mkdir(parents=True)
    (run / "report" / "report.json").write_text(json.dumps(report))
    return run


def _binary_report(rule: str, thresholds: list[dict[str, float]] | None) -> dict[str, Any]:
    training = {"train_images": 53, "val_images": 11}
    if thresholds is not None:
        training["binary_thresholds"] = thresholds  # type: ignore[assignment]
    return {
        "split": "test",
        "metrics": {"n": 11, "accuracy": 0.818, "sensitivity": 1.0, "specificity": 0.778, "positive_class": "lesion"},
        "confidence_intervals": {},
        "headline": ["accuracy", "sensitivity", "specificity"],
        "extra": {"plan": {"binary_threshold": rule}, "training": training},
    }


def test_a_binary_report_states_the_operating_point_folded_into_its_probabilities(tmp_path: Path) -> None:
    """A run trained with binary_threshold=youden serves probabilities relative to the threshold chosen on
    validation (0.103 on "lesion": 50% shown = 0.103 raw), but the report called them "the model's output" with
    "the class whose probability is above 50%" and never named the operating point."""
    performance = model_card.tested_performance(_run(tmp_path, _binary_report("youden", [{"lesion": 0.10297}])))
    assert performance is not None
    assert performance["operating_point"] == {"rule": "youden", "class": "lesion", "thresholds": [0.10297]}
    row = _row(model_info={**_row().model_info, "performance": performance})
    page = _text(report_html(row))
    assert "“lesion” when its raw probability is at least 0.103" in page
    assert "50% here is the threshold" in page
    about = page.split("About the model", 1)[1]
    assert "deciding at the operating point chosen on the validation split (youden" in about
    fhir = report_fhir(row)
    assert "raw probability is at least 0.103" in fhir["conclusion"]


def test_an_argmax_binary_report_states_no_tuned_operating_point(tmp_path: Path) -> None:
    performance = model_card.tested_performance(_run(tmp_path, _binary_report("argmax", None)))
    assert performance is not None and "operating_point" not in performance
    page = _text(report_html(_row(model_info={**_row().model_info, "performance": performance})))
    assert "raw probability" not in page
    assert "the class whose probability is above 50%" in page


def _blank_upload_row() -> ReportRow:
    """The report of a blank white upload, outside the training domain, called "normal" at 61.7%."""
    domain = {"in_domain": False, "reasons": ["a blank image (every pixel is 255)"]}
    return _row(
        label="normal",
        label_index=0,
        confidence=0.617,
        probabilities={"normal": 0.617, "lesion": 0.383},
        input_info={"format": "png", "shape": [1, 32, 32], "domain": domain},
    )


def test_an_out_of_domain_upload_is_not_headlined_or_coded_as_a_plain_finding() -> None:
    """A blank white image got "Prediction: normal (61.7%)" as the page's headline and conclusionCode "normal" in
    FHIR, the out-of-domain warning only in a box below and in the conclusion's free text."""
    row = _blank_upload_row()
    page = report_html(row)
    headline = _text(page.split('<p class="headline">', 1)[1].split("</p>", 1)[0])
    assert "normal" in headline and "outside the model's training domain" in headline
    code = report_fhir(row)["conclusionCode"][0]["text"]
    assert code != "normal" and "outside the model's training domain" in code
    inside = report_fhir(_row())["conclusionCode"][0]["text"]
    assert inside == "lesion"


def test_the_report_json_names_an_out_of_domain_upload_among_its_caveats() -> None:
    """A client of the JSON API reading the prediction and its caveats got "normal" at 61.7% with no caveat for a
    blank white image; the out-of-domain warning was only in a separate "domain" object the printed report and the
    page turn into words."""
    row = _blank_upload_row()
    caveats = report_json(row)["caveats"]
    assert caveats and "outside the model's training domain (a blank image (every pixel is 255))" in caveats[0]
    assert not any("training domain" in text for text in report_json(_row())["caveats"])


def test_a_segmentation_model_card_gives_distances_with_their_unit_and_counts_cases(tmp_path: Path) -> None:
    """The page read "hd95 mean 5.316 (4.000-6.632), assd mean 2.059": pixels or mm was not said (the evaluation
    report says px without spacing, mm with), and a segmentation run's training size (train_cases) was left out."""
    report = {
        "split": "test",
        "metrics": {"n": 2, "dice_mean": 0.619, "hd95_mean": 5.316, "assd_mean": 2.059},
        "confidence_intervals": {"hd95_mean": {"low": 4.0, "high": 6.632}},
        "headline": ["dice_mean", "hd95_mean", "assd_mean"],
        "extra": {"spacing_known": False},
    }
    run = _run(tmp_path, report)
    info = {
        "training_counts": model_card.training_counts({"train_cases": 8, "val_cases": 2}),
        "performance": model_card.tested_performance(run),
    }
    text = model_card.performance_text(info) or ""
    assert text.startswith("Trained on 8 cases (2 more for validation).")
    assert "mean Dice 0.619" in text
    assert "mean HD95 5.316 px (4.000-6.632)" in text and "mean surface distance 2.059 px" in text
    report["extra"] = {"spacing_known": True}
    (run / "report" / "report.json").write_text(json.dumps(report))
    info["performance"] = model_card.tested_performance(run)
    assert "mean HD95 5.316 mm" in (model_card.performance_text(info) or "")


def test_the_report_names_the_weights_that_made_it() -> None:
    """Two trainings of one network gave reports alike: the page named only "run (simple-cnn)" and the FHIR Device's
    version was the network's name; the weights' SHA-256 (stored with every report) was shown nowhere."""
    row = _row()
    assert "sha256 9864640f7179" in _text(report_html(row))
    versions = report_fhir(row)["contained"][0]["version"]
    assert {"type": {"text": "weights SHA-256"}, "value": _SHA} in versions
    assert any(v["value"] == "simple-cnn" for v in versions)


def test_the_heatmap_caption_says_its_colours_are_scaled_per_image() -> None:
    """Every map is scaled to its own maximum (a weak, uncertain prediction still has red), but the caption said only
    "red = strongest evidence", with no colour scale beside the picture."""
    row = _row(explain_method="gradcam", heatmap_png=b"\x89PNG", overlay_png=b"\x89PNG", explained_class="lesion")
    caption = _text(report_html(row).split("<figcaption>")[-1].split("</figcaption>")[0])
    assert "blue (none) to red" in caption and "scaled per image" in caption and "not how certain" in caption


def _rgba_png(alpha: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[..., 2] = 128
    pixels[2:4, 2:4, 3] = alpha
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_empty_heatmap_is_said_to_be_empty_not_shown_as_a_plain_picture() -> None:
    """A youden-tuned phantom model's Grad-CAM map for "lesion" held no heat at all: the service's overlay was the
    bare image under the caption "gradcam heatmap for “lesion”", read as "no region looks like a lesion" (the
    server's log alone said the map was empty and not evidence of absence)."""

    empty = _row(explain_method="gradcam", heatmap_png=_rgba_png(0), overlay_png=_rgba_png(0), explained_class="lesion")
    caption = _text(report_html(empty).split("<figcaption>")[-1].split("</figcaption>")[0])
    assert "empty" in caption and "not evidence that the finding is absent" in caption
    assert report_json(empty)["explanation"]["empty"] is True
    hot = _row(explain_method="gradcam", heatmap_png=_rgba_png(200), overlay_png=_rgba_png(0), explained_class="lesion")
    assert "empty" not in _text(report_html(hot).split("<figcaption>")[-1])
    assert report_json(hot)["explanation"]["empty"] is False


def test_a_negative_call_from_a_model_that_missed_its_positive_test_images_is_flagged() -> None:
    """An imbalanced run (60 normal, 15 lesion) at argmax called all its test lesions normal (sensitivity 0.000);
    its service report headlined "Prediction: normal (87.8%)" with the 0.000 only inside the model-card sentence."""
    performance = {
        "split": "test",
        "n": 11,
        "positive_class": "lesion",
        "metrics": {"sensitivity": {"value": 0.0, "low": 0.0, "high": 0.658}, "specificity": {"value": 1.0}},
    }
    info = {**_row().model_info, "performance": performance}
    row = _row(label="normal", label_index=0, confidence=0.878, probabilities={"normal": 0.878, "lesion": 0.122})
    row.model_info = info
    page = _text(report_html(row))
    assert "Weak evidence." in page and "called only 0% of the “lesion” images “lesion” (sensitivity 0.000)" in page
    assert "do not rule “lesion” out" in report_fhir(row)["conclusion"]
    called_lesion = _row(model_info=info)  # a "lesion" call: specificity 1.0, nothing to flag
    assert "Weak evidence" not in _text(report_html(called_lesion))


def test_a_run_without_a_test_split_still_states_its_operating_point(tmp_path: Path) -> None:
    """The operating point was read from the run's test report only: a youden-tuned run trained on every image
    (no test split, no report) served probabilities relative to its threshold without a word of it."""
    from medimg import Model
    from medimg.data.synthetic import make_phantom_dataset
    from tests.serve.support import service_client

    data = make_phantom_dataset(tmp_path / "phantoms", n_per_class=20, size=32, seed=1)
    run = tmp_path / "run"
    Model("simple-cnn").fit(
        data,
        run_dir=run,
        epochs=2,
        seed=0,
        test_fraction=0.0,
        binary_threshold="youden",
        progress=False,
        tensorboard=False,
    )
    assert not (run / "report" / "report.json").exists()
    with service_client(run, tmp_path / "reports.db") as (client, headers):
        image = sorted((data / "lesion").glob("*.png"))[0]
        posted = client.post(
            "/v1/predictions", headers=headers, files={"file": ("x.png", image.read_bytes(), "image/png")}
        )
        assert posted.status_code == 201, posted.text
        page = _text(client.get(f"/v1/reports/{posted.json()['id']}?format=html", headers=headers).text)
    assert "when its raw probability is at least" in page and "50% here is the threshold" in page


def test_the_page_calls_a_probability_a_probability(deploy_run: Path, tmp_path: Path) -> None:
    """The history table's column of the predicted class's probability was headed "Confidence"."""
    from tests.serve.support import service_client

    with service_client(deploy_run, tmp_path / "reports.db") as (client, _):
        page = client.get("/").text
    assert ">Probability</th>" in page and ">Confidence</th>" not in page


def test_organ_volumes_read_as_numbers_with_millilitres() -> None:
    """A liver of 1,523,400 mm³ was written "1.523e+06 mm³" (and a kidney "4.56e+04 mm³"), in the headline and the
    table: now plain numbers, with millilitres beside volumes of 1 mL or more."""
    from medimg.serve.reports import size_text

    volume = {"measure": "volume_mm3", "size_unit": "mm3", "count_unit": "voxel"}
    assert size_text({"count": 190425, "volume_mm3": 1523400.0}, volume) == "1,523,400 mm³ = 1,523 mL (190,425 voxels)"
    assert size_text({"count": 5700, "volume_mm3": 45600.0}, volume) == "45,600 mm³ = 45.6 mL (5,700 voxels)"
    assert size_text({"count": 20, "volume_mm3": 20.0}, volume) == "20 mm³ (20 voxels)"
    area = {"measure": "area_mm2", "size_unit": "mm2", "count_unit": "pixel"}
    assert size_text({"count": 1234, "area_mm2": 56.71}, area) == "56.71 mm² (1,234 pixels)"
