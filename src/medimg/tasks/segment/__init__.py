"""Segmentation: image/mask pairs -> fingerprint -> plan -> patch training -> sliding-window inference -> report.

The public entry point is the facade: ``Model("unet", task="segment").fit("data/drive")``, which returns a
:class:`~medimg.tasks.segment.model.SegmentationModel`. Modules, one responsibility each:

* :mod:`~medimg.tasks.segment.labels`: mask encodings (0/1, 0/255, label maps, colour tables) and the ignore value;
* :mod:`~medimg.tasks.segment.data`: image/mask pairs from folders, CSV manifests and NIfTI sets;
* :mod:`~medimg.tasks.segment.planning`: the segmentation fingerprint and plan (``determine_*`` heuristics);
* :mod:`~medimg.tasks.segment.networks`, :mod:`~medimg.tasks.segment.losses`: MONAI networks, masked Dice losses;
* :mod:`~medimg.tasks.segment.preprocess`, :mod:`~medimg.tasks.segment.sampling`: normalisation, resampling and
  foreground-aware patch sampling;
* :mod:`~medimg.tasks.segment.train`: the patch training loop; :mod:`~medimg.tasks.segment.inference`:
  sliding-window prediction, test-time mirrors and turns (:mod:`~medimg.tasks.segment.symmetries`) and
  post-processing;
* :mod:`~medimg.tasks.segment.metrics`, :mod:`~medimg.tasks.segment.report`: per-case metrics, CIs, HTML report.

Importing this package is light: torch and MONAI load inside the modules that need them.
"""

from __future__ import annotations
