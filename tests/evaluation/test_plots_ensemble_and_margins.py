"""Figures a user looks at: an ensemble's training curves show every network (they showed the first only, with
no word of the others), and no axis label is cut at the figure's edge (a 7-class Herlev confusion matrix lost the
"T" of "True class" behind its long class names)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image
from tests.serve.support import chromium

from medimg.evaluation import plots
from medimg.evaluation.training_curves import read_history

HERLEV = [
    "carcinoma_in_situ",
    "light_dysplastic",
    "moderate_dysplastic",
    "normal_columnar",
    "normal_intermediate",
    "normal_superficiel",
    "severe_dysplastic",
]


def test_no_label_of_a_confusion_matrix_with_long_class_names_touches_the_edge(tmp_path: Path) -> None:
    counts = np.random.default_rng(0).integers(0, 20, (7, 7))
    path = plots.plot_confusion_matrix(counts, HERLEV, tmp_path / "cm.png")
    pixels = np.asarray(Image.open(path).convert("L"))
    border = np.concatenate([pixels[:3].ravel(), pixels[-3:].ravel(), pixels[:, :3].ravel(), pixels[:, -3:].ravel()])
    assert border.min() > 240  # white margins all round: nothing drawn was cut off


def _drawn(monkeypatch: pytest.MonkeyPatch, history: list[dict[str, Any]], tmp_path: Path) -> Figure:
    figures: list[Figure] = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figures.append(fig), save(fig, path))[1])
    plots.plot_training_curves(history, tmp_path / "curves.png")
    return figures[0]


def test_an_ensembles_curves_show_each_network_one_after_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    history = [{"epoch": e, "network": 1, "train_loss": 1.0 / e, "val_auc": 0.8, "lr": 1e-3} for e in (1, 2, 3)]
    history += [{"epoch": e, "network": 2, "train_loss": 0.9 / e, "val_auc": 0.7, "lr": 1e-3} for e in (1, 2)]
    fig = _drawn(monkeypatch, history, tmp_path)
    loss_axis = fig.axes[0]
    lines = [line for line in loss_axis.get_lines() if line.get_linestyle() == "--"]  # train_loss, not the separator
    assert [list(line.get_xdata()) for line in lines] == [[1.0, 2.0, 3.0], [4.0, 5.0]]
    assert lines[0].get_color() == lines[1].get_color()
    assert [t.get_text() for t in loss_axis.get_legend().get_texts()] == ["train_loss"]
    assert [t.get_text().strip() for t in loss_axis.texts] == ["network 1", "network 2"]
    assert "networks one after another" in fig.axes[-1].get_xlabel()


def test_a_single_networks_curves_are_drawn_by_epoch_as_before(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_auc": 0.8} for e in (1, 2, 3)]
    fig = _drawn(monkeypatch, history, tmp_path)
    assert [list(line.get_xdata()) for line in fig.axes[0].get_lines()] == [[1.0, 2.0, 3.0]]
    assert not fig.axes[0].texts and fig.axes[-1].get_xlabel() == "Epoch"


def test_the_history_of_an_ensemble_run_holds_every_members_epochs(tmp_path: Path) -> None:
    (tmp_path / "member_1").mkdir()
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps({"epoch": e, "val_auc": 0.9}) for e in (1, 2)))
    (tmp_path / "member_1" / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "val_auc": 0.8}) + "\n")
    rows = read_history(tmp_path)
    assert [(r["network"], r["epoch"]) for r in rows] == [(1, 1), (1, 2), (2, 1)]
    (tmp_path / "member_1" / "metrics.jsonl").unlink()
    assert read_history(tmp_path) == [{"epoch": 1, "val_auc": 0.9}, {"epoch": 2, "val_auc": 0.9}]


def _overflow(page_file: Path, selector: str) -> tuple[float, float, int]:
    """The right edge of ``selector`` and of ``main``, and the document's width, in Chromium at 1100 px."""
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(page_file.as_uri())
        box, main = page.locator(selector).bounding_box(), page.locator("main").bounding_box()
        assert box is not None and main is not None
        return box["x"] + box["width"], main["x"] + main["width"], page.evaluate("document.body.scrollWidth")


def test_the_html_confusion_matrix_of_seven_long_class_names_fits_the_page(tmp_path: Path) -> None:
    """Its column headers (CARCINOMA_IN_SITU...) did not wrap: the table ran 480 px past the page's right edge in a
    1100 px window, and a printed report lost its last columns. They now wrap after an underscore."""
    from medimg.evaluation.report import build_classification_report

    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 140)
    probabilities = rng.dirichlet(np.ones(7), 140)
    report = build_classification_report(
        y, probabilities, HERLEV, split="test", model_name="resnet18", dataset_name="herlev", n_resamples=50
    )
    table_edge, page_edge, width = _overflow(report.save_html(tmp_path / "report.html"), "table.confusion")
    assert table_edge <= page_edge and width <= 1100


def test_a_table_of_many_numeric_columns_wraps_its_headers_to_fit_the_page(tmp_path: Path) -> None:
    """A segmentation report's per-class table (Dice, IoU, HD95, average surface distance (mm), ... Dice 95% CI)
    kept every numeric header on one line and ran 280 px past the page."""
    from medimg.evaluation.html import CSS, Column, table

    titles = ["Dice (mean)", "IoU (mean)", "HD95 (mm)", "Average surface distance (mm)", "Sensitivity (mean)"]
    titles += ["Precision (mean)", "Dice pooled over pixels", "Dice 95% CI"]
    columns = [Column("name", "Class", kind="text"), *(Column(f"c{k}", t) for k, t in enumerate(titles))]
    rows = [{"name": f"class_{i}", **{f"c{k}": 0.8 for k in range(len(titles))}} for i in (1, 2)]
    page = tmp_path / "table.html"
    page.write_text(f"<html><head><style>{CSS}</style></head><body><main>{table(rows, columns)}</main></body></html>")
    table_edge, page_edge, width = _overflow(page, "table")
    assert table_edge <= page_edge and width <= 1100


def test_a_printed_report_puts_its_figures_two_abreast_and_packs_the_run_details(tmp_path: Path) -> None:
    """Printed, each figure took up to 15 cm on its own and the run details (plan and training summary as JSON) ran
    one value per line: a 7-class report was 8 A4 pages, a segmentation report 12. Now figures stand two abreast
    and the details run in three small columns (7 pages each)."""
    from medimg.evaluation.report import build_classification_report, write_report

    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 140)
    probabilities = rng.dirichlet(np.ones(7), 140)
    report = build_classification_report(
        y, probabilities, HERLEV, split="test", model_name="resnet18", dataset_name="herlev", n_resamples=50,
        extra={"plan": {f"field_{k}": k for k in range(60)}},
    )  # fmt: skip
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_auc": 0.8} for e in (1, 2, 3)]
    page_file = write_report(report, tmp_path, y_true=y, probabilities=probabilities, history=history)["html"]
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        page.goto(page_file.as_uri())
        curves = page.locator("section > figure").first.bounding_box()  # the Training section's one figure
        assert curves is not None and curves["width"] <= 720  # not the page's whole width (936 px)
        page.set_viewport_size({"width": 700, "height": 1000})
        page.emulate_media(media="print")
        first, second = (page.locator(".figures figure").nth(k).bounding_box() for k in (0, 1))
        assert first is not None and second is not None
        assert abs(first["y"] - second["y"]) < 1 and second["x"] > first["x"] + first["width"] - 1  # abreast
        columns = page.locator("table.details pre").first.evaluate("e => getComputedStyle(e).columnCount")
        assert columns == "3"
