"""The training domain of a classical run, so its predictions are checked against it as a deep model's are.

A classical model (SVM, random forest... on handcrafted features) answers any image with confident probabilities:
a 10x10 noise image and a 16-bit radiograph given to a model of 8-bit photographs got the same "benign 0.88", no
word. At fit, :func:`record_training_domain` writes the domain of the training images (formats, channels, sizes,
intensities: :mod:`medimg.planning.domain`) into the run's ``fingerprint.json``, where
:func:`~medimg.planning.domain.load_training_domain` finds it; prediction reads each input through an
:class:`~medimg.planning.domain.InputReader`, which warns of (or, strict, refuses) an input outside it and gives
each prediction its ``domain`` verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.run_folder import RunFolder

__all__ = ["DOMAIN_IMAGES", "record_training_domain"]

#: the training images read for the domain (the first of the training split: a domain needs a sample, not all)
DOMAIN_IMAGES = 200


def record_training_domain(run: RunFolder, dataset: Dataset, cases: Sequence[Case], *, seed: int = 0) -> None:
    """Write the domain of (the first :data:`DOMAIN_IMAGES` of) the training ``cases`` as read for training into
    ``run``'s ``fingerprint.json``, of the images of the most common dimensions (a multi-page TIFF among 2D images is
    left out of training too); nothing when none is readable (the features said why)."""
    from medimg.data.loading import iter_images
    from medimg.planning.domain import describe_training_domain

    arrays, metas = [], []
    for _, array, meta, _ in iter_images(dataset, list(cases)[:DOMAIN_IMAGES], desc="training domain"):
        if array is not None:
            arrays.append(array)
            metas.append(meta)
    dims = Counter(array.ndim for array in arrays).most_common(1)
    kept = [(a, m) for a, m in zip(arrays, metas, strict=True) if dims and a.ndim == dims[0][0]]  # as fit keeps them
    if kept:
        domain = describe_training_domain([a for a, _ in kept], [m for _, m in kept], seed=seed)
        run.write_json("fingerprint.json", {"domain": domain.model_dump(mode="json")})
