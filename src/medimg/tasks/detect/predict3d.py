"""3D detection on volume files (NIfTI, DICOM series...): boxes in voxels and, where the affine is known, in mm;
counts per class; a representative slice with the boxes as PNG.

Voxel boxes use :class:`~medimg.data.case.Box`'s convention against the array's ``(D, H, W)``: ``x`` along ``W``
(the last axis), ``y`` along ``H``, ``z`` along ``D``, continuous corners (voxel ``n`` covers ``[n, n + 1)``). World
coordinates come from the file's affine (NIfTI: voxel index ``(i, j, k)`` = ``(d, h, w)`` -> RAS+ mm, voxel centres
at whole indices): each box gets its centre in mm, its size in mm along the voxel axes (``x, y, z``), and the
world-axis-aligned bounds of its eight corners.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch import nn

    from medimg.io.image import ImageData
    from medimg.tasks.detect.plan import DetectPlan

VOXEL_AXES = "x along W (last array axis), y along H, z along D (first spatial axis); voxel n covers [n, n+1)"
#: what the world coordinates of a box are in (a LUNA16 user compared medimg's RAS centres with annotations.csv's LPS
#: ones: x and y of opposite sign, unsaid)
WORLD_FRAME = (
    "center_mm, bounds_min_mm, bounds_max_mm: RAS+ mm (NIfTI's frame: +x right, +y anterior, +z superior); "
    "center_lps_mm: the centre in LPS+ mm (ITK's, DICOM's, MetaImage's: LUNA16's annotations.csv), -x, -y, z"
)
LPS_FROM_RAS = np.array([-1.0, -1.0, 1.0])


def world_geometry(corners: np.ndarray, affine: np.ndarray) -> dict[str, list[float]]:
    """Centre, size along the voxel axes and world bounds (mm) of a box ``[d1, h1, w1, d2, h2, w2]`` (continuous
    voxel corners) under ``affine`` (voxel index ``(d, h, w)`` -> world, voxel centres at whole indices)."""
    low, high = corners[:3] - 0.5, corners[3:] - 0.5  # continuous corners -> voxel-centre index coordinates
    points = np.array(
        [[(low, high)[a][0], (low, high)[b][1], (low, high)[c][2]] for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    )
    world = (affine[:3, :3] @ points.T).T + affine[:3, 3]
    centre = affine[:3, :3] @ ((low + high) / 2) + affine[:3, 3]
    spacing = np.linalg.norm(affine[:3, :3], axis=0)  # mm per voxel step along d, h, w
    extent = (high - low) * spacing  # along d, h, w
    return {
        "center_mm": [round(float(v), 3) for v in centre],
        "center_lps_mm": [round(float(v), 3) for v in centre * LPS_FROM_RAS],
        "size_mm": [round(float(v), 3) for v in extent[::-1]],  # x (w), y (h), z (d)
        "bounds_min_mm": [round(float(v), 3) for v in world.min(axis=0)],
        "bounds_max_mm": [round(float(v), 3) for v in world.max(axis=0)],
    }


@dataclass
class VolumeDetectionPrediction:
    """The 3D detector's answer for one volume.

    Attributes:
        source: the file it was made from.
        boxes: ``(N, 6)`` float32 ``[d1, h1, w1, d2, h2, w2]`` voxels (array-axis order; score at least the
            plan's threshold).
        scores: ``(N,)`` float32.
        labels: ``(N,)`` class names.
        label_indices: ``(N,)`` class indices.
        class_names: every class of the model (for the counts).
        score_threshold: the threshold applied.
        image_size: the volume's ``(depth, height, width)``.
        affine: voxel -> world (mm) 4x4, ``None`` when the file has none.
        overlay_png: a representative slice with the boxes drawn (PNG bytes).
        overlay_path: where ``overlay_png`` was saved, once it is.
        domain: ``{"in_domain": bool, "reasons": [...]}``: the input compared with the training domain (see
            :mod:`medimg.planning.domain`), ``None`` when not checked.
        series: for a DICOM series read as the volume: its folder, ``series_uid``, ``slices``... (see
            :mod:`medimg.tasks.series_prediction`); ``None`` for a volume file.
    """

    source: str
    boxes: np.ndarray
    scores: np.ndarray
    labels: list[str]
    label_indices: list[int]
    class_names: list[str]
    score_threshold: float
    image_size: tuple[int, int, int]
    affine: np.ndarray | None = field(default=None, repr=False)
    overlay_png: bytes | None = field(default=None, repr=False)
    overlay_path: str | None = None
    domain: dict[str, Any] | None = None
    series: dict[str, Any] | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Detections per class (every class listed, zeros included)."""
        return {name: self.labels.count(name) for name in self.class_names}

    def box_records(self) -> list[dict[str, Any]]:
        """One record per box: voxel corners ``x1, y1, z1, x2, y2, z2``, ``label``, ``score`` and, with an affine,
        ``center_mm``, ``size_mm`` (x, y, z) and ``bounds_min_mm``/``bounds_max_mm`` (world, RAS+), and
        ``center_lps_mm`` (the centre in LPS+: :data:`WORLD_FRAME`)."""
        records = []
        for b, score, label, index in zip(self.boxes, self.scores, self.labels, self.label_indices, strict=True):
            record: dict[str, Any] = {
                "x1": round(float(b[2]), 2),
                "y1": round(float(b[1]), 2),
                "z1": round(float(b[0]), 2),
                "x2": round(float(b[5]), 2),
                "y2": round(float(b[4]), 2),
                "z2": round(float(b[3]), 2),
                "label": label,
                "label_index": index,
                "score": round(float(score), 5),
            }
            if self.affine is not None:
                record.update(world_geometry(np.asarray(b, dtype=np.float64), np.asarray(self.affine)))
            records.append(record)
        return records

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``source``, ``image_size`` ``[D, H, W]``, ``voxel_axes``, ``boxes``, ``counts``..."""
        return {
            "source": self.source,
            "image_size": list(self.image_size),
            "voxel_axes": VOXEL_AXES,
            **({"world_frame": WORLD_FRAME} if self.affine is not None else {}),
            "score_threshold": self.score_threshold,
            "boxes": self.box_records(),
            "counts": self.counts,
            "overlay": self.overlay_path,
            **({"domain": self.domain} if self.domain is not None else {}),
            **({"series": self.series} if self.series else {}),
        }

    def csv_rows(self) -> list[dict[str, Any]]:
        """One CSV row per box (voxel corners, label, score, centre in mm where known); a volume without
        detections gets one row with empty box fields, so every input is listed (``in_domain`` and
        ``domain_reasons`` follow when the input was checked against the training domain, then the series columns
        for a DICOM series)."""
        from medimg.tasks.prediction_table import domain_columns, series_columns

        rows = []
        for record in self.box_records():
            row = {"source": self.source, **{k: record[k] for k in ("x1", "y1", "z1", "x2", "y2", "z2")}}
            row.update({"label": record["label"], "score": record["score"]})
            if "center_mm" in record:
                row.update({f"center_{axis}_mm": v for axis, v in zip("xyz", record["center_mm"], strict=True)})
                row.update({f"center_lps_{a}_mm": v for a, v in zip("xyz", record["center_lps_mm"], strict=True)})
            rows.append(row)
        empty = {"source": self.source, "x1": "", "label": "", "score": ""}
        extra = {**domain_columns(self.domain), **series_columns(self.series)}
        return [{**row, **extra} for row in rows or [empty]]


def predict_volume(network: nn.Module, plan: DetectPlan, image: ImageData) -> VolumeDetectionPrediction:
    """Detect objects in one read volume: boxes above the plan's score threshold, and the overlay PNG.

    Raises:
        DatasetError: the image is not a volume.
    """
    from medimg.tasks.detect.data3d import prepare_volume
    from medimg.tasks.detect.evaluate3d import draw_slice, representative_slice
    from medimg.tasks.detect.inference3d import detect_volumes

    volume = prepare_volume(image.array, plan)
    found = detect_volumes(network, [volume], plan)[0].above(plan.score_threshold)
    depth, height, width = (int(v) for v in volume.shape[1:])
    prediction = VolumeDetectionPrediction(
        source=str(image.source),
        boxes=found.boxes,
        scores=found.scores,
        labels=[plan.class_names[int(k)] for k in found.labels],
        label_indices=[int(k) for k in found.labels],
        class_names=list(plan.class_names),
        score_threshold=plan.score_threshold,
        image_size=(depth, height, width),
        affine=None if image.affine is None else np.asarray(image.affine, dtype=np.float64),
    )
    index = representative_slice(np.zeros((0, 6)), found.boxes, depth)
    prediction.overlay_png = draw_slice(volume.numpy(), index, plan.class_names, predicted=found)
    return prediction


def predict_volumes(
    network: nn.Module,
    plan: DetectPlan,
    files: Sequence[Path],
    *,
    out_dir: Path | None = None,
    window: str | tuple[float, float] | None = None,
    read: Callable[[Path], ImageData] | None = None,
) -> tuple[list[VolumeDetectionPrediction], list[tuple[str, str]]]:
    """Detect objects in volume ``files``; overlays (a slice with the boxes) are written to ``out_dir`` when given,
    mirroring the inputs' folder tree (the 2D loop, :func:`medimg.tasks.detect.predict.predict_files`).

    Args:
        read: how each file is read; default :func:`medimg.io.read_image` with ``window``.

    Returns:
        The predictions of the readable files and the unusable ones as ``(path, reason)``.
    """
    from medimg.tasks.detect.predict import predict_files

    return predict_files(network, plan, files, out_dir=out_dir, window=window, read=read, detect=predict_volume)
