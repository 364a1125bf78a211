"""Segmentation: image/mask pairs -> fingerprint -> plan -> patch training -> sliding-window inference -> report.

The public entry point is the facade: ``Model("unet", task="segment").fit("data/drive")``, which returns a
:class:`~medimg.segmentation.model.SegmentationModel`. Modules, one responsibility each:

* :mod:`~medimg.segmentation.labels`: mask encodings (0/1, 0/255, label maps, colour tables) and the ignore value;
* :mod:`~medimg.segmentation.data`: image/mask pairs from folders, CSV manifests and NIfTI sets;
* :mod:`~medimg.segmentation.planning`: the segmentation fingerprint and plan (``determine_*`` heuristics);
* :mod:`~medimg.segmentation.networks`, :mod:`~medimg.segmentation.losses`: MONAI networks, masked Dice losses;
* :mod:`~medimg.segmentation.preprocess`, :mod:`~medimg.segmentation.sampling`: normalisation, resampling and
  foreground-aware patch sampling;
* :mod:`~medimg.segmentation.train`: the patch training loop; :mod:`~medimg.segmentation.inference`:
  sliding-window prediction, test-time flips and post-processing;
* :mod:`~medimg.segmentation.metrics`, :mod:`~medimg.segmentation.report`: per-case metrics, CIs, HTML report.

Importing this package is light: torch and MONAI load inside the modules that need them.
"""

from __future__ import annotations
