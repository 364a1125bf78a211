"""Command-line options several commands share (``fit``, ``plan``, ``check``, ``evaluate``, ``compare``...)."""

from __future__ import annotations

from typing import Annotated

import typer

Include = Annotated[
    list[str] | None,
    typer.Option(help="file-name patterns to use, comma-separated or the option repeated, e.g. '*.png,*.dcm'"),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option(help="file-name patterns to skip, comma-separated or repeated, e.g. '*-d.bmp' (Herlev masks)"),
]
LabelColumn = Annotated[
    str | None,
    typer.Option(
        "--label-column",
        help="classification: the column of a label table (CSV/TSV/Excel) that holds the classes, e.g. Histology "
        "of a clinical table (default: a column named label, class, diagnosis...)",
    ),
]
Progress = Annotated[bool, typer.Option(help="show progress bars (--no-progress: none, the progress lines kept)")]
