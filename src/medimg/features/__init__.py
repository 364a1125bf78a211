"""Image features for classical models: scikit-learn transformers and dataset-level extraction.

Transformers (``fit``/``transform`` on a sequence of images, see :mod:`medimg.features.samples`):
:class:`FirstOrderFeatures`, :class:`GLCMFeatures`, :class:`LBPFeatures`, :class:`HOGFeatures`,
:class:`ShapeFeatures`, :class:`RadiomicsFeatures` (optional pyradiomics), :class:`CNNEmbeddings`, and
:class:`FiniteFeatures` (the NaN guard on a numeric matrix). :class:`FeatureExtractor` runs a named feature
set over a dataset in parallel with a cache.

Example::

    from medimg.features import FirstOrderFeatures, GLCMFeatures
    from sklearn.pipeline import make_union
    X = make_union(FirstOrderFeatures(), GLCMFeatures()).fit_transform(images)   # images: (N, H, W)

Submodules load on first use (scikit-image and pyradiomics are not imported by ``import medimg``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LOCATIONS: dict[str, str] = {
    "ImageSample": "samples",
    "as_samples": "samples",
    "FirstOrderFeatures": "first_order",
    "first_order_stats": "first_order",
    "GLCMFeatures": "texture",
    "LBPFeatures": "texture",
    "HOGFeatures": "texture",
    "ShapeFeatures": "shape",
    "RadiomicsFeatures": "radiomics",
    "CNNEmbeddings": "embeddings",
    "FiniteFeatures": "finite",
    "MaskSpec": "masks",
    "FeatureExtractor": "extract",
    "FeatureMatrix": "extract",
    "build_feature_union": "extract",
    "parse_feature_spec": "extract",
}
__all__ = [
    "CNNEmbeddings",
    "FeatureExtractor",
    "FeatureMatrix",
    "FiniteFeatures",
    "FirstOrderFeatures",
    "GLCMFeatures",
    "HOGFeatures",
    "ImageSample",
    "LBPFeatures",
    "MaskSpec",
    "RadiomicsFeatures",
    "ShapeFeatures",
    "as_samples",
    "build_feature_union",
    "first_order_stats",
    "parse_feature_spec",
]

if TYPE_CHECKING:
    from medimg.features.embeddings import CNNEmbeddings
    from medimg.features.extract import FeatureExtractor, FeatureMatrix, build_feature_union, parse_feature_spec
    from medimg.features.finite import FiniteFeatures
    from medimg.features.first_order import FirstOrderFeatures, first_order_stats
    from medimg.features.masks import MaskSpec
    from medimg.features.radiomics import RadiomicsFeatures
    from medimg.features.samples import ImageSample, as_samples
    from medimg.features.shape import ShapeFeatures
    from medimg.features.texture import GLCMFeatures, HOGFeatures, LBPFeatures


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module 'medimg.features' has no attribute {name!r}")
    return getattr(importlib.import_module(f"medimg.features.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
