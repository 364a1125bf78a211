"""Predicting offline into a folder used before: the files beside the predictions are this batch's own."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from medimg.cli.app import app
from medimg.errors import ConfigError


def test_a_batch_without_failures_leaves_no_earlier_failed_table_beside_its_predictions(
    deploy_run: Path, tmp_path: Path
) -> None:
    """`predict ... --out preds.csv` lists unusable files in preds.failed.csv; the next batch into the same --out
    with no unusable file left the old table there, read as this batch's failures."""
    good = deploy_run.parent / "phantoms" / "lesion" / "phantom_0000.png"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    out = tmp_path / "preds.csv"
    runner = CliRunner()
    first = runner.invoke(app, ["predict", str(deploy_run), str(good), str(broken), "--out", str(out)])
    assert first.exit_code == 1 and (tmp_path / "preds.failed.csv").exists(), first.output
    second = runner.invoke(app, ["predict", str(deploy_run), str(good), "--out", str(out)])
    assert second.exit_code == 0, second.output
    assert not (tmp_path / "preds.failed.csv").exists()
    assert out.read_text().count("\n") == 2  # header and the one image


def test_an_out_named_as_a_spreadsheet_is_refused_naming_the_csv(tmp_path: Path) -> None:
    """`--out preds.xlsx` wrote JSON text into preds.xlsx (Excel: "the file format or extension is not valid")."""
    out = tmp_path / "preds.xlsx"
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "run"), str(tmp_path), "--out", str(out)])
    assert isinstance(result.exception, ConfigError) and not out.exists(), result.output
    assert str(result.exception).endswith(f"a spreadsheet opens the CSV: --out {tmp_path / 'preds.csv'}")
