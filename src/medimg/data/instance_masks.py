"""Masks that label objects, not classes (GlaS's glands, nuclei: each object its own value ``1..n``): the thresholds
by which segmentation reads them as one foreground class
(:meth:`medimg.tasks.segment.labels.MaskValueSurvey.instance_maps`) and detection derives one box per object
(:mod:`medimg.data.layouts.mask_boxes`) alike."""

from __future__ import annotations

#: at least this many different object counts over the masks...
INSTANCE_MIN_COUNTS = 5
#: ... up to at least this many objects in one image
INSTANCE_MIN_MAX = 8
#: an object label's pieces, on average, in a mask whose values are objects (one drawn over another splits it)
OBJECT_PIECES = 1.5
