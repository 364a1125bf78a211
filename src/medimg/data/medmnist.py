"""MedMNIST v2 ``.npz`` files: label names, dimensionality, and a fetcher with checksum verification."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import urllib.request
from pathlib import Path

from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

MEDMNIST_URL = "https://zenodo.org/records/10519652/files/{name}.npz?download=1"

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
    "adrenalmnist3d": ["normal", "hyperplasia"],
    "nodulemnist3d": ["benign", "malignant"],
    "vesselmnist3d": ["vessel", "aneurysm"],
    "synapsemnist3d": ["inhibitory synapse", "excitatory synapse"],
    "fracturemnist3d": ["buckle rib fracture", "nondisplaced rib fracture", "displaced rib fracture"],
}

#: MD5 of the official files, used by :func:`fetch_medmnist` (extend as needed).
MEDMNIST_MD5: dict[str, str] = {
    "pneumoniamnist": "28209eda62fecd6e6a2d98b1501bb15f",
    "adrenalmnist3d_64": "17721accfe9fb005146a47d33bc54b2f",
}


def medmnist_flavour(stem: str) -> str:
    """``"adrenalmnist3d_64"`` -> ``"adrenalmnist3d"`` (drop the size suffix)."""
    return re.sub(r"_(28|64|128|224)$", "", stem.lower())


def medmnist_label_names(stem: str, num_classes: int) -> list[str]:
    """Known label names for a MedMNIST file, else ``class_0..class_{K-1}``."""
    names = MEDMNIST_LABELS.get(medmnist_flavour(stem))
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
    if len(image_shape) == 3:
        if medmnist_flavour(stem).endswith("3d") or image_shape[-1] not in (1, 3, 4):
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
    root: str | Path,
    *,
    url: str | None = None,
    md5: str | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download a MedMNIST ``.npz`` into ``root`` (once) and verify its checksum.

    Args:
        name: file stem, e.g. ``"pneumoniamnist"`` or ``"adrenalmnist3d_64"``.
        root: folder to store it in.
        url: source address; defaults to the official Zenodo record. Any ``urllib`` URL works (``file://``
            for a local mirror).
        md5: expected checksum; defaults to the known one for ``name`` (unchecked if unknown).
        timeout_s: network timeout.

    Returns:
        The path of the verified file. An existing file with the right checksum is not downloaded again.

    Raises:
        DatasetError: the download failed or the checksum does not match (the partial file is removed).
    """
    target = Path(root) / f"{name}.npz"
    expected = md5 or MEDMNIST_MD5.get(name)
    if target.exists() and (expected is None or md5sum(target) == expected):
        return target
    source = url or MEDMNIST_URL.format(name=name)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".npz.part")
    logger.info("downloading %s -> %s", source, target)
    try:
        with urllib.request.urlopen(source, timeout=timeout_s) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except (OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        raise DatasetError(
            f"could not download {name} from {source}: {error}. Without internet, copy the file to {target}"
        ) from error
    if expected is not None and md5sum(partial) != expected:
        partial.unlink(missing_ok=True)
        raise DatasetError(f"checksum mismatch for {name} downloaded from {source}; the file was discarded")
    partial.replace(target)
    return target
