"""Offline deployment: ONNX export (PyTorch side) and the torch-free ONNX Runtime predictor, for classification
and segmentation runs.

Example:
    >>> from medimg.export import export_onnx
    >>> result = export_onnx("runs/herlev/exp1")                      # any run folder (bundle)  # doctest: +SKIP
    >>> from medimg.export import OnnxPredictor                       # needs only medimg[onnx]
    >>> OnnxPredictor("runs/herlev/exp1/model.onnx").predict("cell.bmp")[0].label   # doctest: +SKIP
    >>> OnnxPredictor("runs/discs/exp1").predict("case.png")[0].voxels             # segmentation  # doctest: +SKIP

Importing this package imports neither torch nor onnxruntime; :mod:`medimg.export.onnx_export` (torch) and
:mod:`medimg.export.predictor` (onnxruntime, numpy) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medimg.export.onnx_export import ExportResult, export_onnx
    from medimg.export.predictor import OnnxPredictor

__all__ = ["ExportResult", "OnnxPredictor", "export_onnx"]


def __getattr__(name: str) -> Any:
    if name in {"ExportResult", "export_onnx"}:
        from medimg.export import onnx_export

        return getattr(onnx_export, name)
    if name == "OnnxPredictor":
        from medimg.export.predictor import OnnxPredictor

        return OnnxPredictor
    raise AttributeError(f"module 'medimg.export' has no attribute {name!r}")
