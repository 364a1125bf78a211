"""A small toolkit for self-contained, printable HTML report pages.

Every function returns a string of HTML. The pages need nothing but a browser: the CSS is inline, images are
base64 ``data:`` URIs, there is no JavaScript and no network access.

Escaping rule: parameters named ``body`` (and the strings in ``sections``) are trusted HTML, built with the
functions of this module; every other string (titles, captions, labels, table cells, meta values) is
HTML-escaped here, so user-provided names can be passed as they are.

Example::

    from medimg.evaluation import html

    rows = [html.MetricRow("Accuracy", 0.912, {"low": 0.87, "high": 0.95})]
    page = html.page(
        "Demo report",
        [html.section("Headline metrics", html.metrics_table(rows)), html.note("Research use only.", warning=True)],
        meta=[("Model", "resnet18"), ("Split", "test")],
    )

Index: :func:`page`, :func:`section`, :func:`paragraph`, :func:`strong`, :func:`note`, :func:`metrics_table`,
:func:`key_value_table`, :func:`table` (per-case and per-class tables, with :class:`Column`),
:func:`matrix_table`, :func:`figure`, :func:`figure_grid`, :func:`definition_list`; formatting helpers
:func:`escape`, :func:`format_value`, :func:`format_ci`, :func:`ci_label`, :func:`data_uri`.
"""

from __future__ import annotations

import base64
import html as _html
import io
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from medimg.errors import ConfigError, MedimgError

__all__ = [
    "CSS",
    "Column",
    "MetricRow",
    "ci_label",
    "data_uri",
    "definition_list",
    "escape",
    "figure",
    "figure_grid",
    "format_ci",
    "format_value",
    "image_mime",
    "key_value_table",
    "matrix_table",
    "metrics_table",
    "note",
    "page",
    "paragraph",
    "section",
    "strong",
    "table",
]

#: The shared style sheet: screen and A4 print layout. Class names: ``meta`` (header grid), ``headline``
#: (metrics table), ``num``/``strong`` (cells), ``confusion`` (matrix table), ``figures`` (image grid),
#: ``muted`` (small grey text), ``note`` (small note under a table label), ``callout``/``warning``
#: (note boxes; ``limitations`` is the older name of the warning box), ``howto`` (definition list).
CSS = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #d9dee6; --accent: #1f5f99; --soft: #f3f6fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
  font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 28px 32px 48px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 20px; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
dl.meta { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr));
  gap: 6px 18px; margin: 0; }
dl.meta div { background: var(--soft); border-radius: 6px; padding: 6px 10px; }
dl.meta dt { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
dl.meta dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 4px; font-size: 14px; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--soft); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
td.strong { font-weight: 700; }
table.headline { max-width: 720px; }
table.confusion { width: auto; }
div.wide { overflow-x: auto; }
table.confusion th, table.confusion td { padding: 6px 8px; }
table.confusion thead th { letter-spacing: 0; }
table.confusion td.cm { text-align: center; min-width: 72px; font-variant-numeric: tabular-nums; }
table.confusion td.cm span { display: block; font-size: 11px; color: var(--muted); }
table.confusion td.dark, table.confusion td.dark span { color: #fff; }
table.confusion th.corner { font-size: 11px; color: var(--muted); text-transform: none; }
caption { caption-side: bottom; text-align: left; font-size: 12px; color: var(--muted); padding-top: 6px; }
.note { font-weight: 400; font-size: 12px; color: var(--muted); }
.muted { color: var(--muted); font-size: 13px; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 18px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fff; }
figure img { width: 100%; height: auto; display: block; }
section > figure { max-width: 720px; }
figcaption { font-size: 13px; color: var(--muted); text-align: center; margin-top: 4px; }
pre { margin: 0; white-space: pre-wrap; font-size: 12px; }
dl.howto dt { font-weight: 700; margin-top: 6px; }
dl.howto dd { margin: 0 0 0 0; color: var(--ink); }
.callout { margin-top: 28px; border-left: 4px solid var(--accent); background: var(--soft); padding: 10px 14px;
  border-radius: 4px; font-size: 14px; }
.limitations, .callout.warning { margin-top: 28px; border-left: 4px solid #c0392b; background: #fdf3f2;
  padding: 10px 14px; border-radius: 4px; font-size: 14px; }
footer { margin-top: 24px; font-size: 12px; color: var(--muted); }
@page { size: A4; margin: 14mm; }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  .figures { grid-template-columns: 1fr 1fr; gap: 10px; }
  figure { break-inside: avoid; page-break-inside: avoid; margin-bottom: 0; border: none; padding: 0; }
  figure img { max-width: 100%; margin: 0 auto; }
  table.details pre { font-size: 7pt; column-count: 3; column-gap: 12px; }
  table.details tr { break-inside: auto; page-break-inside: auto; }
  table, tr, .limitations, .callout { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

_MISSING = "—"
_NUM = ' class="num"'


class _Figure(Protocol):
    """Anything with matplotlib's ``Figure.savefig`` (matplotlib itself is not imported here)."""

    def savefig(self, fname: Any, **kwargs: Any) -> Any: ...


# ------------------------------------------------------------------------------------------- formatting
def escape(value: Any) -> str:
    """``str(value)`` with ``& < > " '`` replaced by HTML entities (safe in text and in attribute values)."""
    return _html.escape(str(value), quote=True)


def format_value(value: Any, digits: int = 3) -> str:
    """Format one table value as escaped HTML text.

    Args:
        value: ``None`` and non-finite floats show as "—"; booleans as "yes"/"no"; integers with thousands
            separators; floats with ``digits`` decimals; anything else as escaped ``str(value)``.
        digits: Decimals for floats.

    Returns:
        The escaped text, e.g. ``format_value(0.91234) == "0.912"``, ``format_value(12000) == "12,000"``.
    """
    if value is None:
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}" if math.isfinite(float(value)) else _MISSING
    return escape(value)


def format_ci(entry: Mapping[str, Any] | None, digits: int = 3) -> str:
    """Format a confidence interval ``{"low", "high", ...}`` as ``"low – high"`` ("—" when undefined)."""
    if not entry or entry.get("low") is None or entry.get("high") is None:
        return _MISSING
    return f"{format_value(entry['low'], digits)} – {format_value(entry['high'], digits)}"


def ci_label(confidence: float | None = 0.95) -> str:
    """Column label of an interval with coverage ``confidence``, e.g. ``ci_label(0.9) == "90% CI"``."""
    return f"{100 * float(confidence or 0.95):g}% CI"


def image_mime(data: bytes) -> str | None:
    """``"image/png"`` or ``"image/svg+xml"`` when ``data`` looks like one, else ``None``."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if b"<svg" in data[:512]:
        return "image/svg+xml"
    return None


def data_uri(data: bytes) -> str:
    """Encode PNG or SVG bytes as a base64 ``data:`` URI for an ``<img src>``.

    Raises:
        MedimgError: ``data`` is neither a PNG nor an SVG image.
    """
    mime = image_mime(data)
    if mime is None:
        raise MedimgError("image data is not a PNG or SVG image; save figures as PNG")
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


# ------------------------------------------------------------------------------------------- structure
def page(
    title: str,
    sections: Iterable[str],
    *,
    meta: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    footer: str | None = None,
    extra_css: str = "",
) -> str:
    """A complete HTML document: shared :data:`CSS`, a header (title and meta grid), the sections, a footer.

    Args:
        title: Page title, shown in the header and the browser tab (escaped).
        sections: HTML fragments in page order, usually from :func:`section` and :func:`note`.
        meta: ``(label, value)`` pairs shown as a grid under the title (both escaped; values formatted
            with :func:`format_value`).
        footer: Footer text (escaped); omitted when ``None``.
        extra_css: Additional trusted CSS appended to :data:`CSS`.

    Returns:
        The document, starting with ``<!DOCTYPE html>``.
    """
    items = list(meta.items() if isinstance(meta, Mapping) else meta or [])
    grid = "".join(f"<div><dt>{escape(k)}</dt><dd>{format_value(v)}</dd></div>" for k, v in items)
    meta_html = f'\n<dl class="meta">{grid}</dl>' if items else ""
    footer_html = f"\n<footer>{escape(footer)}</footer>" if footer is not None else ""
    body = "\n\n".join(s for s in sections if s)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}{extra_css}</style>
</head>
<body>
<main>
<header>
<h1>{escape(title)}</h1>{meta_html}
</header>

{body}
{footer_html}
</main>
</body>
</html>
"""


def section(title: str, body: str) -> str:
    """A ``<section>`` with an ``<h2>`` heading (``title`` escaped, ``body`` trusted HTML)."""
    return f"<section>\n<h2>{escape(title)}</h2>\n{body}\n</section>"


def paragraph(body: str, *, muted: bool = True) -> str:
    """A ``<p>`` around trusted HTML ``body``; ``muted`` (default) sets the small grey explanatory style."""
    return f'<p class="muted">{body}</p>' if muted else f"<p>{body}</p>"


def strong(text: Any) -> str:
    """``text`` escaped and set in bold, for use inside a :func:`paragraph` body."""
    return f"<strong>{escape(text)}</strong>"


def note(body: str, *, title: str | None = None, warning: bool = False) -> str:
    """A highlighted note box.

    Args:
        body: Trusted HTML (escape user text with :func:`escape`).
        title: Bold lead-in, e.g. ``"Limitations"`` (escaped; a full stop is added).
        warning: Red box (limitations, caveats) instead of the neutral blue one.
    """
    lead = f"<strong>{escape(title)}.</strong> " if title else ""
    kind = "callout warning" if warning else "callout"
    return f'<div class="{kind}">{lead}{body}</div>'


def definition_list(items: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """A glossary: ``(term, explanation)`` pairs as a ``<dl>`` (both escaped)."""
    pairs = items.items() if isinstance(items, Mapping) else items
    rows = "\n".join(f"<dt>{escape(term)}</dt>\n<dd>{escape(text)}</dd>" for term, text in pairs)
    return f'<dl class="howto">\n{rows}\n</dl>'


# ------------------------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class MetricRow:
    """One row of :func:`metrics_table`.

    Attributes:
        label: Metric name shown to the reader (escaped).
        value: Point estimate (formatted with :func:`format_value`).
        ci: Confidence interval ``{"low", "high", ...}`` or ``None``.
        note: Small explanatory text under the label (escaped), e.g. why a value is undefined.
        digits: Decimals for value and interval.
    """

    label: str
    value: Any
    ci: Mapping[str, Any] | None = None
    note: str | None = None
    digits: int = 3


def metrics_table(rows: Iterable[MetricRow], *, ci_label: str = "95% CI") -> str:
    """A metric / value / confidence-interval table (class ``headline``).

    Args:
        rows: The metrics, in display order.
        ci_label: Header of the interval column (see :func:`ci_label`).
    """
    body = []
    for row in rows:
        note_html = f'<div class="note">{escape(row.note)}</div>' if row.note else ""
        body.append(
            f'<tr><th scope="row">{escape(row.label)}{note_html}</th>'
            f'<td class="num strong">{format_value(row.value, row.digits)}</td>'
            f'<td class="num">{format_ci(row.ci, row.digits)}</td></tr>'
        )
    rows_html = "\n".join(body)
    return (
        '<table class="headline">\n<thead><tr><th scope="col">Metric</th><th scope="col" class="num">Value</th>'
        f'<th scope="col" class="num">{escape(ci_label)}</th></tr></thead>\n<tbody>\n{rows_html}\n</tbody>\n</table>'
    )


def key_value_table(items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """A two-column details table (class ``details``), e.g. for run settings.

    Dicts and lists are shown as indented JSON, floats with 6 significant digits, everything else with
    :func:`format_value`; keys and values are escaped.
    """
    from medimg.fileio import dumps_json

    pairs = items.items() if isinstance(items, Mapping) else items
    rows = []
    for key, value in pairs:
        if isinstance(value, (dict, list, tuple)):
            try:
                text = dumps_json(value)
            except ConfigError:
                text = str(value)
            shown = f"<pre>{escape(text)}</pre>"
        elif isinstance(value, (float, np.floating)) and math.isfinite(float(value)):
            shown = f"{float(value):.6g}"
        else:
            shown = format_value(value)
        rows.append(f'<tr><th scope="row">{escape(key)}</th><td>{shown}</td></tr>')
    return '<table class="details"><tbody>\n' + "\n".join(rows) + "\n</tbody></table>"


@dataclass(frozen=True)
class Column:
    """One column of :func:`table`.

    Attributes:
        key: Key of the cell value in each row mapping (missing keys show as "—").
        title: Header text (escaped).
        kind: ``"number"`` (right-aligned, :func:`format_value`), ``"text"`` (escaped), ``"ci"`` (the value
            is an interval mapping, shown with :func:`format_ci`) or ``"links"`` (the value is ``(text, href)``
            pairs, shown as links, one per line).
        digits: Decimals for ``"number"`` and ``"ci"`` columns.
        row_header: Render the cells as row headers (``<th scope="row">``), typically the first column.
    """

    key: str
    title: str
    kind: Literal["number", "text", "ci", "links"] = "number"
    digits: int = 3
    row_header: bool = False


def table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    caption: str | None = None,
    css_class: str | None = None,
) -> str:
    """A table of records, one row per mapping: per-case results, per-class results, error lists.

    Args:
        rows: Records; each column reads ``row.get(column.key)``.
        columns: Column definitions in display order.
        caption: Small text under the table (escaped).
        css_class: ``class`` attribute of the ``<table>``.

    Example::

        table([{"case_id": "c1", "dice": 0.91}], [Column("case_id", "Case", kind="text"), Column("dice", "Dice")])
    """
    head = "".join(
        f'<th scope="col"{"" if c.kind in ("text", "links") else _NUM}>{escape(c.title)}</th>' for c in columns
    )
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c.key)
            if c.kind == "ci":
                text = format_ci(value if isinstance(value, Mapping) else None, c.digits)
            elif c.kind == "text":
                text = _MISSING if value is None else escape(value)
            elif c.kind == "links":
                text = "<br>".join(f'<a href="{escape(href)}">{escape(label)}</a>' for label, href in value or ())
                text = text or _MISSING
            else:
                text = format_value(value, c.digits)
            attrs = "" if c.kind in ("text", "links") else _NUM
            cells.append(f'<th scope="row"{attrs}>{text}</th>' if c.row_header else f"<td{attrs}>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    cls = f' class="{escape(css_class)}"' if css_class else ""
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    rows_html = "\n".join(body)
    return f"<table{cls}>{cap}\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows_html}\n</tbody>\n</table>"


def matrix_table(
    matrix: Any,
    row_labels: Sequence[Any],
    column_labels: Sequence[Any],
    *,
    caption: str | None = None,
    corner: str = "",
) -> str:
    """A count matrix (e.g. a confusion matrix) with each cell shaded by its share of the row.

    Args:
        matrix: ``(R, C)`` non-negative counts.
        row_labels: ``R`` row names (escaped).
        column_labels: ``C`` column names (escaped).
        caption: Small text under the table (escaped).
        corner: Text of the top-left header cell (escaped).

    Returns:
        The table (class ``confusion``); each cell shows the count and the row percentage. An empty string when
        the matrix shape does not match the labels.
    """
    counts = np.asarray(matrix, dtype=np.float64)
    if counts.ndim != 2 or counts.shape != (len(row_labels), len(column_labels)) or counts.size == 0:
        return ""
    row_sums = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    head = "".join(f'<th scope="col">{_breakable(n)}</th>' for n in column_labels)
    body = []
    for i, name in enumerate(row_labels):
        cells = []
        for j in range(len(column_labels)):
            shade = f"rgba(31, 95, 153, {0.08 + 0.72 * share[i, j]:.2f})" if counts[i, j] > 0 else "transparent"
            text_class = "cm dark" if share[i, j] > 0.55 else "cm"
            cells.append(
                f'<td class="{text_class}" style="background:{shade}">'
                f"{int(counts[i, j]):,}<span>{100 * share[i, j]:.1f}%</span></td>"
            )
        body.append(f'<tr><th scope="row">{escape(name)}</th>{"".join(cells)}</tr>')
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (
        f'<div class="wide"><table class="confusion">{cap}'
        f'<thead><tr><th class="corner">{escape(corner)}</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def metric_words(metric: str) -> str:
    """A metric's key in words: ``"roc_auc"`` -> ``"ROC AUC"``, ``"balanced_accuracy"`` -> ``"balanced accuracy"``."""
    words = {"roc": "ROC", "auc": "AUC", "f1": "F1"}
    return " ".join(words.get(w, w) for w in metric.split("_"))


def _breakable(name: str) -> str:
    """``name`` escaped, with a line-break opportunity after each ``_``, ``-``, ``/`` and ``.``: a column header
    ``carcinoma_in_situ`` wraps instead of widening the table past the page (seven Herlev classes did)."""
    return re.sub(r"([_\-/.])", r"\1<wbr>", escape(name))


# ------------------------------------------------------------------------------------------- images
def figure(image: bytes | os.PathLike[str] | _Figure, caption: str, *, alt: str | None = None) -> str:
    """An embedded image with a caption.

    Args:
        image: PNG or SVG bytes, the path of such a file, or a matplotlib figure (saved as PNG at its own dpi;
            the caller still owns and closes it).
        caption: Caption text (escaped).
        alt: Alternative text (escaped; default: the caption).

    Raises:
        MedimgError: The image cannot be read or is not a PNG or SVG image.
    """
    if isinstance(image, bytes):
        data = image
    elif isinstance(image, os.PathLike):
        try:
            data = Path(image).read_bytes()
        except OSError as exc:
            raise MedimgError(f"cannot embed image {os.fspath(image)}: {exc}") from exc
    else:
        buffer = io.BytesIO()
        image.savefig(buffer, format="png")
        data = buffer.getvalue()
    label = caption if alt is None else alt
    return (
        f'<figure><img src="{data_uri(data)}" alt="{escape(label)}"><figcaption>{escape(caption)}</figcaption></figure>'
    )


def figure_grid(figures: Iterable[str]) -> str:
    """Lay out :func:`figure` fragments in a responsive grid (one column when printed)."""
    return '<div class="figures">' + "\n".join(figures) + "</div>"
