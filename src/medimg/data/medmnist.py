"""MedMNIST v2 ``.npz`` files: label names, dimensionality, and a fetcher with checksum verification."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO

from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

MEDMNIST_URL = "https://zenodo.org/records/10519652/files/{name}.npz?download=1"

_ORGANS_2D = ["bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
              "lung-right", "pancreas", "spleen"]  # fmt: skip

#: Label names of the single-label MedMNIST v2 datasets (from the official ``INFO`` table), by file stem.
MEDMNIST_LABELS: dict[str, list[str]] = {
    "pathmnist": [
        "adipose",
        "background",
        "debris",
        "lymphocytes",
        "mucus",
        "smooth muscle",
        "normal colon mucosa",
        "cancer-associated stroma",
        "colorectal adenocarcinoma epithelium",
    ],
    "dermamnist": [
        "actinic keratoses and intraepithelial carcinoma",
        "basal cell carcinoma",
        "benign keratosis-like lesions",
        "dermatofibroma",
        "melanoma",
        "melanocytic nevi",
        "vascular lesions",
    ],
    "octmnist": ["choroidal neovascularization", "diabetic macular edema", "drusen", "normal"],
    "pneumoniamnist": ["normal", "pneumonia"],
    "chestmnist": [  # multi-label: the 14 findings of NIH ChestX-ray14, as MedMNIST names them
        "atelectasis",
        "cardiomegaly",
        "effusion",
        "infiltration",
        "mass",
        "nodule",
        "pneumonia",
        "pneumothorax",
        "consolidation",
        "edema",
        "emphysema",
        "fibrosis",
        "pleural",
        "hernia",
    ],
    "retinamnist": ["0", "1", "2", "3", "4"],
    "breastmnist": ["malignant", "normal, benign"],
    "bloodmnist": [
        "basophil",
        "eosinophil",
        "erythroblast",
        "immature granulocytes",
        "lymphocyte",
        "monocyte",
        "neutrophil",
        "platelet",
    ],
    "tissuemnist": [
        "Collecting Duct, Connecting Tubule",
        "Distal Convoluted Tubule",
        "Glomerular endothelial cells",
        "Interstitial endothelial cells",
        "Leukocytes",
        "Podocytes",
        "Proximal Tubule Segments",
        "Thick Ascending Limb",
    ],
    **dict.fromkeys(("organamnist", "organcmnist", "organsmnist"), _ORGANS_2D),
    "organmnist3d": [
        "liver",
        "kidney-right",
        "kidney-left",
        "femur-right",
        "femur-left",
        "bladder",
        "heart",
        "lung-right",
        "lung-left",
        "spleen",
        "pancreas",
    ],
    "adrenalmnist3d": ["normal", "hyperplasia"],
    "nodulemnist3d": ["benign", "malignant"],
    "vesselmnist3d": ["vessel", "aneurysm"],
    "synapsemnist3d": ["inhibitory synapse", "excitatory synapse"],
    "fracturemnist3d": ["buckle rib fracture", "nondisplaced rib fracture", "displaced rib fracture"],
}

#: MD5 of the official MedMNIST v3 files (Zenodo record 10519652; MedMNIST's ``INFO``), by file stem: 2D sets at
#: 28 (no suffix), 64, 128 and 224 px; 3D sets at 28 and 64 voxels.
MEDMNIST_MD5: dict[str, str] = {
    "pathmnist": "a8b06965200029087d5bd730944a56c1",
    "pathmnist_64": "55aa9c1e0525abe5a6b9d8343a507616",
    "pathmnist_128": "ac42d08fb904d92c244187169d1fd1d9",
    "pathmnist_224": "2c51a510bcdc9cf8ddb2af93af1eadec",
    "chestmnist": "02c8a6516a18b556561a56cbdd36c4a8",
    "chestmnist_64": "9de6cd0b934ebb5b7426cfba5efbae16",
    "chestmnist_128": "db107e5590b27930b62dbaf558aebee3",
    "chestmnist_224": "45bd33e6f06c3e8cdb481c74a89152aa",
    "dermamnist": "0744692d530f8e62ec473284d019b0c7",
    "dermamnist_64": "b70a2f5635c6199aeaa28c31d7202e1f",
    "dermamnist_128": "2defd784463fa5243564e855ed717de1",
    "dermamnist_224": "8974907d8e169bef5f5b96bc506ae45d",
    "octmnist": "c68d92d5b585d8d81f7112f81e2d0842",
    "octmnist_64": "e229e9440236b774d9f0dfef9d07bdaf",
    "octmnist_128": "0a97e76651ace45c5d943ee3f65b63ae",
    "octmnist_224": "abc493b6d529d5de7569faaef2773ba3",
    "pneumoniamnist": "28209eda62fecd6e6a2d98b1501bb15f",
    "pneumoniamnist_64": "8f4eceb4ccffa70c672198ea285246c6",
    "pneumoniamnist_128": "05b46931834c231683c68f40c47b2971",
    "pneumoniamnist_224": "d6a3c71de1b945ea11211b03746c1fe1",
    "retinamnist": "bd4c0672f1bba3e3a89f0e4e876791e4",
    "retinamnist_64": "afda852cc34dcda56f86ad2b2457dbcc",
    "retinamnist_128": "e48e916a24454daf90583d4e6efb1a18",
    "retinamnist_224": "eae7e3b6f3fcbda4ae613ebdcbe35348",
    "breastmnist": "750601b1f35ba3300ea97c75c52ff8f6",
    "breastmnist_64": "742edef2a1fd1524b2efff4bd7ba9364",
    "breastmnist_128": "363e4b3f8d712e9b5de15470a2aaadf1",
    "breastmnist_224": "b56378a6eefa9fed602bb16d192d4c8b",
    "bloodmnist": "7053d0359d879ad8a5505303e11de1dc",
    "bloodmnist_64": "2b94928a2ae4916078ca51e05b6b800b",
    "bloodmnist_128": "adace1e0ed228fccda1f39692059dd4c",
    "bloodmnist_224": "b718ff6835fcbdb22ba9eacccd7b2601",
    "tissuemnist": "ebe78ee8b05294063de985d821c1c34b",
    "tissuemnist_64": "123ece2eba09d0aa5d698fda57103344",
    "tissuemnist_128": "61b955355d7425a89687b06cca3ce0c2",
    "tissuemnist_224": "b077128c4a949f0a4eb01517f9037b9c",
    "organamnist": "68e3f8846a6bd62f0c9bf841c0d9eacc",
    "organamnist_64": "2dcccc29b88e6da5a01161ef20cda288",
    "organamnist_128": "eeae80d0a227a8d099027e1b3cfd3b60",
    "organamnist_224": "50747347e05c87dd3aaf92c49f9f3170",
    "organcmnist": "b9ceb9546e10131b32923c5bbeaea2b1",
    "organcmnist_64": "3ce34a8724ea6f548e6db4744d03b6a9",
    "organcmnist_128": "773c1f009daa3fe5d9a2a201b2a7ed94",
    "organcmnist_224": "050f5e875dc056f6768abf94ec9995d1",
    "organsmnist": "9ab87b696fb54e2a387ebe992d6ed5f1",
    "organsmnist_64": "53a6d115339d874c25e309a994ff46d3",
    "organsmnist_128": "ded0c5fa01a95dc4978b956f613e9b8e",
    "organsmnist_224": "b354719e553fbbb2513d5533f52a4cb1",
    "organmnist3d": "a0c5a1ff56af4f155c46d46fbb45a2fe",
    "organmnist3d_64": "58a2205adf14a9d0a189cb06dc78bf10",
    "nodulemnist3d": "8755a7e9e05a4d9ce80a24c3e7a256f3",
    "nodulemnist3d_64": "c47c5b7d457bf6332200d2ea6d64ecd8",
    "adrenalmnist3d": "bbd3c5a5576322bc4cdfea780653b1ce",
    "adrenalmnist3d_64": "17721accfe9fb005146a47d33bc54b2f",
    "fracturemnist3d": "6aa7b0143a6b42da40027a9dda61302f",
    "fracturemnist3d_64": "f01d7e6316aedf4210da0da5b7437b42",
    "vesselmnist3d": "b41fd4f7e7e2feedddb201585ecafa1b",
    "vesselmnist3d_64": "6bb274a8846e1097066dcd64e2c4520f",
    "synapsemnist3d": "1235b78a3cd6280881dd7850a78eadb6",
    "synapsemnist3d_64": "43bd14ebf3af9d3dd072446fedc14d5e",
}

MEDMNIST_ROOT_ENV = "MEDMNIST_ROOT"
"""Environment variable naming the folder of downloaded MedMNIST files (default ``~/.medmnist``, where the
``medmnist`` package keeps them too)."""


def medmnist_root() -> Path:
    """The folder :func:`fetch_medmnist` downloads into by default and a bare MedMNIST name is looked up in."""
    return Path(os.environ.get(MEDMNIST_ROOT_ENV) or Path.home() / ".medmnist").expanduser()


def medmnist_stem(name: str, size: int | None = None) -> str | None:
    """The official file stem of a MedMNIST name (``"PneumoniaMNIST"``, ``"pneumoniamnist_64"``,
    ``"pneumoniamnist.npz"``; ``size`` 28/64/128/224 adds the suffix), or ``None`` when it names no official file."""
    stem = name.strip().lower().removesuffix(".npz")
    if size is not None and size != 28:
        stem = f"{medmnist_flavour(stem)}_{size}"
    elif size == 28:
        stem = medmnist_flavour(stem)
    return stem if stem in MEDMNIST_MD5 else None


def resolve_medmnist_name(path: Path) -> Path | None:
    """The downloaded file for a bare MedMNIST name that is not a path here (``medimg fit pneumoniamnist``), or
    ``None`` when ``path`` is not such a name.

    Raises:
        DatasetError: the name is a MedMNIST file that has not been downloaded; the message gives the command.
    """
    if path.exists() or len(path.parts) != 1:
        return None
    stem = medmnist_stem(path.name)
    if stem is None:
        return None
    cached = medmnist_root() / f"{stem}.npz"
    if cached.is_file():
        logger.info("%s: the MedMNIST file %s", path, cached)
        return cached
    raise DatasetError(
        f"{path} is neither a file nor a folder here; it names the MedMNIST file {stem}.npz, which is not in "
        f"{medmnist_root()}: download it once with `medimg download {stem}` (checksum verified; "
        f"${MEDMNIST_ROOT_ENV} chooses the folder), or give the path of a copy"
    )


def medmnist_flavour(stem: str) -> str:
    """``"adrenalmnist3d_64"`` -> ``"adrenalmnist3d"`` (drop the size suffix)."""
    return re.sub(r"_(28|64|128|224)$", "", stem.lower())


def medmnist_set(stem: str) -> str:
    """The MedMNIST flavour a file name starts with, so a copy keeps its set's names: ``"pneumoniamnist (1)"`` (a
    browser's second download), ``"dermamnist_224-copy"`` -> ``"pneumoniamnist"``, ``"dermamnist"``."""
    flavour = medmnist_flavour(stem)
    if flavour in MEDMNIST_LABELS:
        return flavour
    found = re.match(r"([a-z]+mnist(?:3d)?)(?![a-z0-9])", stem.strip().lower())
    return found.group(1) if found and found.group(1) in MEDMNIST_LABELS else flavour


def medmnist_label_names(stem: str, num_classes: int) -> list[str]:
    """Known label names for a MedMNIST file (or a copy named ``pneumoniamnist (1)``), else
    ``class_0..class_{K-1}``."""
    names = MEDMNIST_LABELS.get(medmnist_set(stem))
    if names is not None and len(names) == num_classes:
        return list(names)
    return [f"class_{i}" for i in range(num_classes)]


def medmnist_spatial_dims(stem: str, image_shape: tuple[int, ...]) -> int:
    """2 or 3 from the file name and one image's shape.

    ``(H, W)`` is 2D gray, ``(H, W, 3)`` is 2D RGB unless the name says 3D, ``(D, H, W)`` with a name ending in
    ``3d`` (or a last axis other than 3) is a volume.
    """
    if len(image_shape) == 2:
        return 2
    if len(image_shape) == 3:  # (H, W, C) or a volume (D, H, W): the channel axis as fit(X, y) finds it
        from medimg.io.arrays import channel_axis

        if medmnist_set(stem).endswith("3d") or channel_axis(image_shape) != -1:
            return 3
        return 2
    if len(image_shape) == 4:
        return 3
    raise DatasetError(f"{stem}: unexpected MedMNIST image shape {image_shape}")


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file."""
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fetch_medmnist(
    name: str,
    root: str | Path | None = None,
    *,
    url: str | None = None,
    md5: str | None = None,
    timeout_s: float = 60.0,
    progress: bool = False,
) -> Path:
    """Download a MedMNIST ``.npz`` into ``root`` (once) and verify its checksum.

    Args:
        name: file stem, e.g. ``"pneumoniamnist"`` or ``"adrenalmnist3d_64"``.
        root: folder to store it in (default :func:`medmnist_root`: ``$MEDMNIST_ROOT`` or ``~/.medmnist``).
        url: source address; defaults to the official Zenodo record. Any ``urllib`` URL works (``file://``
            for a local mirror); ``{name}`` in it is replaced by the file stem.
        md5: expected checksum; defaults to the known one for ``name`` (unchecked if unknown).
        timeout_s: network timeout.
        progress: show a progress bar (bytes) while downloading.

    Returns:
        The path of the verified file. An existing file with the right checksum is not downloaded again.

    Raises:
        DatasetError: the download failed or the checksum does not match (the partial file is removed).
    """
    target = Path(root if root is not None else medmnist_root()).expanduser() / f"{name}.npz"
    expected = md5 or MEDMNIST_MD5.get(name)
    if target.exists():
        found = md5sum(target) if expected is not None else None
        if found == expected and (expected is not None or _zip_problem(target) is None):
            return target
        logger.warning(  # replaced only once the new download is verified
            "%s: %s; downloading it again",
            target,
            f"MD5 {found}, not the expected {expected} (another version, or damaged)"
            if expected is not None
            else _zip_problem(target),
        )
    source = (url or MEDMNIST_URL).replace("{name}", name)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(
            f"cannot create {target.parent} ({error.strerror or error}); choose another folder"
        ) from error
    partial = target.with_suffix(".npz.part")
    try:
        out = partial.open("wb")
    except OSError as error:  # the folder, not the download: say which and what to do
        raise DatasetError(
            f"cannot write into {target.parent} ({error.strerror or error}): choose a folder you can write to with "
            "--root (or $MEDMNIST_ROOT)"
        ) from error
    logger.info("downloading %s -> %s", source, target)
    try:
        with out, urllib.request.urlopen(source, timeout=timeout_s) as response:
            received, announced = _copy_with_progress(response, out, name, progress)
    except urllib.error.HTTPError as error:  # the server answered, with an error: say which, and what helps
        partial.unlink(missing_ok=True)
        if error.code in (404, 410):
            advice = (
                f"no file {name}.npz there: check the mirror's address (--url, with {{name}} for the file stem)"
                if url
                else "the official record has no such file"
            )
        elif error.code in (401, 403):
            advice = "the server refused access: check the address, or download it by hand and copy it to " + str(
                target
            )
        else:
            advice = "the server failed: run the command again later"
        raise DatasetError(
            f"could not download {name} from {source}: HTTP {error.code} {error.reason}: {advice}"
        ) from error
    except urllib.error.URLError as error:
        partial.unlink(missing_ok=True)
        if not isinstance(error.reason, FileNotFoundError):
            raise _failed(name, source, target, error) from error
        raise DatasetError(  # a local mirror without the file: running again will not help
            f"could not download {name}: {source} does not exist; the mirror (--url) must hold {name}.npz"
        ) from error
    except (OSError, ValueError, http.client.HTTPException) as error:  # HTTPException: e.g. IncompleteRead
        partial.unlink(missing_ok=True)
        raise _failed(name, source, target, error) from error
    except BaseException:  # Ctrl-C: no half file left in the cache folder
        partial.unlink(missing_ok=True)
        raise
    if announced is not None and received < announced:
        partial.unlink(missing_ok=True)
        raise DatasetError(
            f"the download of {name} from {source} stopped after {received:,} of {announced:,} bytes (the connection "
            "dropped); run the command again"
        )
    problem = _zip_problem(partial)
    if problem is not None:  # an error page or a cut-off body is no MedMNIST file, whatever its checksum
        partial.unlink(missing_ok=True)
        raise DatasetError(
            f"the download of {name} from {source} is not an .npz file: {problem}; the file was discarded. "
            + (
                "Check the address (--url, with {name} for the file stem)"
                if problem.startswith("a web page")
                else "Run the command again"
            )
        )
    actual = md5sum(partial) if expected is not None else None
    if actual is not None and actual != expected:
        partial.unlink(missing_ok=True)
        raise DatasetError(
            f"checksum mismatch for {name} downloaded from {source} (MD5 {actual}, expected {expected}); the file was "
            "discarded. Likely causes: another MedMNIST version or size at that address, an HTML page instead of the "
            "file (a --url without {name}), or a damaged mirror"
        )
    partial.replace(target)
    return target


def _failed(name: str, source: str, target: Path, error: Exception) -> DatasetError:
    """A download that failed on the way (no connection, a timeout, a dropped connection): run it again."""
    return DatasetError(
        f"could not download {name} from {source}: {error!r}. Run the command again, or, without internet, copy "
        f"the file to {target}"
    )


def _zip_problem(path: Path) -> str | None:
    """What makes ``path`` no ``.npz`` (zip) file: an HTML page, a cut-off download; ``None`` when it is one."""
    import zipfile

    try:
        with path.open("rb") as handle:
            head = handle.read(256)
        if zipfile.is_zipfile(path):
            return None
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    if not head:
        return "it is empty"
    if head.lstrip()[:1] == b"<":
        text = re.sub(rb"<[^>]*>|\s+", b" ", head).decode("utf-8", "replace").strip()[:80]
        return f"a web page (HTML{': ' + repr(text) if text else ''}), the server's error or notice page"
    if head.startswith(b"PK"):
        return "it is cut off (the connection dropped before the end of the file)"
    return f"it starts with {head[:8]!r}, not a zip archive's PK"


def _copy_with_progress(response: Any, out: BinaryIO, name: str, progress: bool) -> tuple[int, int | None]:
    """Copy a download to ``out`` in 1 MiB blocks, with a progress bar sized by its ``Content-Length``; returns the
    bytes received and the length announced (``None`` when there was none)."""
    from tqdm.auto import tqdm

    from medimg.terminal import show_bars

    length = response.headers.get("Content-Length") if getattr(response, "headers", None) else None
    total = int(length) if length and str(length).isdigit() else None
    received = 0
    with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not show_bars(progress), leave=False) as bar:
        while block := response.read(1 << 20):
            out.write(block)
            received += len(block)
            bar.update(len(block))
    return received, total
