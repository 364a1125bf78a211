"""``medimg compare``: the pair to test can be named, a pair picked on the test set says so, and the paired
tests count patients when the cases name them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from medimg.cli.compare import paired_tests, parse_pair
from medimg.errors import ConfigError
from medimg.evaluation.comparison import ComparisonRow, to_html

CLASSES = ["normal", "tumour"]


def _models() -> tuple[list[ComparisonRow], dict[str, dict[str, dict]]]:
    rng = np.random.default_rng(0)
    y = np.repeat(rng.integers(0, 2, 15), 3)  # 15 patients x 3 images
    patients = [f"P{i // 3}" for i in range(45)]
    rows, predictions = [], {}
    for name, noise, auc in (("cnn", 1.5, 0.70), ("lr", 0.6, 0.90), ("tree", 0.8, 0.85)):
        score = 1 / (1 + np.exp(-(y + rng.normal(0, noise, 45) - 0.5)))
        predictions[name] = {
            f"img{i}.png": {
                "true_label": CLASSES[y[i]],
                "probabilities": {"normal": 1 - score[i], "tumour": score[i]},
                "patient_id": patients[i],
            }
            for i in range(45)
        }
        rows.append(ComparisonRow(name, "x", "", 45, {"roc_auc": {"value": auc}}))
    return rows, predictions


def test_the_default_pair_says_it_was_chosen_on_the_test_set() -> None:
    """The two best test AUCs were tested on that same test set under 'Paired test of the two best models',
    with nothing saying the pair was picked there (and the deep model could never be tested)."""
    rows, predictions = _models()
    tests = paired_tests(rows, predictions, CLASSES, n_resamples=200, seed=0)
    assert {(t["model_a"], t["model_b"]) for t in tests} == {("lr", "tree")}
    assert all("chosen on the same test cases" in t["chosen"] and "--pair" in t["chosen"] for t in tests)
    page = to_html(rows, tests, title="t")
    assert "chosen on the same test cases" in page and "two best models" not in page


def test_a_named_pair_is_tested_and_counts_patients() -> None:
    rows, predictions = _models()
    pairs = [parse_pair("cnn,lr", ["cnn", "lr", "tree"]), parse_pair(" cnn , tree", ["cnn", "lr", "tree"])]
    tests = paired_tests(rows, predictions, CLASSES, n_resamples=200, seed=0, pairs=pairs)
    assert [(t["model_a"], t["model_b"]) for t in tests] == [("cnn", "lr")] * 3 + [("cnn", "tree")] * 3
    assert {t["method"] for t in tests} == {"delong-clustered", "paired-bootstrap"}
    assert {t["details"]["n_units"] for t in tests} == {15}
    assert all(t["chosen"] == "paired tests of the pairs named with --pair" for t in tests)


@pytest.mark.parametrize(
    ("text", "match"), [("cnn", "two different"), ("cnn,cnn", "two different"), ("cnn,lrr", "Did you mean 'lr'")]
)
def test_bad_pairs_are_clear_errors(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_pair(text, ["cnn", "lr", "tree"])


def test_a_metric_without_an_interval_says_so_in_the_table() -> None:
    from medimg.evaluation.comparison import to_markdown

    row = ComparisonRow("m", "x", "", 2, {"f1_macro": {"value": 1.0, "low": None, "high": None, "note": "no interval"}})
    assert "1.000 [no CI]" in to_markdown([row])


def test_the_table_of_two_classes_names_the_class_of_sensitivity_and_specificity(tmp_path: Path) -> None:
    """Herlev grouped into normal / abnormal: the table's 'sensitivity 1.000, specificity 0.571' did not say of which
    class; abnormal (the second class) is the positive one."""
    from medimg.evaluation.comparison import write_comparison

    row = ComparisonRow("m", "x", "", 9, {"sensitivity": {"value": 1.0}, "specificity": {"value": 0.571}})
    paths = write_comparison([row], [], tmp_path, title="t", classes=["normal", "abnormal"])
    for kind in ("markdown", "html"):
        text = paths[kind].read_text()
        assert "sensitivity (abnormal)" in text and "specificity (normal)" in text, kind
    row.metrics["roc_auc"] = {"value": 0.9}
    heads = re.findall(r"<th>([^<]*)</th>", to_html([row], [], title="t", classes=["a_b", "c_d"]))
    assert {"ROC AUC", "sensitivity (c_d)", "specificity (a_b)"} <= set(heads), heads  # words; names as they are
    three = write_comparison([row], [], tmp_path / "three", title="t", classes=["a", "b", "c"])
    assert "sensitivity (" not in three["markdown"].read_text()  # macro averages: no one class
