"""Generation report: Fréchet distance, precision and recall in the feature classifier's space (overall and per
class, with the real-vs-real reference at the same sample size), the memorisation check, image grids per class
and the closest synthetic-training pairs (JSON + HTML).

:class:`GenerationReport` extends the shared :class:`~medimg.evaluation.report.Report` with its own sections;
:func:`image_grid` and :func:`pair_strip` draw the pictures (PIL, no matplotlib).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from medimg.evaluation import html
from medimg.evaluation.report import Report

HEADLINE = ("fd", "precision", "recall", "memorised_share")
PER_CLASS_COLUMNS = (
    html.Column("class", "Class", kind="text", row_header=True),
    html.Column("n_real", "Real images", digits=0),
    html.Column("n_synthetic", "Synthetic images", digits=0),
    html.Column("fd", "FD", digits=2),
    html.Column("fd_real_reference", "FD real vs real", digits=2),
    html.Column("precision", "Precision"),
    html.Column("recall", "Recall"),
)


@dataclass(kw_only=True)
class GenerationReport(Report):
    """Evaluation of a generative model against the real images of one split.

    Attributes:
        metrics: ``n`` (real images compared), ``n_synthetic``, ``class_names``, ``fd``, ``precision``, ``recall``,
            ``fd_real_reference`` / ``precision_real_reference`` / ``recall_real_reference`` (the training
            images against the split's at the same size: what a generator that reproduces the data scores),
            ``memorised_share`` (synthetic images closer to a training image than 99% of the split's real images
            are, or identical to one), ``real_copies_of_training_images`` (real images of the split identical to a
            training image: left out of that threshold), ``nn_distance_synthetic_median`` and
            ``nn_distance_real_median`` (RMS per pixel in [-1, 1] units to the nearest training image),
            ``feature_space``, ``nearest_k``, ``per_class`` rows.
        closest_pairs: the synthetic images nearest to a training image: ``synthetic_index``, ``training_case``,
            ``distance``, ``class``.
    """

    FORMAT: ClassVar[str] = "medimg.generation_report"
    TITLE: ClassVar[str] = "Generation report"
    METRIC_LABELS: ClassVar[Mapping[str, str]] = {
        "fd": "Fréchet distance (features)",
        "precision": "Precision (k-NN manifold)",
        "recall": "Recall (k-NN manifold)",
        "memorised_share": "Share of near-copies of training images",
    }
    GLOSSARY: ClassVar[Sequence[tuple[str, str]]] = (
        (
            "Feature space",
            "The penultimate layer of a medimg classifier trained on the real training split (named under Run "
            "details); no ImageNet network is downloaded, so values do not compare with published FIDs.",
        ),
        (
            "Fréchet distance (FD)",
            "Distance between Gaussians fitted to the real and the synthetic features; lower is better. It depends "
            "on the sample size (it is biased upwards, the more so the fewer images): compare it with the "
            "real-vs-real reference, computed at the same size. Its interval is the FD's range at this size (a "
            "jackknife, which never counts an image twice); it needs more images than feature dimensions to mean "
            "much.",
        ),
        (
            "Precision and recall",
            "Kynkäänniemi et al. (2019): precision is the share of synthetic images inside the real images' k-NN "
            "manifold (realism); recall the share of real images inside the synthetic manifold (diversity).",
        ),
        (
            "Memorisation",
            "Each synthetic image's RMS distance to its nearest training image, against the same distance of the "
            "split's real images. A near-copy is closer than 99% of the real images are; a generator that copies "
            "its training set shows many.",
        ),
    )
    task: str = field(default="generate", init=False)
    closest_pairs: list[dict[str, Any]] = field(default_factory=list)

    def headline_intro(self) -> str:
        from medimg.tasks.generate.metrics import small_sample_note

        m = self.metrics
        fd = self.confidence_intervals.get("fd", {})
        if fd.get("method") == "jackknife":
            how = (
                f"{self.ci_label()}s: the FD plus or minus 1.96 standard errors of a delete-a-group jackknife "
                f"({fd.get('groups')} groups per set; the FD's range at this sample size, its small-sample bias "
                f"about {html.format_value(fd.get('small_sample_bias'), 2)}), precision and recall from a percentile "
                f"bootstrap of their per-image indicators ({self._ci_setting('n_resamples')} resamples)"
            )
        else:  # a report written before the jackknife
            how = f"{self.bootstrap_text()} (resampling both sets)"
        note = small_sample_note(int(m.get("n") or 0), int(m.get("feature_dim") or 0)) if m.get("feature_dim") else None
        return html.paragraph(
            f"{m.get('n_synthetic')} synthetic images against {m.get('n')} real {html.escape(self.split)} images "
            f"with {html.escape(how)}. Real-vs-real reference at the same "
            f"size: FD {html.format_value(m.get('fd_real_reference'), 2)}, precision "
            f"{html.format_value(m.get('precision_real_reference'))}, recall "
            f"{html.format_value(m.get('recall_real_reference'))}."
            + (f" Warning: {html.escape(note)}." if note else "")
        )

    def task_sections(self, images: Mapping[str, bytes]) -> list[str]:
        sections = [html.section("Per class", html.table(self.metrics.get("per_class", []), PER_CLASS_COLUMNS))]
        grids = [
            html.figure(data, key.removeprefix("grid:")) for key, data in images.items() if key.startswith("grid:")
        ]
        if grids:
            sections.append(
                html.section(
                    "Samples per class",
                    html.paragraph("Synthetic images (left of each pair of grids) and real images of the same class.")
                    + html.figure_grid(grids),
                )
            )
        memorisation = html.key_value_table(
            {
                "median distance, synthetic -> nearest training image": self.metrics.get(
                    "nn_distance_synthetic_median"
                ),
                "median distance, real split -> nearest training image": self.metrics.get("nn_distance_real_median"),
                "real split images that are copies of training images (left out of the threshold)": (
                    self.metrics.get("real_copies_of_training_images")
                ),
                "near-copy threshold (1st percentile of the real distances)": self.metrics.get("copy_threshold"),
                "share of synthetic images below it": self.metrics.get("memorised_share"),
            }
        )
        pairs = images.get("closest_pairs")
        body = memorisation + (
            html.figure(pairs, "Closest synthetic (top) - training (bottom) pairs, nearest first") if pairs else ""
        )
        sections.append(html.section("Memorisation check", body))
        return sections


def to_picture(image: np.ndarray) -> np.ndarray:
    """A channel-first image in [-1, 1] -> a uint8 picture ``(H, W)`` or ``(H, W, 3)`` (3D: the middle slice)."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 4:
        array = array[:, array.shape[1] // 2]
    picture = ((np.clip(array, -1, 1) + 1) * 127.5).round().astype(np.uint8)
    return picture[0] if picture.shape[0] == 1 else np.moveaxis(picture[:3], 0, -1)


def png(picture: np.ndarray) -> bytes:
    """PNG bytes of a uint8 picture."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_grid(images: Sequence[np.ndarray], columns: int = 8, gap: int = 2, min_side: int = 48) -> bytes:
    """PNG of ``images`` (channel-first, [-1, 1]) in rows of ``columns``, each enlarged to ``min_side`` at least."""
    pictures = [to_picture(image) for image in images]
    if not pictures:
        return png(np.zeros((8, 8), dtype=np.uint8))
    scale = max(1, -(-min_side // pictures[0].shape[0]))
    pictures = [np.kron(p, np.ones((scale, scale) + (1,) * (p.ndim - 2), dtype=np.uint8)) for p in pictures]
    h, w = pictures[0].shape[:2]
    rows = -(-len(pictures) // columns)
    cols = min(columns, len(pictures))
    canvas = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, *pictures[0].shape[2:]), 255, dtype=np.uint8)
    for i, picture in enumerate(pictures):
        r, c = divmod(i, columns)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = picture
    return png(canvas)


def pair_strip(top: Sequence[np.ndarray], bottom: Sequence[np.ndarray]) -> bytes:
    """PNG of two rows: ``top[i]`` above ``bottom[i]``."""
    return image_grid([*top, *bottom], columns=max(1, len(top)))
