"""What the service stores for a detection: the boxes, the counts per class and the report's headline fields.

A pure function of a :class:`~medimg.tasks.detect.predict.DetectionPrediction` (no torch): boxes stay in the
uploaded image's pixels (the page scales them onto the displayed picture), every class is counted (zeros
included), and the headline is the most frequent class. ``probabilities`` of a detection report hold the highest
detection score of each class (0 when the class was not found): a detector gives scores per box, not one
probability per image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medimg.tasks.detect.predict import DetectionPrediction


def detection_fields(prediction: DetectionPrediction, nms_iou: float) -> dict[str, Any]:
    """The report fields of one detection: ``label`` (the class with most boxes, or ``"none"``), ``label_index``
    (-1 when nothing was found), ``confidence`` (that class's highest box score), ``probabilities`` (highest score per
    class) and ``detection`` (boxes, counts, colours, the decoding used, the image size)."""
    from medimg.tasks.detect.report import PALETTE  # the overlay's box colours, so page and picture agree

    names = prediction.class_names
    counts = prediction.counts
    best: dict[str, float] = dict.fromkeys(names, 0.0)
    for label, score in zip(prediction.labels, prediction.scores, strict=True):
        best[label] = max(best[label], round(float(score), 6))
    found = [name for name in names if counts[name] > 0]
    top = max(found, key=lambda name: (counts[name], best[name])) if found else None
    detection = {
        "image_size": list(prediction.image_size),
        "score_threshold": float(prediction.score_threshold),
        "nms_iou": float(nms_iou),
        "counts": counts,
        "total": int(sum(counts.values())),
        "colours": {name: "#{:02x}{:02x}{:02x}".format(*PALETTE[i % len(PALETTE)]) for i, name in enumerate(names)},
        "boxes": prediction.to_dict()["boxes"],
    }
    return {
        "label": top or "none",
        "label_index": names.index(top) if top else -1,
        "confidence": best[top] if top else 0.0,  # of the reported label, not of another class
        "probabilities": best,
        "explain_method": None,
        "heatmap_png": None,
        "overlay_png": prediction.overlay_png,
        "detection": detection,
    }


def count_text(detection: dict[str, Any]) -> str:
    """``"12 RBC, 1 WBC"`` (classes with at least one box), or ``"nothing detected"``."""
    found = [f"{n} {name}" for name, n in detection.get("counts", {}).items() if n > 0]
    return ", ".join(found) if found else "nothing detected"
