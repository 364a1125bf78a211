"""Tiny trained runs shared by the explain, export and serve tests (each trained once per test session)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

_CACHE: dict[str, Path] = {}

#: the fields of a stored classification report, for storage tests that add reports without a model
REPORT = {
    "model_name": "m",
    "label": "lesion",
    "label_index": 1,
    "confidence": 0.9,
    "probabilities": {"normal": 0.1, "lesion": 0.9},
    "input_format": "png",
    "input_info": {},
    "model_info": {},
    "image_png": b"\x89PNG",
}


def report_row(**fields: Any) -> Any:
    """A stored two-class classification report (:class:`~medimg.serve.storage.ReportRow`) made by hand, no model:
    ``normal`` at 0.501 from a simple-cnn on a 32 px grey PNG; ``fields`` replace any of its values."""
    from datetime import datetime, timezone

    from medimg.serve.storage import ReportRow

    base: dict[str, Any] = {
        "id": "0" * 32,
        "created_at": datetime.now(timezone.utc),
        "model_name": "run",
        "task": "classify",
        "label": "normal",
        "label_index": 0,
        "confidence": 0.501,
        "probabilities": {"normal": 0.501, "lesion": 0.499},
        "explain_method": None,
        "input_format": "png",
        "input_info": {"format": "png", "shape": [1, 32, 32]},
        "model_info": {"network": "simple-cnn", "class_names": ["normal", "lesion"]},
        "image_png": b"",
        "heatmap_png": None,
        "overlay_png": None,
    }
    return ReportRow(**{**base, **fields})


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


#: A U-Net that learns the synthetic discs a little in ~10 s on 2 cores; test-time flips on, so the exported
#: predictor's flip passes are exercised too.
TINY_SEGMENTATION = {
    "epochs": 3,
    "iterations_per_epoch": 5,
    "channels": [8, 16, 32],
    "learning_rate": 1e-2,
    "tta": True,
}


def train_tiny_segmentation_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A U-Net segmentation run on 12 synthetic 32 px disc images (``RUN/../discs``); the same folder every call."""
    if "segment" not in _CACHE:
        from medimg import Model
        from tests.tasks.segment.synthetic import write_2d_pairs

        root = tmp_path_factory.mktemp("deploy-seg-run")
        data = write_2d_pairs(root / "discs", n=12, size=32)
        Model("unet", task="segment", **TINY_SEGMENTATION).fit(
            data, run_dir=root / "run", seed=0, progress=False, tensorboard=False
        )
        _CACHE["segment"] = root / "run"
    return _CACHE["segment"]


def disc_files(run: Path, folder: Path) -> dict[str, Path]:
    """Inputs that exercise the segmentation path: a training-size PNG, a larger one (several sliding windows),
    a smaller one (padded to one window) and a 2D NIfTI with a 0.5 x 0.8 mm spacing (areas in mm^2)."""
    import numpy as np
    from PIL import Image

    from medimg.io import ImageData, write_nifti

    source = run.parent / "discs" / "images" / "case_00.png"
    folder.mkdir(parents=True, exist_ok=True)
    files = {"png": source, "large": folder / "large.png", "small": folder / "small.png"}
    Image.open(source).resize((45, 37)).save(files["large"])
    Image.open(run.parent / "discs" / "images" / "case_01.png").resize((24, 20)).save(files["small"])
    pixels = np.asarray(Image.open(run.parent / "discs" / "images" / "case_02.png"), dtype=np.float32)
    files["nifti"] = write_nifti(ImageData(pixels[None], spacing_mm=(0.5, 0.8)), folder / "slice.nii.gz")
    return files


def phantom_file(run: Path, label: str = "lesion", index: int = 0) -> Path:
    return run.parent / "phantoms" / label / f"phantom_{index:04d}.png"


@contextmanager
def service_client(run_dir: Path, database: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app serving ``run_dir`` (reports in the SQLite file ``database``) in a test client, with a fresh token's
    ``Authorization`` header."""
    from fastapi.testclient import TestClient

    from medimg.serve import ServeSettings, create_app
    from medimg.serve.storage import Storage

    settings = ServeSettings(run_dir=run_dir, database=str(database))
    _, token = Storage(settings.database_url).create_token("tests")
    with TestClient(create_app(settings)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ct_small() -> Path:
    """pydicom's bundled CT_small.dcm (in the wheel; never downloaded)."""
    from pydicom import examples

    return Path(examples.get_path("ct"))


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server on a free 127.0.0.1 port (in a thread); yields its base URL."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="info"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


#: Debian's chromium, which the browser tests drive through Playwright (never a downloaded browser)
CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian chromium driven by Playwright, closed afterwards; the test is skipped without it."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            browser.close()
