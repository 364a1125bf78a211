"""Segmentation data, as the segmentation task uses it; the implementation lives in :mod:`medimg.data`.

* :class:`~medimg.data.dataset.SegmentationDataset` (``load``, ``read``, ``describe``) and
  :class:`~medimg.data.dataset.SegSample`: :mod:`medimg.data.dataset`;
* :class:`~medimg.data.case.SegCase`: :mod:`medimg.data.case`;
* pairing images with masks (file roles, :func:`pairing_key`, CSV ``image,mask`` manifests):
  :mod:`medimg.data.layouts.image_mask_pairs`, the ``image_mask_pairs`` layout that ``Dataset.load`` picks for
  ``task="segment"`` or for an ``images/`` + ``masks/`` folder.
"""

from __future__ import annotations

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset, SegSample
from medimg.data.layouts.image_mask_pairs import file_role, pairing_key

__all__ = ["SegCase", "SegSample", "SegmentationDataset", "file_role", "pairing_key"]
