"""Detection with an exported ONNX graph, torch-free: numpy preprocessing, anchors, box decoding and NMS.

The graph (:func:`medimg.export.onnx_export.export_onnx` on a detection bundle) maps ``image`` ``(batch, C, H, W)``
float32 at the input scale, normalised and zero-padded to multiples of 32 (what torchvision's transform hands the
backbone), to the detector's raw per-anchor outputs,
levels concatenated finest first: ``cls_logits`` ``(batch, A, K)``, ``bbox_regression`` ``(batch, A, 4)`` and, for
FCOS, ``bbox_ctrness`` ``(batch, A, 1)``. This module does what torchvision's detector does after its head, in
numpy: the anchors of each level, per-level score threshold and top-k, box decoding, clipping, class-wise NMS,
and the mapping back to the file's pixels. Importing it loads neither torch nor torchvision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from medimg.errors import DatasetError
from medimg.export.segment import _antialiased_axis
from medimg.tasks.detect.metrics import MIN_BOX_SIDE, has_area

DETECT_PREPROCESSING_KEYS = (
    "network",
    "in_channels",
    "input_size",
    "clip_low",
    "clip_high",
    "norm_mean",
    "norm_std",
    "fpn_strides",
    "anchor_sizes",
    "anchor_scales",
    "aspect_ratios",
    "candidate_threshold",
    "score_threshold",
    "nms_iou",
    "detections_per_image",
    "topk_candidates",
)
"""Plan fields a detection ONNX file carries (``medimg.preprocessing``)."""
DETECT_OPTIONAL_KEYS = ("normalisation",)
"""Plan fields an export carries when its plan has them; older exports lack them (read as the default)."""
PER_IMAGE_PERCENTILES = (0.5, 99.5)
"""``normalisation: per_image``: these percentiles of each image (volume) map to 0 and 1."""
SIZE_MULTIPLE = 32
BBOX_CLIP = math.log(1000.0 / 16)
RETINANET_ANCHOR_FACTOR = 4.0
"""As :data:`medimg.tasks.detect.networks.RETINANET_ANCHOR_FACTOR` (this module imports no torch)."""
"""torchvision's clamp of RetinaNet's log-size deltas."""


def detect_spec(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The preprocessing and decoding spec of a detection plan (JSON-ready)."""
    spec = {key: plan[key] for key in DETECT_PREPROCESSING_KEYS}
    spec.update({key: plan[key] for key in DETECT_OPTIONAL_KEYS if key in plan})
    return spec


def unit_range(x: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """Intensities mapped to 0..1 as the plan says: its clip range (``normalisation: dataset``, the default) or
    the image's own 0.5-99.5th percentiles (``per_image``), clipped to [0, 1]."""
    if spec.get("normalisation", "dataset") == "per_image":
        low, high = (float(v) for v in np.percentile(x, PER_IMAGE_PERCENTILES))
    else:
        low, high = float(spec["clip_low"]), float(spec["clip_high"])
    return np.clip((x - low) / max(high - low, 1e-6), 0.0, 1.0)


# ------------------------------------------------------------------------------------------- preprocessing
def to_unit(array: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """As :func:`medimg.tasks.detect.data.to_unit`: channels converted, intensities mapped to 0..1."""
    x = np.asarray(array, dtype=np.float32)
    x = x[None] if x.ndim == 2 else x
    channels = int(spec["in_channels"])
    if x.shape[0] == 4:
        x = x[:3]
    if x.shape[0] != channels:
        x = np.repeat(x[:1], channels, axis=0) if x.shape[0] == 1 else x.mean(0, keepdims=True)
        if x.shape[0] != channels:
            x = np.repeat(x[:1], channels, axis=0)
    return unit_range(x, spec)


def not_2d_for_detection(shape: Sequence[int]) -> str:
    """Why an array of ``shape`` cannot be detected in (the PyTorch engine's words)."""
    return f"detection works on 2D images; got an array of shape {tuple(shape)}"


def input_scale(shape: Sequence[int], input_size: Sequence[int]) -> float:
    """The resize factor of an image of ``(height, width)`` (short side to the input's short side, long side at
    most the input's long side)."""
    return min(min(input_size) / min(shape), max(input_size) / max(shape))


def prepare_image(array: np.ndarray, spec: Mapping[str, Any]) -> tuple[np.ndarray, tuple[float, float]]:
    """An image as the graph takes it, as :func:`medimg.tasks.detect.data.prepare_image` makes it: ``(C, h, w)``
    float32 0..1 (antialiased bilinear resize) and the ``(y, x)`` factors to it.

    Raises:
        DatasetError: ``array`` is not one 2D image ``(C, H, W)`` (a volume: a ValueError traceback before).
    """
    if array.ndim != 3:
        raise DatasetError(not_2d_for_detection(array.shape))
    x = to_unit(array, spec)
    height, width = x.shape[1:]
    scale = input_scale((height, width), spec["input_size"])
    new = (max(1, round(height * scale)), max(1, round(width * scale)))
    if new[1] != width:
        x = _antialiased_axis(x, new[1], 2)
    if new[0] != height:
        x = _antialiased_axis(x, new[0], 1)
    return x.astype(np.float32), (new[0] / height, new[1] / width)


def normalise(image: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """``(x - mean) / std`` per channel (torchvision's transform), before padding."""
    mean = np.asarray(spec["norm_mean"], dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(spec["norm_std"], dtype=np.float32).reshape(-1, 1, 1)
    return ((image - mean) / std).astype(np.float32)


def pad_batch(images: Sequence[np.ndarray]) -> np.ndarray:
    """``(N, C, H, W)``: normalised images zero-padded at the bottom/right to a common size, sides multiples of
    32 (torchvision's ``batch_images``)."""
    height = max(x.shape[1] for x in images)
    width = max(x.shape[2] for x in images)
    height, width = (int(math.ceil(v / SIZE_MULTIPLE) * SIZE_MULTIPLE) for v in (height, width))
    out = np.zeros((len(images), images[0].shape[0], height, width), dtype=np.float32)
    for i, x in enumerate(images):
        out[i, :, : x.shape[1], : x.shape[2]] = x
    return out


# --------------------------------------------------------------------------------------------- anchors
def _base_anchors(sizes: Sequence[float], ratios: Sequence[float]) -> np.ndarray:
    """torchvision's ``AnchorGenerator.generate_anchors``: zero-centred ``(n, 4)``, rounded."""
    scales = np.asarray(sizes, dtype=np.float32)
    aspect = np.asarray(ratios, dtype=np.float32)
    h_ratios = np.sqrt(aspect)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return np.round(np.stack([-ws, -hs, ws, hs], axis=1) / 2)


def level_anchors(spec: Mapping[str, Any], height: int, width: int) -> list[np.ndarray]:
    """Anchors ``(H_l * W_l * n, 4)`` of each FPN level for a padded input of ``height`` x ``width``."""
    out = []
    fcos = spec["network"] == "fcos"
    for stride, size in zip(spec["fpn_strides"], spec["anchor_sizes"], strict=True):
        if fcos:
            base = _base_anchors([float(size)], [1.0])
        else:
            base = _base_anchors(
                [RETINANET_ANCHOR_FACTOR * float(size) * m for m in spec["anchor_scales"]], spec["aspect_ratios"]
            )
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        shift_y, shift_x = np.meshgrid(np.arange(rows) * stride, np.arange(cols) * stride, indexing="ij")
        shifts = np.stack([shift_x.ravel(), shift_y.ravel(), shift_x.ravel(), shift_y.ravel()], axis=1)
        out.append((shifts[:, None, :] + base[None, :, :]).reshape(-1, 4).astype(np.float32))
    return out


def decode(codes: np.ndarray, anchors: np.ndarray, fcos: bool) -> np.ndarray:
    """Box regression -> corners: FCOS's ``BoxLinearCoder`` (distances normalised by the anchor size) or
    RetinaNet's ``BoxCoder`` (weights 1: centre offsets and log sizes)."""
    widths = anchors[:, 2] - anchors[:, 0]
    heights = anchors[:, 3] - anchors[:, 1]
    cx = anchors[:, 0] + 0.5 * widths
    cy = anchors[:, 1] + 0.5 * heights
    if fcos:
        c = codes * np.stack([widths, heights, widths, heights], axis=1)
        return np.stack([cx - c[:, 0], cy - c[:, 1], cx + c[:, 2], cy + c[:, 3]], axis=1)
    dw = np.minimum(codes[:, 2], BBOX_CLIP)
    dh = np.minimum(codes[:, 3], BBOX_CLIP)
    px, py = codes[:, 0] * widths + cx, codes[:, 1] * heights + cy
    pw, ph = np.exp(dw) * widths, np.exp(dh) * heights
    half = 0.5
    return np.stack([px - half * pw, py - half * ph, px + half * pw, py + half * ph], axis=1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS (highest score first; a box is dropped when its IoU with a kept one exceeds
    ``iou``), as torchvision's ``nms``."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        x1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        y1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        x2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        y2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        union = areas[i] + areas[rest] - inter
        overlap = np.divide(
            inter, union, out=np.zeros_like(inter), where=union > 0
        )  # torchvision: 0/0 never suppresses
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def postprocess(
    outputs: Mapping[str, np.ndarray],
    spec: Mapping[str, Any],
    padded: tuple[int, int],
    image_size: tuple[int, int],
    *,
    threshold: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw outputs (``cls_logits`` ``(A, K)``, ``bbox_regression`` ``(A, 4)``[, ``bbox_ctrness``])
    -> ``(boxes (N, 4), scores (N,), labels (N,))`` at the input scale, as torchvision's ``postprocess_detections``.

    Args:
        padded: the padded input's ``(height, width)`` (the anchors).
        image_size: the image's own size at the input scale (boxes are clipped to it).
        threshold: score threshold (default the spec's candidate threshold).
    """
    fcos = spec["network"] == "fcos"
    anchors = level_anchors(spec, *padded)
    counts = [len(a) for a in anchors]
    logits = outputs["cls_logits"]
    regression = outputs["bbox_regression"]
    ctrness = outputs.get("bbox_ctrness")
    threshold = float(spec["candidate_threshold"]) if threshold is None else threshold
    n_classes = logits.shape[-1]
    all_boxes, all_scores, all_labels = [], [], []
    start = 0
    for level, count in enumerate(counts):
        part = slice(start, start + count)
        start += count
        probabilities = _sigmoid(logits[part].astype(np.float64))
        if fcos:
            assert ctrness is not None
            probabilities = np.sqrt(probabilities * _sigmoid(ctrness[part].astype(np.float64)))
        flat = probabilities.ravel()
        candidates = np.nonzero(flat > threshold)[0]
        top = min(int(spec["topk_candidates"]), candidates.size)
        order = np.argsort(-flat[candidates], kind="stable")[:top]
        chosen = candidates[order]
        anchor_index, labels = chosen // n_classes, chosen % n_classes
        boxes = decode(regression[part][anchor_index].astype(np.float64), anchors[level][anchor_index], fcos)
        height, width = image_size
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height)
        all_boxes.append(boxes)
        all_scores.append(flat[chosen])
        all_labels.append(labels)
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4))
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    labels = np.concatenate(all_labels).astype(np.int64) if all_labels else np.zeros(0, np.int64)
    kept = []
    for label in np.unique(labels):
        index = np.nonzero(labels == label)[0]
        kept.append(index[nms(boxes[index], scores[index], float(spec["nms_iou"]))])
    keep = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    keep = keep[np.argsort(-scores[keep], kind="stable")][: int(spec["detections_per_image"])]
    keep = keep[has_area(boxes[keep])]  # beyond the border, clipped to it: no area, no detection
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32), labels[keep]


def run_graph(
    run: Callable[[np.ndarray], Mapping[str, np.ndarray]], images: Sequence[np.ndarray], spec: Mapping[str, Any]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Detections of prepared images (one graph run each, so no image is padded beyond its own multiple of 32,
    exactly like a batch of one in PyTorch)."""
    results = []
    for x in images:
        batch = pad_batch([normalise(x, spec)])
        outputs = run(batch)
        single = {k: np.asarray(v)[0] for k, v in outputs.items()}
        results.append(postprocess(single, spec, (batch.shape[2], batch.shape[3]), (x.shape[1], x.shape[2])))
    return results


# ------------------------------------------------------------------------------------------------ in words
def detect_preprocessing_steps(spec: Mapping[str, Any], *, window: Any = None) -> list[str]:
    """A detector's whole inference in words, in order, for a client that has only the ``.onnx`` file (or its
    ``.export.json``) and no medimg: the fields of ``spec`` (:func:`detect_spec`, ``medimg.preprocessing``) say the
    numbers, these steps say what to do with them, as :class:`~medimg.export.predictor.OnnxPredictor`'s
    ``detect_images`` does (:func:`prepare_image`, :func:`run_graph`, :func:`postprocess`).

    Args:
        spec: the detection fields of an export (:data:`DETECT_PREPROCESSING_KEYS`).
        window: the run's intensity window (``medimg.input`` ``window``), if any.
    """
    channels = int(spec["in_channels"])
    size = [int(s) for s in spec["input_size"]]
    fcos = spec["network"] == "fcos"
    low, high = spec["clip_low"], spec["clip_high"]
    names = ["cls_logits", "bbox_regression"] + (["bbox_ctrness"] if fcos else [])
    steps = [
        "read the image as float32 channel-first (C, H, W), stored values (DICOM: after RescaleSlope/Intercept; "
        "non-CT DICOM mapped to 0..255 by its own VOI window); 2D only"
        + (f"; apply the intensity window {window} (centre, width or CT preset) as at training" if window else ""),
        f"convert to {channels} channel(s): RGBA to RGB by dropping alpha; then, if the count still differs, one "
        "channel is repeated, more are averaged (their mean) and the mean repeated if the model takes more",
        (
            "map intensities to 0..1: (x - p0.5) / (p99.5 - p0.5), clipped to [0, 1], where p0.5 and p99.5 are "
            "the 0.5th and 99.5th percentiles of this image (all channels, after the conversion)"
            if spec.get("normalisation", "dataset") == "per_image"
            else f"map intensities to 0..1: (x - {low}) / ({high} - {low}), clipped to [0, 1]"
        ),
        f"resize by scale = min({min(size)} / min(H, W), {max(size)} / max(H, W)) to (round(H * scale), "
        "round(W * scale)), each at least 1; bilinear, align_corners=False, antialiased when shrinking (torch "
        "interpolate antialias=True), columns first; keep the factors (new H / H, new W / W)",
        f"per channel subtract {spec['norm_mean']} and divide by {spec['norm_std']}",
        f"zero-pad at the bottom and right to multiples of {SIZE_MULTIPLE}; input 'image' (1, {channels}, H', W') "
        f"float32, one image per run; outputs {', '.join(repr(n) for n in names)} per anchor, FPN levels "
        "concatenated finest first",
    ]
    strides = [int(s) for s in spec["fpn_strides"]]
    sizes = [float(s) for s in spec["anchor_sizes"]]
    if fcos:
        steps.append(
            f"anchors per level (strides {strides}, sizes {sizes}): at every grid point (x * stride, y * stride), "
            "x over ceil(W' / stride) and y over ceil(H' / stride), row by row, one square box of the level's size "
            "with corners round(-size/2), round(+size/2) around it"
        )
        steps.append(
            "decode: box = (cx - d0 * w, cy - d1 * h, cx + d2 * w, cy + d3 * h) from the anchor's centre (cx, cy) "
            "and size (w, h) and 'bbox_regression' (d0..d3); score = sqrt(sigmoid('cls_logits') * "
            "sigmoid('bbox_ctrness'))"
        )
    else:
        steps.append(
            f"anchors per level (strides {strides}, sizes {sizes}): at every grid point (x * stride, y * stride), "
            "x over ceil(W' / stride) and y over ceil(H' / stride), row by row, one box per aspect ratio r "
            f"{list(spec['aspect_ratios'])} (outer) and scale m {list(spec['anchor_scales'])} (inner): s = "
            f"{RETINANET_ANCHOR_FACTOR:g} * size * m, w = s / sqrt(r), h = s * sqrt(r), corners round(-w/2, -h/2, "
            "w/2, h/2) around the point"
        )
        steps.append(
            "decode (torchvision BoxCoder, weights 1) from the anchor's centre (cx, cy) and size (w, h) and "
            "'bbox_regression' (dx, dy, dw, dh): centre (cx + dx * w, cy + dy * h), width w * exp(min(dw, "
            "log(1000 / 16))), height h * exp(min(dh, log(1000 / 16))); score = sigmoid('cls_logits')"
        )
    steps += [
        f"per level: keep (anchor, class) scores above {spec['candidate_threshold']}, at most the "
        f"{int(spec['topk_candidates'])} highest; clip the boxes to the resized image (before padding)",
        f"non-maximum suppression per class: highest score first, drop a box whose IoU with a kept one is above "
        f"{spec['nms_iou']}; keep the {int(spec['detections_per_image'])} highest-scoring boxes over all classes, "
        f"then drop those narrower or lower than {MIN_BOX_SIDE:g} px (placed beyond the image, clipped to a line)",
        f"report the boxes scoring at least {spec['score_threshold']}: (x0, y0, x1, y1) with x divided by the width "
        "factor and y by the height factor (the file's pixels); the class index names medimg.class_names",
    ]
    return steps
