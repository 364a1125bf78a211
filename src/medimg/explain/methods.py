"""The names of the explanation methods, without torch: the CLI knows them (the overlays ``predict --explain``
writes are named after them) before :mod:`medimg.explain.cam` loads."""

from __future__ import annotations

EXPLAIN_METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "occlusion")
"""Names accepted by :func:`~medimg.explain.cam.explain_batch` (and ``medimg predict --explain``)."""
