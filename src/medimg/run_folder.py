"""A run folder is the model bundle: everything ``Model.load`` needs, written atomically.

Layout::

    RUN/config.json        options, dataset path and loading options, seed
    RUN/dataset.json       dataset summary (classes, counts, source)
    RUN/fingerprint.json   dataset fingerprint (training split)
    RUN/plan.json          the resolved plan (after overrides)
    RUN/splits.json        case -> train/val/test
    RUN/metadata.json      versions, labels, input spec, training summary
    RUN/model.pt           selected weights (state_dict)
    RUN/metrics.jsonl      one line per epoch
    RUN/checkpoints/       last.pt (resume) and best.pt
    RUN/report/            report.json, report.html, plots
    RUN/tensorboard/       TensorBoard event files
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medimg.errors import RunFolderError
from medimg.fileio import atomic_write_json

BUNDLE_FILES = ("plan.json", "metadata.json", "model.pt")


def new_run_dir(base: str | Path, dataset_name: str) -> Path:
    """``base/<dataset>/expN`` with the next free N (``runs/herlev/exp3``)."""
    root = Path(base) / re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset_name or "dataset")
    taken = [int(m.group(1)) for p in root.glob("exp*") if (m := re.fullmatch(r"exp(\d+)", p.name))]
    return root / f"exp{max(taken, default=0) + 1}"


class RunFolder:
    """Read and write the files of one run folder.

    Args:
        path: the folder.
        writable: ``False`` on distributed ranks other than 0: reads work, writes are skipped (rank 0 alone
            writes the bundle).
    """

    def __init__(self, path: str | Path, *, writable: bool = True) -> None:
        self.path = Path(path)
        self.writable = writable

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        if not self.writable:
            return self.file(name)
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.file(name)
        atomic_write_json(target, obj)
        return target

    def read_json(self, name: str) -> Any:
        target = self.file(name)
        if not target.is_file():
            raise RunFolderError(
                f"{self.path} is not a complete medimg run folder: {name} is missing "
                f"(was training interrupted? rerun `medimg fit ... --run-dir {self.path} --resume`)"
            )
        try:
            return json.loads(target.read_text())
        except json.JSONDecodeError as error:
            raise RunFolderError(f"{target} is corrupt: {error}") from error

    def sha256(self, name: str) -> str:
        """SHA-256 of one file of the run (hex)."""
        digest = hashlib.sha256()
        with self.file(name).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def verify_weights(self, metadata: dict[str, Any]) -> None:
        """Check the weight files against the hashes ``metadata.json`` recorded when they were written.

        Raises:
            RunFolderError: a file is missing or its content changed (corrupted on disk or replaced).
        """
        for name, expected in (metadata.get("weights_sha256") or {}).items():
            if not self.file(name).is_file():
                raise RunFolderError(f"{self.file(name)} is missing: the run folder is incomplete")
            if self.sha256(name) != expected:
                raise RunFolderError(
                    f"{self.file(name)} does not match the SHA-256 recorded in metadata.json when it was written: "
                    "the file is corrupted or was replaced. Restore it from a backup or retrain "
                    "(`medimg fit ... --run-dir NEW`)"
                )

    def is_complete(self) -> bool:
        return all(self.file(name).is_file() for name in BUNDLE_FILES)

    def ensure_writable(self, *, resume: bool) -> None:
        """Refuse to overwrite a finished run unless resuming: results already written are never lost."""
        if resume or not self.path.exists():
            return
        if self.is_complete() or self.file("checkpoints/last.pt").is_file():
            raise RunFolderError(
                f"{self.path} already holds a trained run; choose another --run-dir, or pass --resume to continue it"
            )


class RunMetadata(BaseModel):
    """``metadata.json``: what a bundle holds and how it was made.

    Attributes:
        task: the task registry name (``classify``, ``segment``...).
        backend: ``torch`` (a network in ``model.pt``) or ``sklearn`` (an estimator in ``model.joblib``).
        network: the network or estimator name.
        class_names: label names, index-aligned with the model's outputs.
        input: what the model expects (spatial dims, channels, size, DICOM window...).
        training: the training summary (best epoch, time, ensemble, counts, skipped files...).
        weights_sha256: SHA-256 of each weight file (``model.pt``...) as written; checked on every load.
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    medimg_version: str = ""
    torch_version: str = ""
    python_version: str = ""
    created: str = ""
    task: str = "classify"
    backend: Literal["torch", "sklearn"] = "torch"
    network: str = ""
    class_names: list[str] = Field(default_factory=list)
    input: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    weights_sha256: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def create(
        cls,
        *,
        task: str,
        network: str,
        class_names: list[str],
        input_spec: dict[str, Any],
        training: dict[str, Any],
        backend: Literal["torch", "sklearn"] = "torch",
        **extra: Any,
    ) -> RunMetadata:
        """Metadata of a run finished now, with this process's versions."""
        import torch

        from medimg import __version__

        return cls(
            medimg_version=__version__,
            torch_version=torch.__version__,
            python_version=platform.python_version(),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            task=task,
            backend=backend,
            network=network,
            class_names=list(class_names),
            input=input_spec,
            training=training,
            **extra,
        )
