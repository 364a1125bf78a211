"""The HTML toolkit: escaping, formatting, page structure, tables and embedded images."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest

from medimg.errors import MedimgError
from medimg.evaluation import html

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
EVIL = "<script>alert(\"x\")</script> & 'q'"


def test_escape_and_format_value() -> None:
    assert html.escape(EVIL) == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;"
    assert html.format_value(None) == "—"
    assert html.format_value(float("nan")) == "—" and html.format_value(np.float32("inf")) == "—"
    assert html.format_value(True) == "yes" and html.format_value(np.bool_(False)) == "no"
    assert html.format_value(12345) == "12,345" and html.format_value(np.int64(7)) == "7"
    assert html.format_value(0.91234) == "0.912" and html.format_value(2.5, 2) == "2.50"
    assert html.format_value("<b>") == "&lt;b&gt;"
    assert html.format_ci({"low": 0.1, "high": 0.25}) == "0.100 – 0.250"
    assert html.format_ci({"low": None, "high": 0.2}) == "—" and html.format_ci(None) == "—"
    assert html.ci_label(0.9) == "90% CI" and html.ci_label(None) == "95% CI"


def test_page_structure_is_self_contained_and_escaped() -> None:
    doc = html.page(
        EVIL,
        [html.section("Numbers <1>", html.paragraph("plain")), "", html.note(html.escape("careful"), title="Note")],
        meta=[("Model", "<m>"), ("Cases", 1200)],
        footer="made by <me>",
    )
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert doc.count("<title>") == 1 and doc.count("<h1>") == 1 and "<style>" in doc and "@media print" in doc
    assert "<script" not in doc.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)" in doc
    assert "<h2>Numbers &lt;1&gt;</h2>" in doc
    assert "<dt>Model</dt><dd>&lt;m&gt;</dd>" in doc and "<dd>1,200</dd>" in doc
    assert "<footer>made by &lt;me&gt;</footer>" in doc
    assert '<div class="callout"><strong>Note.</strong> careful</div>' in doc
    # order: header, section, note, footer
    positions = [doc.index(s) for s in ("<header>", "<section>", 'class="callout"', "<footer>")]
    assert positions == sorted(positions)
    assert "<dl" not in html.page("t", [])  # no meta grid without meta
    assert 'class="callout warning"' in html.note("x", warning=True)


def test_metrics_table_rows_notes_and_cis() -> None:
    out = html.metrics_table(
        [html.MetricRow("AUC <x>", 0.8, {"low": 0.7, "high": 0.9}, note="one class <only>"), html.MetricRow("n", None)],
        ci_label="90% CI",
    )
    assert '<th scope="col" class="num">90% CI</th>' in out
    assert "AUC &lt;x&gt;" in out and '<div class="note">one class &lt;only&gt;</div>' in out
    assert '<td class="num strong">0.800</td><td class="num">0.700 – 0.900</td>' in out
    assert '<td class="num strong">—</td><td class="num">—</td>' in out


def test_key_value_and_record_tables() -> None:
    kv = html.key_value_table({"time_s": 12.345678, "plan": {"size": [2, 3]}, "<k>": "<v>", "odd": [object()]})
    assert "<td>12.3457</td>" in kv and "&quot;size&quot;" in kv and "<pre>" in kv
    assert '<th scope="row">&lt;k&gt;</th><td>&lt;v&gt;</td>' in kv
    columns = [
        html.Column("case_id", "Case", kind="text", row_header=True),
        html.Column("dice", "Dice"),
        html.Column("hd95", "HD95", digits=1),
        html.Column("ci", "CI", kind="ci"),
    ]
    out = html.table(
        [{"case_id": "<c1>", "dice": 0.5, "hd95": float("nan"), "ci": {"low": 0.1, "high": 0.2}}, {"case_id": "c2"}],
        columns,
        caption="worst <first>",
        css_class="cases",
    )
    assert out.startswith('<table class="cases"><caption>worst &lt;first&gt;</caption>')
    assert '<th scope="col">Case</th><th scope="col" class="num">Dice</th>' in out
    assert '<tr><th scope="row">&lt;c1&gt;</th><td class="num">0.500</td><td class="num">—</td>' in out
    assert '<td class="num">0.100 – 0.200</td>' in out
    assert out.count("<tr>") == 3  # header + 2 rows


def test_matrix_table_shades_by_row_share() -> None:
    out = html.matrix_table([[3, 1], [0, 0]], ["a", "<b>"], ["a", "<b>"], corner="true / pred", caption="c")
    assert 'class="confusion"' in out and "&lt;b&gt;" in out and "true / pred" in out
    assert "3<span>75.0%</span>" in out and "0<span>0.0%</span>" in out
    assert "cm dark" in out  # 75% share is dark
    assert html.matrix_table([[1, 2]], ["a", "b"], ["a", "b"]) == ""


def test_figures_from_bytes_path_and_matplotlib(tmp_path: Path) -> None:
    src = re.search(r'src="([^"]+)"', html.figure(PNG, "ROC <curve>"))
    assert src and src.group(1).startswith("data:image/png;base64,")
    assert base64.b64decode(src.group(1).split(",", 1)[1]) == PNG
    assert 'alt="ROC &lt;curve&gt;"' in html.figure(PNG, "ROC <curve>")
    path = tmp_path / "f.png"
    path.write_bytes(PNG)
    assert html.figure(path, "c", alt="a").count("data:image/png") == 1
    svg = html.data_uri(b'<svg xmlns="http://www.w3.org/2000/svg"></svg>')
    assert svg.startswith("data:image/svg+xml;base64,")
    with pytest.raises(MedimgError, match="PNG or SVG"):
        html.figure(b"GIF89a", "x")
    with pytest.raises(MedimgError, match="cannot embed"):
        html.figure(tmp_path / "missing.png", "x")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
    ax.plot([0, 1], [0, 1])
    try:
        embedded = html.figure(fig, "line")
    finally:
        plt.close(fig)
    data = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", embedded).group(1))  # type: ignore[union-attr]
    assert data.startswith(b"\x89PNG")
    grid = html.figure_grid([embedded, embedded])
    assert grid.startswith('<div class="figures">') and grid.count("<figure>") == 2


def test_definition_list_escapes() -> None:
    out = html.definition_list([("A<b", "x & y")])
    assert out.startswith('<dl class="howto">') and "<dt>A&lt;b</dt>" in out and "<dd>x &amp; y</dd>" in out
