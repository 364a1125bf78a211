"""``medimg download``: fetch MedMNIST ``.npz`` files (the official Zenodo record, or a mirror), checksum verified.

The only command that uses the network, and only when asked. Files land in ``$MEDMNIST_ROOT`` or ``~/.medmnist``
(where the ``medmnist`` package keeps them too), so ``medimg fit pneumoniamnist`` finds them by name afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``download`` to the ``medimg`` app."""
    app.command()(download)


def download(
    names: Annotated[
        list[str], typer.Argument(help="MedMNIST names: pneumoniamnist, dermamnist_224, organmnist3d_64, ...")
    ],
    size: Annotated[
        int | None, typer.Option(help="image size for every name: 28, 64, 128 or 224 (3D sets: 28 or 64)")
    ] = None,
    root: Annotated[
        Path | None, typer.Option(help="folder to store the files in (default $MEDMNIST_ROOT or ~/.medmnist)")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="a mirror: a URL with {name} for the file stem (https://host/medmnist/{name}.npz), or a local "
            "folder holding the .npz files"
        ),
    ] = None,
) -> None:
    """Download MedMNIST .npz files once (checksum verified); `medimg fit NAME` then finds them by name."""
    from medimg.data.medmnist import MEDMNIST_MD5, fetch_medmnist, medmnist_flavour, medmnist_stem
    from medimg.errors import DatasetError, did_you_mean

    if size not in (None, 28, 64, 128, 224):
        raise DatasetError(f"--size {size}: MedMNIST files come in 28, 64, 128 and 224 (3D sets: 28 and 64)")
    stems = []
    for name in names:
        stem = medmnist_stem(name, size)
        if stem is None:
            flavours = sorted({medmnist_flavour(known) for known in MEDMNIST_MD5})
            wanted = medmnist_flavour(name.strip().lower().removesuffix(".npz"))
            hint = (
                f" {wanted} comes in sizes {', '.join(_sizes(wanted))}."
                if wanted in flavours
                else did_you_mean(wanted, flavours) + f" Known: {', '.join(flavours)}."
            )
            raise DatasetError(f"{name!r}{f' at size {size}' if size else ''} is not a MedMNIST file.{hint}")
        stems.append(stem)
    source = url
    if url is not None and "://" not in url:  # a local mirror folder
        folder = Path(url).expanduser().resolve()
        if not folder.is_dir():
            raise DatasetError(f"--url {url}: not a URL and not a folder; give https://.../{{name}}.npz or a folder")
        source = (folder / "{name}.npz").as_uri().replace("%7Bname%7D", "{name}")
    for stem in stems:
        path = fetch_medmnist(stem, root, url=source, progress=True)
        typer.echo(f"{stem}: {path}")
    from medimg.data.medmnist import medmnist_root

    if root is not None and Path(root).expanduser().resolve() != Path(medmnist_root()).expanduser().resolve():
        typer.echo(  # `medimg fit NAME` looks in $MEDMNIST_ROOT (or ~/.medmnist), not where --root put them
            f"to use them by name (medimg fit {stems[0]}): export MEDMNIST_ROOT={Path(root).expanduser().resolve()}; "
            f"or give the file: medimg fit {Path(root).expanduser().resolve() / (stems[0] + '.npz')}",
            err=True,
        )


def _sizes(flavour: str) -> list[str]:
    from medimg.data.medmnist import MEDMNIST_MD5, medmnist_flavour

    return [
        stem.rpartition("_")[2] if "_" in stem else "28" for stem in MEDMNIST_MD5 if medmnist_flavour(stem) == flavour
    ]
