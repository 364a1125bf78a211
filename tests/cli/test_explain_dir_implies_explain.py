"""`medimg predict RUN IMAGES --explain-dir DIR` without `--explain` wrote no overlay and no `overlay` column,
silently, while `--explain-method` and `--explain-class` each imply `--explain`: a user who named the folder for the
overlays found it missing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medimg.cli.app import app
from tests.serve.support import train_tiny_run


def test_naming_the_overlay_folder_asks_for_the_overlays(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    run = train_tiny_run(tmp_path_factory)
    image = next((run.parent / "phantoms").rglob("*.png"))
    out, overlays = tmp_path / "preds.csv", tmp_path / "overlays"
    result = CliRunner().invoke(
        app, ["predict", str(run), str(image), "--out", str(out), "--explain-dir", str(overlays)]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    written = sorted(p.name for p in overlays.glob("*.png"))
    assert written == [f"0000_{image.stem}.gradcam.png"]
    (row,) = list(csv.DictReader(out.open(encoding="utf-8")))
    assert Path(row["overlay"]).name == written[0] and row["explained_class"]


def test_overlays_written_inside_the_input_folder_are_not_predicted_by_the_next_call(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """`predict RUN images/ --out images/preds.csv --explain` puts its overlays in images/explanations/ (the
    README's "beside --out"); the same command again predicted those heatmap pictures as patients' images, rows
    with confident labels among the real ones."""
    import shutil

    run = train_tiny_run(tmp_path_factory)
    images = tmp_path / "images"
    images.mkdir()
    for source in sorted((run.parent / "phantoms").rglob("*.png"))[:2]:
        shutil.copy(source, images / f"{source.parent.name}_{source.name}")
    out = images / "preds.csv"
    command = ["predict", str(run), str(images), "--out", str(out), "--explain"]
    for _ in range(2):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, (result.output, result.exception)
        sources = [row["source"] for row in csv.DictReader(out.open(encoding="utf-8"))]
        assert len(sources) == 2 and not any("explanations" in s for s in sources), sources
    assert len(list((images / "explanations").glob("*.png"))) == 4  # both calls' overlays, none replaced
