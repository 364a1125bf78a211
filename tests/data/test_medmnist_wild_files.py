"""MedMNIST files as they arrive in the wild: error pages saved as .npz, lone .npy arrays, a folder of downloads,
a tiny ChestMNIST subset, and a mirror answering 404 / 500 / an HTML page / a cut-off body."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset
from medimg.data.medmnist import fetch_medmnist
from medimg.errors import DatasetError
from tests.conftest import write_npz

HTML = b"<!DOCTYPE html><html><body><h1>Zenodo is down for maintenance</h1></body></html>"


def test_an_html_error_page_saved_as_npz_is_named_not_a_pickle(tmp_path: Path) -> None:
    """Was: 'This file contains pickled (object) data ... load it unsafely using allow_pickle=' (wrong advice)."""
    page = tmp_path / "pneumoniamnist.npz"
    page.write_bytes(HTML)
    with pytest.raises(DatasetError, match=r"web page \(HTML\).*medimg download pneumoniamnist") as error:
        Dataset.load(page)
    assert "pickle" not in str(error.value)


def test_a_lone_npy_array_under_an_npz_name_is_refused_by_name(tmp_path: Path) -> None:
    """Was: AttributeError: 'numpy.ndarray' object has no attribute 'files' (a traceback)."""
    file = tmp_path / "images.npz"
    with file.open("wb") as handle:
        np.save(handle, np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DatasetError, match=r"images\.npz .*single \.npy array.*np\.savez"):
        Dataset.load(file)


def test_a_cut_off_download_says_so(tmp_path: Path) -> None:
    whole = write_npz(tmp_path / "whole.npz", n=(4, 2, 2))
    cut = tmp_path / "bloodmnist.npz"
    cut.write_bytes(whole.read_bytes()[:-10])
    with pytest.raises(DatasetError, match=r"incomplete or damaged .*medimg download bloodmnist"):
        Dataset.load(cut)


def test_a_folder_of_medmnist_downloads(tmp_path: Path) -> None:
    """Was: 'has no class sub-folders: arrange images as <folder>/<class name>/...' for ~/.medmnist."""
    folder = tmp_path / "medmnist"
    folder.mkdir()
    write_npz(folder / "pneumoniamnist.npz", n=(6, 2, 2))
    (folder / "bloodmnist.npz.part").write_bytes(b"PK")  # a download's leftover is no file of the set
    one = Dataset.load(folder)
    assert one.class_names == ["normal", "pneumonia"] and len(one) == 10
    write_npz(folder / "breastmnist.npz", n=(6, 2, 2))
    with pytest.raises(DatasetError, match=r"holds 2 MedMNIST files \(breastmnist\.npz, pneumoniamnist\.npz\).*give"):
        Dataset.load(folder)


def test_a_chestmnist_subset_whose_rows_each_have_one_finding_stays_multi_label(tmp_path: Path) -> None:
    """Was: read as 14 single-label classes (one-hot), silently, when a small subset had one finding per row."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("val", 3), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = np.eye(14, dtype=np.uint8)[np.arange(n) % 14]
    np.savez(tmp_path / "chestmnist.npz", **arrays)
    data = Dataset.load(tmp_path / "chestmnist.npz")
    assert data.multi_label and len(data.class_names) == 14 and data.class_names[0] == "atelectasis"
    assert data.cases[1].findings == (1,)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[str]:
    """A local server: /404/, /500/, /html/ (200 with an error page), /cut/ (no length, half a file), /ok/."""
    body = write_npz(tmp_path / "source.npz", n=(4, 2, 2)).read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            kind = self.path.split("/")[1]
            if kind in ("404", "500"):
                self.send_error(int(kind))
                return
            self.send_response(200)
            if kind == "ok":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write({"html": HTML, "cut": body[: len(body) // 2]}.get(kind, body))
            self.close_connection = True

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_mirror_answering_errors(tmp_path: Path, mirror: str) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"HTTP 404 .*no file x\.npz there: check the mirror's address"):
        fetch_medmnist("x", cache, url=mirror + "/404/{name}.npz")
    with pytest.raises(DatasetError, match=r"HTTP 500 .*server failed: run the command again later"):
        fetch_medmnist("x", cache, url=mirror + "/500/{name}.npz")
    with pytest.raises(DatasetError, match=r"not an \.npz file: it is cut off .*Run the command again"):
        fetch_medmnist("x", cache, url=mirror + "/cut/{name}.npz")
    assert not cache.exists() or not any(cache.iterdir())


def test_an_error_page_without_a_known_checksum_is_not_kept_and_reused(tmp_path: Path, mirror: str) -> None:
    """Was: a name without a known MD5 kept the HTML page as x.npz and returned it on every later call."""
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"web page \(HTML: '.*Zenodo is down.*'\)"):
        fetch_medmnist("x", cache, url=mirror + "/html/{name}.npz")
    assert not any(cache.iterdir())
    cache.joinpath("x.npz").write_bytes(HTML)  # an earlier version's leftover: fetched again, not returned
    path = fetch_medmnist("x", cache, url=mirror + "/ok/{name}.npz")
    assert path.read_bytes()[:2] == b"PK"


def _labelled(path: Path, train_labels: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 255, (len(train_labels), 28, 28), dtype=np.uint8)}
    arrays["train_labels"] = train_labels
    arrays["test_images"], arrays["test_labels"] = arrays["train_images"][:2], np.array([[0], [1]], np.uint8)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("labels", "shown"),
    [
        (np.array([[-1], [0], [1], [1]]), "row 0: -1"),  # "unknown": was the last class, silently
        (np.array([0.0, 1.0, 0.5, 1.0]), "row 2: 0.5"),  # a fraction: was class 0, silently
        (np.array([0.0, np.nan, 1.0, 1.0]), "row 1: nan"),
    ],
)
def test_labels_that_are_no_class_numbers_are_refused(tmp_path: Path, labels: np.ndarray, shown: str) -> None:
    file = _labelled(tmp_path / "mine.npz", labels)
    with pytest.raises(DatasetError, match=rf"mine\.npz: 1 of the train labels are not class numbers .*{shown}"):
        Dataset.load(file)
    whole = _labelled(tmp_path / "whole.npz", np.array([0.0, 1.0, 1.0, 0.0]))  # whole numbers as floats: fine
    assert [c.label for c in Dataset.load(whole).cases][:4] == [0, 1, 1, 0]


def test_a_browser_copy_of_a_medmnist_file_keeps_its_names(tmp_path: Path) -> None:
    """Was: 'pneumoniamnist (1).npz' (a second download) had classes class_0, class_1, which its own run's
    evaluation then refused as classes the model does not know."""
    copy = write_npz(tmp_path / "pneumoniamnist (1).npz", n=(4, 2, 2))
    assert Dataset.load(copy).class_names == ["normal", "pneumonia"]
    volumes = tmp_path / "organmnist3d_64-copy.npz"
    images = np.zeros((11, 8, 8, 8), np.uint8)
    np.savez(volumes, train_images=images, train_labels=np.arange(11).reshape(-1, 1))
    data = Dataset.load(volumes)
    assert data.spatial_dims == 3 and data.class_names[0] == "liver"


def test_a_mirror_folder_without_the_file(tmp_path: Path) -> None:
    """Was: 'URLError(FileNotFoundError(...)). Run the command again' (which cannot help)."""
    (tmp_path / "mirror").mkdir()
    url = (tmp_path / "mirror").as_uri() + "/{name}.npz"
    with pytest.raises(DatasetError, match=r"mirror/x\.npz does not exist; the mirror \(--url\) must hold x\.npz"):
        fetch_medmnist("x", tmp_path / "cache", url=url)


def test_an_npz_of_images_and_their_label_maps_is_refused_as_a_segmentation_set(tmp_path: Path) -> None:
    """TissueNet's X (N, H, W, 2) and y (N, H, W, 2): the label maps were read as N*H*W*2 labels, one per pixel, and
    check crashed with an IndexError traceback; a folder of such files read as 3 image/mask pairs."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "tissuenet"
    folder.mkdir()
    for split in ("train", "val", "test"):
        np.savez(
            folder / f"tissuenet_v1.1_{split}.npz",
            X=rng.random((6, 16, 16, 2), dtype=np.float32),
            y=rng.integers(0, 5, (6, 16, 16, 2)).astype(np.int32),
        )
    (folder / "README.md").write_text("TissueNet")
    with pytest.raises(DatasetError, match=r"y holds an array of shape \(6, 16, 16, 2\), a label map per image"):
        Dataset.load(folder / "tissuenet_v1.1_train.npz")
    with pytest.raises(DatasetError, match=r"\.npz archive\(s\) \(tissuenet_v1\.1_test\.npz.*give one"):
        Dataset.load(folder)


def test_labels_saved_as_python_objects_are_named_not_a_broken_download(tmp_path: Path) -> None:
    """Was: "it is incomplete or damaged (an interrupted download?) ... re-download": the file was whole, its labels
    an object array (a list of mixed types, a pandas column) that only unpickling reads."""
    import numpy as np

    path = tmp_path / "pneumoniamnist.npz"
    labels = np.empty((4, 1), dtype=object)
    labels[:, 0] = [0, 1, 0, 1]
    np.savez(path, train_images=np.zeros((4, 8, 8), np.uint8), train_labels=labels)
    with pytest.raises(DatasetError, match=r"holds Python objects .* save the images and labels as numeric") as error:
        Dataset.load(path)
    assert "interrupted download" not in str(error.value) and "medimg download" not in str(error.value)
