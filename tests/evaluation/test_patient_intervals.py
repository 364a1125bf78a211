"""Intervals count patients when the cases name them, and never collapse to a zero-width interval on a tiny or
perfectly classified test set."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from medimg.evaluation.bootstrap import bootstrap_ci, headline_cis, wilson_interval
from medimg.evaluation.paired import delong_test, paired_bootstrap
from medimg.evaluation.report import build_classification_report, write_predictions_csv

NAMES = ["normal", "tumour"]


def _onehot(y: np.ndarray, right: float = 0.9) -> np.ndarray:
    return np.where(y[:, None] == np.arange(2), right, 1 - right)


def _three_patients() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The tester's test split: 4 images of one tumour patient, 4 of each of two normal patients, all right."""
    y = np.array([1] * 4 + [0] * 8)
    return y, _onehot(y), ["P13"] * 4 + ["P16"] * 4 + ["P18"] * 4


def test_intervals_count_patients_not_images() -> None:
    """12 images of 3 patients: the Wilson intervals were those of 12 independent images (accuracy 0.758-1.000,
    sensitivity 0.510-1.000 from ONE tumour patient); counting patients they are Wilson's 3/3 and 1/1."""
    y, p, patients = _three_patients()
    cis = headline_cis(y, p, NAMES, n_resamples=200, groups=patients)
    assert cis["accuracy"]["low"] == pytest.approx(wilson_interval(3, 3)[0])  # 0.438
    assert cis["sensitivity"]["low"] == pytest.approx(wilson_interval(1, 1)[0])  # 0.207
    assert cis["specificity"]["low"] == pytest.approx(wilson_interval(2, 2)[0])
    assert {e["unit"] for e in cis.values()} == {"patient"} and {e["n_units"] for e in cis.values()} == {3}
    plain = headline_cis(y, p, NAMES, n_resamples=200)
    assert plain["accuracy"]["low"] == pytest.approx(0.7575, abs=1e-4) and plain["accuracy"]["unit"] == "image"
    for name in ("balanced_accuracy", "roc_auc"):  # wider by patients than by images
        assert cis[name]["low"] < plain[name]["low"] - 0.1, name


def test_one_image_per_patient_is_the_independent_case() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    p = _onehot(y, 0.7)
    p[:8] = p[:8, ::-1]
    ids = [f"P{i}" for i in range(40)]
    assert headline_cis(y, p, NAMES, n_resamples=100, groups=ids) == headline_cis(y, p, NAMES, n_resamples=100)


def test_copies_of_each_patient_give_the_intervals_of_the_patients() -> None:
    """Every case copied 4 times as images of its patient: the cluster bootstrap and the clustered DeLong test
    give what the original cases give (the copies add no information); by images they are far too narrow."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 30)
    a = y + rng.normal(0, 1.0, 30)
    b = y + rng.normal(0, 1.5, 30)
    pa = np.stack([1 / (1 + np.exp(a)), 1 / (1 + np.exp(-a))], 1)
    pb = np.stack([1 / (1 + np.exp(b)), 1 / (1 + np.exp(-b))], 1)
    rep = np.repeat(np.arange(30), 4)
    ids = [f"P{i}" for i in rep]
    one = delong_test(y, a, b)
    copies = delong_test(y[rep], a[rep], b[rep], groups=ids)
    assert copies.method == "delong-clustered" and copies.details["n_units"] == 30
    assert (copies.low, copies.high, copies.p_value) == pytest.approx((one.low, one.high, one.p_value))
    naive = delong_test(y[rep], a[rep], b[rep])
    assert naive.high - naive.low < 0.6 * (one.high - one.low)
    boot = paired_bootstrap(y[rep], pa[rep], pb[rep], n_resamples=300, groups=ids)
    assert (boot.low, boot.high, boot.p_value) == pytest.approx(
        (lambda t: (t.low, t.high, t.p_value))(paired_bootstrap(y, pa, pb, n_resamples=300))
    )
    assert bootstrap_ci(y[rep], pa[rep], "f1_macro", n_resamples=300, groups=ids) == pytest.approx(
        bootstrap_ci(y, pa, "f1_macro", n_resamples=300)
    )


def test_clustered_intervals_cover_new_patients() -> None:
    """Simulated patients with a strong patient effect (4 images each): intervals by patient hold the true
    accuracy and AUC about 95% of the time; by images far less often."""
    rng = np.random.default_rng(0)

    def draw(patients: int, images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        label = np.repeat(rng.integers(0, 2, patients), images)
        score = label + np.repeat(rng.normal(0, 1.2, patients), images) + rng.normal(0, 0.5, patients * images)
        prob = 1 / (1 + np.exp(-(score - 0.5) * 2))
        return label, np.stack([1 - prob, prob], 1), np.repeat(np.arange(patients), images)

    truth = {"accuracy": 0.6494, "roc_auc": 0.7060}  # from 200,000 patients of the same model
    hits = {"patient": dict.fromkeys(truth, 0), "image": dict.fromkeys(truth, 0)}
    trials = 0
    while trials < 120:
        y, p, ids = draw(20, 4)
        if len(set(y.tolist())) < 2:
            continue
        trials += 1
        for unit, groups in (("patient", ids), ("image", None)):
            cis = headline_cis(y, p, NAMES, n_resamples=20, groups=groups)
            for name, value in truth.items():
                hits[unit][name] += cis[name]["low"] <= value <= cis[name]["high"]
    for name in truth:
        assert hits["patient"][name] / trials > 0.88, (name, hits)
        assert hits["image"][name] / trials < 0.82, (name, hits)


@pytest.mark.parametrize("n_normal", [1, 4])
def test_no_zero_width_interval_on_a_tiny_perfect_test_set(n_normal: int) -> None:
    """2 (or 5) images all right: balanced accuracy, ROC AUC and F1 said '1.000 (95% CI 1.000-1.000)'."""
    y = np.array([0] * n_normal + [1])
    cis = headline_cis(y, _onehot(y), NAMES, n_resamples=200)
    for name, entry in cis.items():
        assert entry["value"] == 1.0
        if entry["low"] is None:  # F1 (bootstrap): no interval, and the entry says why
            why = "2 images are too few" if n_normal == 1 else "every bootstrap resample"
            assert name == "f1_macro" and why in entry["note"]
        else:
            assert entry["low"] < 0.8, (name, entry)
    assert cis["roc_auc"]["method"] == "newcombe" and cis["balanced_accuracy"]["method"] == "mover-wilson"
    if n_normal == 1:  # 1 positive, 1 negative: the AUC's score interval is Wilson's 1 of 1
        assert cis["roc_auc"]["low"] == pytest.approx(wilson_interval(1, 1)[0])
        assert cis["balanced_accuracy"]["low"] == pytest.approx(1 - math.sqrt(2) * (1 - 0.20655) / 2, abs=1e-4)


def test_score_intervals_match_the_bootstrap_on_a_large_set() -> None:
    """Away from the edge the score intervals agree with the percentile bootstrap."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    s = y + rng.normal(0, 1.2, 400)
    prob = 1 / (1 + np.exp(-s + 0.5))
    p = np.stack([1 - prob, prob], 1)
    cis = headline_cis(y, p, NAMES, n_resamples=1000)
    for name in ("roc_auc", "balanced_accuracy"):
        low, high = bootstrap_ci(y, p, name, n_resamples=1000)
        assert cis[name]["low"] == pytest.approx(low, abs=0.015) and cis[name]["high"] == pytest.approx(high, abs=0.015)


def test_report_names_the_patients(tmp_path) -> None:
    y, p, patients = _three_patients()
    report = build_classification_report(
        y, p, NAMES, split="test", model_name="m", dataset_name="d", patient_ids=patients, n_resamples=100
    )
    assert report.metrics["n_patients"] == 3
    assert report.predictions is not None and report.predictions[0]["patient_id"] == "P13"
    page = report.to_html()
    assert "12 images from 3 patients: the intervals count patients, not images" in page
    assert "plausibly take on another sample" not in page and "new patients" in page
    assert ("Patients", 3) in report.meta_items()
    with open(write_predictions_csv(report.predictions, tmp_path / "p.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["patient_id"] == "P13"
    plain = build_classification_report(y, p, NAMES, split="test", model_name="m", dataset_name="d", n_resamples=50)
    assert plain.metrics["n_patients"] is None and "no patient ids: taken as independent" in plain.to_html()
    assert "patient_id" not in plain.predictions[0]  # type: ignore[index]


def test_segmentation_mean_ci_resamples_patients() -> None:
    """Dice of 10 patients, each scored on 4 slices alike: the interval is that of the 10 patients (by slices it
    was half as wide)."""
    from medimg.tasks.segment.metrics import mean_ci

    dice = list(np.random.default_rng(2).uniform(0.5, 0.95, 10))
    rep = np.repeat(np.arange(10), 4)
    copies = [dice[i] for i in rep] + [math.nan]  # a NaN case (class absent from both) is left out with its id
    ids = [f"P{i}" for i in rep] + ["P99"]
    by_patient = mean_ci(copies, n_resamples=400, groups=ids)
    one = mean_ci(dice, n_resamples=400)
    assert by_patient["unit"] == "patient" and by_patient["n_units"] == 10 and by_patient["n"] == 40
    assert (by_patient["low"], by_patient["high"]) == pytest.approx((one["low"], one["high"]))
    naive = mean_ci(copies, n_resamples=400)
    assert naive["high"] - naive["low"] < 0.6 * (one["high"] - one["low"])


def test_segmentation_mean_of_equal_values_has_no_zero_width_interval() -> None:
    """Three test images of one HD95 read "hd95_mean 2.2361 (95% CI 2.236-2.236)": certainty from 3 images. As
    classification's, no interval and a note saying why."""
    from medimg.evaluation.report import interval_text
    from medimg.tasks.segment.metrics import mean_ci

    equal = mean_ci([math.sqrt(5)] * 3, n_resamples=200)
    assert equal["value"] == pytest.approx(2.2361, abs=1e-4) and equal["low"] is None and equal["high"] is None
    assert interval_text(equal).startswith("no 95% CI: every bootstrap resample of the 3 images gives 2.236")
    spread = mean_ci([1.0, 2.0, 3.0, 4.0], n_resamples=200)
    assert spread["low"] < spread["value"] < spread["high"] and "note" not in spread


def test_multilabel_intervals_resample_patients() -> None:
    from medimg.evaluation.multilabel import multilabel_cis

    rng = np.random.default_rng(4)
    findings = rng.integers(0, 2, (30, 2))
    prob = np.clip(findings * 0.6 + rng.uniform(0, 0.4, (30, 2)), 0, 1)
    rep = np.repeat(np.arange(30), 3)
    one = multilabel_cis(findings, prob, ["a", "b"], n_resamples=200)
    copies = multilabel_cis(findings[rep], prob[rep], ["a", "b"], n_resamples=200, groups=[f"P{i}" for i in rep])
    assert copies["macro_auc"]["unit"] == "patient" and copies["macro_auc"]["n_units"] == 30
    assert (copies["macro_auc"]["low"], copies["macro_auc"]["high"]) == pytest.approx(
        (one["macro_auc"]["low"], one["macro_auc"]["high"])
    )


def test_too_few_patients_give_no_bootstrap_interval() -> None:
    """A segmentation Dice 'interval by patient' from 2 patients was exactly their two means (0.864-0.909), narrower
    than the 8 images' own spread: resampling 2 patients only reshuffles them. Under MIN_PATIENTS: no interval."""
    from medimg.evaluation.bootstrap import MIN_PATIENTS, bootstrap_entry
    from medimg.tasks.segment.metrics import mean_ci

    dice = [0.85, 0.88, 0.87, 0.86, 0.90, 0.91, 0.92, 0.90]
    two = mean_ci(dice, n_resamples=200, groups=["a"] * 4 + ["b"] * 4)
    assert two["low"] is None and "2 patients are too few" in two["note"]
    many = mean_ci(dice, n_resamples=200, groups=list("abcdefgh"))
    assert many["low"] is not None and "note" not in many
    entry = bootstrap_entry(np.linspace(0.5, 0.9, 50), 0.95, "f1", MIN_PATIENTS - 1, "patient")
    assert entry["low"] is None and "too few" in entry["note"]
    assert bootstrap_entry(np.linspace(0.5, 0.9, 50), 0.95, "f1", 3, "image")["low"] is not None
    # two images without patients: their resampled means lie between the two values (a Dice "0.382-0.382")
    assert "2 images are too few" in bootstrap_entry(np.linspace(0.5, 0.9, 50), 0.95, "f1", 2, "image")["note"]
    assert "2 images are too few" in mean_ci([0.38, 0.39], n_resamples=200)["note"]
    assert "1 image is too few" in bootstrap_entry(np.linspace(0.5, 0.9, 50), 0.95, "f1", 1, "image")["note"]
