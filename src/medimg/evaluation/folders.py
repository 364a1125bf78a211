"""Where an evaluation's report goes, and what it records of the data it scored.

``RUN/report`` is the fit's own test evaluation; every other evaluation gets ``RUN/evaluations/<data>-<split>``,
and a folder of that name that holds the evaluation of *other* data (``siteA/external`` and ``siteB/external``
are both ``external``) is kept: the new one takes ``<data>-<split>-2``, ``-3``... Each folder records what it
scored in ``evaluated.json`` (the data's path, the split and the reading options; for data given in memory, which
has no path, its image count and content digest), so a report can be traced to its data. A folder the user names
(``--out``) is written into only when it is new, empty, or an earlier evaluation's: their own files there are never
written over.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medimg.errors import ConfigError

#: what an evaluation folder records of the data it scored
EVALUATED_FILE = "evaluated.json"
#: the file that marks a folder as an evaluation's (every task writes it)
REPORT_FILE = "report.json"
#: :data:`EVALUATED_FILE`'s entry saying why the scores are optimistic (images the model trained or was chosen
#: on); the classification report states it too. Not part of what identifies the data scored.
OPTIMISTIC = "optimistic"
#: what it says
OPTIMISTIC_NOTE = (
    "The {split!r} split holds images this model trained on or was chosen on: these scores are optimistic, not an "
    "estimate of its performance on new images; the test split (the default) is the honest estimate."
)


def evaluation_facts(
    data_root: Any, split: str, options: Mapping[str, Any], given: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What :data:`EVALUATED_FILE` records: the data's path (absolute), the split and the reading options given.

    Args:
        given: data given in memory (``evaluate(X, y)``), which has no path: what identifies it instead (its
            ``data`` description, image count and content digest, :meth:`medimg.data.given_arrays.GivenArrays.record`),
            recorded in place of the path.
    """
    chosen = {k: v for k, v in options.items() if k in ("include", "exclude", "window") and v is not None}
    if given is not None:
        facts = {**given, "split": split, **chosen}
    else:
        root = Path(data_root).resolve() if data_root is not None else None
        facts = {"data": str(root) if root is not None else None, "split": split, **chosen}
    return dict(json.loads(json.dumps(facts, default=str)))  # as read back: tuples are lists


def default_folder(run_dir: Path, name: str, facts: Mapping[str, Any], *, own_test: bool) -> Path:
    """``run_dir/report`` for the fit's own test evaluation (``own_test``: the training data's test split, read as
    it trained); else the first of ``evaluations/<name>-<split>``, ``-2``, ``-3``... that is new or holds an
    evaluation of the same data, split and options (replaced)."""
    if own_test:
        return run_dir / "report"
    base = run_dir / "evaluations" / f"{name}-{facts['split']}"
    candidate, number = base, 1
    while candidate.exists() and _recorded(candidate) != dict(facts):
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def _recorded(folder: Path) -> dict[str, Any] | None:
    """The facts an evaluation folder recorded; ``None`` for a folder without them (another's, or older)."""
    try:
        value = json.loads((folder / EVALUATED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict):
        return None
    value.pop(OPTIMISTIC, None)  # said of the scores, not of the data
    return value


def optimistic_note(folder: Path) -> str | None:
    """Why the scores of the evaluation in ``folder`` are optimistic (:data:`OPTIMISTIC`), or ``None``."""
    try:
        value = json.loads((Path(folder) / EVALUATED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    note = value.get(OPTIMISTIC) if isinstance(value, dict) else None
    return note if isinstance(note, str) and note else None


def check_named_folder(folder: Path) -> None:
    """Refuse a folder the user named (``--out``) that holds files of theirs: one that is not empty and holds no
    earlier evaluation (:data:`REPORT_FILE`) would get ``report.html``, ``roc.png``... written over its own.

    Raises:
        ConfigError: ``folder`` is a file, or a folder of other files (a few are named).
    """
    if folder.is_file():
        raise ConfigError(f"{folder} is a file: give a folder for the report (a new one is made)")
    if not folder.is_dir() or (folder / REPORT_FILE).is_file():
        return
    entries = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise ConfigError(
            f"{folder} holds other files ({shown}) and no earlier evaluation: the report's files (report.html, "
            "report.json, roc.png...) would be written over files of the same names. Give a new or empty folder "
            "(e.g. --out evaluations/site_a)"
        )


def write_facts(folder: Path, facts: Mapping[str, Any], *, optimistic: bool = False) -> None:
    """Record ``facts`` in ``folder`` (:data:`EVALUATED_FILE`); with ``optimistic`` (the split scored holds images
    the model trained or was chosen on) also :data:`OPTIMISTIC_NOTE`, which the report written there states."""
    record = dict(facts)
    if optimistic:
        record[OPTIMISTIC] = OPTIMISTIC_NOTE.format(split=facts.get("split"))
    (folder / EVALUATED_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
