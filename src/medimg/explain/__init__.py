"""Explanations for classification networks: where in the image did the evidence come from?

Example:
    >>> from medimg.explain import explain_batch, overlay_png
    >>> heatmaps = explain_batch(network, x, method="gradcam")     # doctest: +SKIP
    >>> png = overlay_png(image.array, heatmaps[0], image.meta)    # doctest: +SKIP

Methods (:data:`EXPLAIN_METHODS`): ``gradcam`` (Selvaraju et al. 2017), ``gradcam++`` (Chattopadhay et al.
2018) and ``occlusion`` (occlusion sensitivity, MONAI's implementation). All work for 2D and 3D networks;
the Grad-CAM family needs a convolutional target layer (``ClassificationNet.target_layer_name``).

The overlay helpers need only numpy and Pillow; :mod:`medimg.explain.cam` (torch) loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medimg.explain.overlay import display_image, heatmap_rgba, overlay_png, overlay_rgb, representative_slice

if TYPE_CHECKING:
    from medimg.explain.cam import EXPLAIN_METHODS, TargetLayerError, explain_batch, resolve_target_layer

__all__ = [
    "EXPLAIN_METHODS",
    "TargetLayerError",
    "display_image",
    "explain_batch",
    "heatmap_rgba",
    "overlay_png",
    "overlay_rgb",
    "representative_slice",
    "resolve_target_layer",
]

_CAM_NAMES = {"EXPLAIN_METHODS", "TargetLayerError", "explain_batch", "resolve_target_layer"}


def __getattr__(name: str) -> Any:
    if name in _CAM_NAMES:
        from medimg.explain import cam

        return getattr(cam, name)
    raise AttributeError(f"module 'medimg.explain' has no attribute {name!r}")
