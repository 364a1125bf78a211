"""Walking a folder of inputs the way a user laid it out: linked sub-folders included.

Datasets are often assembled from links (``train/normal/site2 -> /pacs/export/site2``, or ``ln -s`` trees made per
split); :meth:`pathlib.Path.rglob` and :func:`os.walk` do not enter a linked folder, so its images were left out of
training, checks and predictions without a word. :func:`walk_folders` and :func:`walk_tree` enter a link to a
folder outside the tree walked; a link to a folder inside it (walked under its own name already) or to a folder
the link is in (a loop) is listed, not entered, so each file is found once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal


def entry_is(entry: os.DirEntry[str], kind: Literal["dir", "file"]) -> bool:
    """``entry.is_dir()`` (``kind`` ``"dir"``) or ``entry.is_file()`` (``"file"``), False for a link that cannot be
    followed: one naming itself or a loop of links (``ln -s x.png x.png``) raised ELOOP out of the listing, where
    :meth:`pathlib.Path.is_dir` says False."""
    try:
        return entry.is_dir() if kind == "dir" else entry.is_file()
    except OSError:
        return False


def walk_folders(root: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """:func:`os.walk` of ``root`` (top-down: prune ``folders`` in place to leave some out) that enters linked
    folders outside ``root`` (see the module's docstring)."""
    top = str(root)
    root_real = os.path.realpath(top)
    chains = {top: frozenset({root_real})}  # each folder's real path and those of the folders above it
    for folder, folders, names in os.walk(top, followlinks=True):
        chain = chains.pop(folder, frozenset())
        yield folder, folders, names
        entered = []
        for name in folders:
            path = os.path.join(folder, name)
            real = os.path.realpath(path)
            if os.path.islink(path) and (_within(real, root_real) or any(_within(above, real) for above in chain)):
                continue  # walked under its own name, or a loop
            chains[path] = chain | {real}
            entered.append(name)
        folders[:] = entered


def walk_tree(root: Path) -> Iterator[Path]:
    """Every folder and file under ``root`` (not ``root`` itself), like ``root.rglob("*")`` but entering linked
    folders (:func:`walk_folders`). The order is the file system's: sort what you keep."""
    for folder, folders, names in walk_folders(root):
        for name in (*folders, *names):
            yield Path(folder, name)


def _within(path: str, folder: str) -> bool:
    """Whether the real path ``path`` is ``folder`` or lies under it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
