"""One tiny trained run shared by the explain, export and serve tests (trained once per test session)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

_CACHE: dict[str, Path] = {}


def train_tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simple-cnn run on 2 x 40 synthetic 32 px phantoms (3 epochs, ~2 s); the same folder every call."""
    if "run" not in _CACHE:
        from medimg import Model
        from medimg.data.synthetic import make_phantom_dataset

        root = tmp_path_factory.mktemp("deploy-run")
        data = make_phantom_dataset(root / "phantoms", n_per_class=40, size=32, seed=1)
        Model("simple-cnn").fit(data, run_dir=root / "run", epochs=3, seed=0, progress=False, tensorboard=False)
        _CACHE["run"] = root / "run"
    return _CACHE["run"]


def phantom_file(run: Path, label: str = "lesion", index: int = 0) -> Path:
    return run.parent / "phantoms" / label / f"phantom_{index:04d}.png"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ct_small() -> Path:
    """pydicom's bundled CT_small.dcm (in the wheel; never downloaded)."""
    from pydicom import examples

    return Path(examples.get_path("ct"))
