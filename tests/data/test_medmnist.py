from __future__ import annotations

from pathlib import Path

import pytest

from medimg.data.medmnist import fetch_medmnist, md5sum, medmnist_label_names, medmnist_spatial_dims
from medimg.errors import DatasetError
from tests.conftest import write_npz


def test_fetch_from_a_url_with_checksum(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    source = write_npz(tmp_path / "mirror" / "pneumoniamnist.npz")
    expected = md5sum(source)
    target = fetch_medmnist("pneumoniamnist", tmp_path / "cache", url=source.as_uri(), md5=expected)
    assert target.read_bytes() == source.read_bytes()
    # present with the right checksum: not fetched again (the URL is now broken on purpose)
    again = fetch_medmnist("pneumoniamnist", tmp_path / "cache", url=(tmp_path / "gone.npz").as_uri(), md5=expected)
    assert again == target


def test_fetch_checksum_mismatch_leaves_nothing(tmp_path: Path) -> None:
    source = write_npz(tmp_path / "x.npz")
    with pytest.raises(DatasetError, match="checksum mismatch"):
        fetch_medmnist("x", tmp_path / "cache", url=source.as_uri(), md5="0" * 32)
    assert not any((tmp_path / "cache").iterdir())


def test_fetch_unreachable_url(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="could not download"):
        fetch_medmnist("x", tmp_path, url=(tmp_path / "missing.npz").as_uri())


def test_names_and_dims() -> None:
    assert medmnist_label_names("adrenalmnist3d_64", 2) == ["normal", "hyperplasia"]
    assert medmnist_label_names("pneumoniamnist", 3) == ["class_0", "class_1", "class_2"]
    assert medmnist_spatial_dims("adrenalmnist3d_64", (64, 64, 64)) == 3
    assert medmnist_spatial_dims("pathmnist", (28, 28, 3)) == 2


def test_official_names_sizes_and_checksums() -> None:
    from medimg.data.medmnist import MEDMNIST_MD5, medmnist_stem

    assert medmnist_stem("PneumoniaMNIST") == "pneumoniamnist"
    assert medmnist_stem("pneumoniamnist.npz", 224) == "pneumoniamnist_224"
    assert medmnist_stem("dermamnist_64", 28) == "dermamnist"
    assert medmnist_stem("organmnist3d", 224) is None  # 3D sets: 28 and 64 only
    assert medmnist_stem("mnist") is None
    assert len(MEDMNIST_MD5) == 12 * 4 + 6 * 2 and all(len(v) == 32 for v in MEDMNIST_MD5.values())
    assert medmnist_label_names("organmnist3d_64", 11)[0] == "liver"  # not class_0: the official names
    assert medmnist_label_names("organsmnist", 11)[0] == "bladder"


def test_a_bare_name_finds_the_downloaded_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medimg.data.dataset import Dataset

    monkeypatch.setenv("MEDMNIST_ROOT", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match=r"medimg download pneumoniamnist_64`"):
        Dataset.load("PneumoniaMNIST_64")
    with pytest.raises(DatasetError, match="does not exist"):
        Dataset.load("pneumoniamnist_99")  # not an official file: the usual message
    (tmp_path / "cache").mkdir()
    write_npz(tmp_path / "cache" / "pneumoniamnist_64.npz")
    assert len(Dataset.load("pneumoniamnist_64")) == len(Dataset.load(tmp_path / "cache" / "pneumoniamnist_64.npz"))
    (tmp_path / "pneumoniamnist_64").mkdir()  # a folder of that name here wins over the download
    with pytest.raises(DatasetError, match=r"no images|empty|no class"):
        Dataset.load("pneumoniamnist_64")


def test_download_command_from_a_mirror_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app
    from medimg.data import medmnist

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    source = write_npz(mirror / "breastmnist_128.npz")
    root = tmp_path / "cache"
    args = ["download", "breastmnist", "--size", "128", "--root", str(root), "--url", str(mirror)]
    refused = CliRunner().invoke(app, args)  # the fake file is not the official one: its checksum says so
    assert isinstance(refused.exception, DatasetError) and "checksum mismatch" in str(refused.exception)
    assert not root.exists() or not any(root.iterdir())
    monkeypatch.setitem(medmnist.MEDMNIST_MD5, "breastmnist_128", md5sum(source))
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert (root / "breastmnist_128.npz").read_bytes() == source.read_bytes()
    assert f"breastmnist_128: {root / 'breastmnist_128.npz'}" in done.stdout
    # --root elsewhere than $MEDMNIST_ROOT: fit NAME would not find it; how to use it is said
    assert f"export MEDMNIST_ROOT={root.resolve()}" in done.output
    unknown = CliRunner().invoke(app, ["download", "pneumoniamnist3d"])
    assert isinstance(unknown.exception, DatasetError) and "pneumoniamnist" in str(unknown.exception)
    wrong_size = CliRunner().invoke(app, ["download", "vesselmnist3d", "--size", "128"])
    assert "comes in sizes 28, 64" in str(wrong_size.exception)


def test_a_dropped_download_an_interrupt_and_an_unwritable_folder_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection dropped after 1.3 of 4.2 MB read as "checksum mismatch"; Ctrl-C left NAME.npz.part in the cache;
    an unwritable folder read as a failed download, with advice to copy the file into that same folder."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Dropping(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 30000)  # then the connection closes

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Dropping)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{{name}}.npz"
        dropped = r"could not download x .*IncompleteRead|stopped after 30,000 of 100,000"
        with pytest.raises(DatasetError, match=dropped):
            fetch_medmnist("x", tmp_path / "cache", url=url, md5="0" * 32)
    finally:
        server.shutdown()
    assert not any((tmp_path / "cache").iterdir())

    import medimg.data.medmnist as medmnist

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(medmnist, "_copy_with_progress", interrupted)
    source = write_npz(tmp_path / "y.npz")
    with pytest.raises(KeyboardInterrupt):
        fetch_medmnist("y", tmp_path / "cache", url=source.as_uri())
    assert not any((tmp_path / "cache").iterdir())  # no y.npz.part left

    with pytest.raises(DatasetError, match=r"cannot write into /proc .*choose a folder you can write to with --root"):
        fetch_medmnist("y", "/proc", url=source.as_uri())
