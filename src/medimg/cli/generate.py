"""``medimg generate``: draw synthetic images from a generative run (``medimg fit DATA --task generate``).

Writes class folders in the training data's format and size (PNG for 8-bit 2D data, NIfTI otherwise) and
``synthetic.csv`` (``path,label,synthetic,run,seed``), which ``medimg fit DATA --synthetic DIR`` reads.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``generate`` to the ``medimg`` app."""
    app.command()(generate)


def generate(
    run: Annotated[Path, typer.Argument(help="run folder of `medimg fit DATA --task generate`")],
    n: Annotated[int, typer.Option("--n", help="images to draw (all of --class, or spread evenly over the classes)")],
    out: Annotated[Path, typer.Option(help="folder of the images and synthetic.csv (added to: a class, a --seed)")],
    class_name: Annotated[str | None, typer.Option("--class", help="draw only this class (any case)")] = None,
    seed: Annotated[int, typer.Option(help="noise seed: the same seed draws the same images")] = 0,
) -> None:
    """Draw synthetic images from a trained generative model, marked synthetic in OUT/synthetic.csv."""
    from medimg.model import Model

    model = Model.load(run)
    written = model.generate(n, out_dir=out, class_name=class_name, seed=seed)
    counts = {name: written.labels.count(name) for name in dict.fromkeys(written.labels)}
    typer.echo(
        f"{len(written.paths)} synthetic image(s) written to {written.folder}: "
        + ", ".join(f"{name} {count}" for name, count in counts.items())
    )
    typer.echo(
        f"manifest: {written.manifest} (train with: medimg fit DATA --synthetic {shlex.quote(str(written.folder))})"
    )
