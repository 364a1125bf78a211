"""Evaluating a generative model against the real images of a split: samples with the split's labels, Fréchet
distance and precision/recall in the feature space (with CIs and the real-vs-real reference), the
memorisation check against the training split, and the report with image grids (JSON + HTML)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medimg.errors import DatasetError
from medimg.evaluation.training_curves import write_training_curves
from medimg.io.formats import safe_file_name, unclaimed_path
from medimg.tasks.generate.features import feature_space_of_run
from medimg.tasks.generate.metrics import (
    JACKKNIFE_GROUPS,
    frechet_distance,
    frechet_jackknife,
    nearest_distances,
    precision_recall,
    small_sample_note,
)
from medimg.tasks.generate.plan import GeneratePlan
from medimg.tasks.generate.report import GenerationReport, image_grid, pair_strip

logger = logging.getLogger(__name__)

EVALUATION_SEED = 2024
"""Seed of the evaluation samples (and of the subsampling)."""
COPY_PERCENTILE = 1.0
"""A synthetic image closer to a training image than this percentile of the real split's distances is a
near-copy."""
COPY_DISTANCE = 1e-4
"""RMS distance (in [-1, 1] units) at or below which two images are the same picture (float rounding)."""
MIN_CLASS_IMAGES = 5
"""Per-class metrics need this many real images of the class."""
MAX_BOOTSTRAP = 100
"""Bootstrap resamples at most (each one refits two covariance matrices)."""
GRID_IMAGES = 16
CLOSEST_PAIRS = 8


def evaluate_generator(
    model: Any,
    dataset: Any,
    cases: Sequence[Any],
    *,
    split: str,
    out_dir: Path,
    n_resamples: int = 1000,
    strict: bool = False,
    extra: dict[str, Any] | None = None,
    load_dataset: Callable[..., Any],
) -> GenerationReport:
    """Compare samples of ``model`` with the real images of ``cases``; write ``out_dir/report.{json,html}``.

    ``load_dataset(path, **options)`` loads the run's training data when ``dataset`` is another set (the task's
    :meth:`~medimg.tasks.generate.task.GenerateTask.load_dataset`)."""
    from medimg.tasks.generate.data import read_real
    from medimg.tasks.generate.sampling import require_finite, sample_images

    plan: GeneratePlan = model.plan_
    network = model.network_
    run_dir = Path(model.run_dir_ or ".")
    _refuse_other_units(model, dataset, cases, plan)
    real = read_real(dataset, cases, plan, strict=strict)
    real.y = generator_labels(dataset, real.y, plan)
    if len(real) < 2:
        raise DatasetError(f"{dataset.name}: fewer than 2 readable {split} images to compare samples with")
    rng = np.random.default_rng(EVALUATION_SEED)
    n = min(len(real), plan.eval_samples)
    chosen = np.sort(rng.permutation(len(real))[:n])
    real_x, real_y = real.x[chosen].float(), real.y[chosen]
    fake_x = require_finite(sample_images(network, plan, real_y, seed=EVALUATION_SEED), run_dir)
    train = _training_images(model, dataset, plan, strict, load_dataset)
    space = feature_space_of_run(run_dir, plan)
    real_f = space.embed(real_x, plan.eval_batch_size)
    fake_f = space.embed(fake_x, plan.eval_batch_size)
    train_pick = np.sort(rng.permutation(len(train))[:n]) if len(train) else np.zeros(0, dtype=np.int64)
    train_f = space.embed(train.x[train_pick].float(), plan.eval_batch_size) if len(train_pick) >= 2 else None

    k = plan.nearest_k
    in_real, in_fake = precision_recall(real_f, fake_f, k)
    metrics: dict[str, Any] = {
        "n": int(n),
        "n_synthetic": len(fake_x),
        "class_names": list(plan.class_names),
        "fd": frechet_distance(real_f, fake_f),
        "precision": float(in_real.mean()),
        "recall": float(in_fake.mean()),
        "feature_space": str(space.source),
        "feature_dim": int(real_f.shape[1]),
        "nearest_k": k,
        "fd_real_reference": None,
        "precision_real_reference": None,
        "recall_real_reference": None,
    }
    note = small_sample_note(int(n), int(real_f.shape[1]))
    if note:
        logger.warning("%s split: %s", split, note)
    if train_f is not None:
        ref_precision, ref_recall = precision_recall(real_f, train_f, k)
        metrics["fd_real_reference"] = frechet_distance(real_f, train_f)
        metrics["precision_real_reference"] = float(ref_precision.mean())
        metrics["recall_real_reference"] = float(ref_recall.mean())
    metrics["per_class"] = _per_class(plan, real_y.numpy(), real_f, fake_f, train.y[train_pick].numpy(), train_f, k)
    closest: list[dict[str, Any]] = []
    pair_images: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    if len(train):
        synthetic_nn, synthetic_index = nearest_distances(fake_x, train.x)
        real_nn, _ = nearest_distances(real_x, train.x)
        threshold, memorised, real_copies = memorisation(synthetic_nn, real_nn)
        if real_copies:
            logger.warning(
                "%d of the %d %s images compared are copies of training images (identical pixels): the "
                "memorisation check leaves them out of its threshold; the data holds duplicates across its splits "
                "(medimg check lists them)",
                real_copies,
                len(real_nn),
                split,
            )
        metrics.update(
            {
                "nn_distance_synthetic_median": float(np.median(synthetic_nn)),
                "nn_distance_real_median": float(np.median(real_nn)),
                "copy_threshold": threshold,
                "memorised_share": memorised,
                "real_copies_of_training_images": real_copies,
                "training_images_searched": len(train),
            }
        )
        for i in np.argsort(synthetic_nn)[:CLOSEST_PAIRS]:
            j = int(synthetic_index[i])
            closest.append(
                {
                    "synthetic_index": int(i),
                    "training_case": train.case_ids[j],
                    "distance": float(synthetic_nn[i]),
                    "class": plan.class_names[int(real_y[i])],
                }
            )
            pair_images[0].append(fake_x[i].numpy())
            pair_images[1].append(train.x[j].float().numpy())
    cis = _confidence_intervals(real_f, fake_f, in_real, in_fake, min(n_resamples, MAX_BOOTSTRAP))
    report = GenerationReport(
        metrics=metrics,
        confidence_intervals=cis,
        split=split,
        model_name=_model_name(plan),
        dataset_name=str(dataset.name),
        headline=list(("fd", "precision", "recall", "memorised_share")),
        extra={**(extra or {}), "skipped_files": [list(s) for s in real.skipped]},
        closest_pairs=closest,
    )
    figures: dict[str, bytes] = {}
    for c, name in enumerate(plan.class_names):
        fakes = [fake_x[i].numpy() for i in np.flatnonzero(real_y.numpy() == c)[:GRID_IMAGES]]
        reals = [real_x[i].numpy() for i in np.flatnonzero(real_y.numpy() == c)[:GRID_IMAGES]]
        if fakes:
            figures[f"grid:{name}: synthetic"] = image_grid(fakes)
            figures[f"grid:{name}: real"] = image_grid(reals)
    if pair_images[0]:
        figures["closest_pairs"] = pair_strip(*pair_images)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    taken: set[Path] = set()
    for key, data in figures.items():  # classes 肺炎 and 正常 were both grid_synthetic.png, the second kept
        path = unclaimed_path(out_dir, safe_file_name(key).strip("_"), ".png", taken)
        path.write_bytes(data)
        paths[key] = path
    paths |= write_training_curves((report.extra or {}).get("run_dir"), out_dir)
    report.save_json(out_dir / "report.json")
    report.save_html(out_dir / "report.html", images=paths)
    return report


def memorisation(synthetic_nn: np.ndarray, real_nn: np.ndarray) -> tuple[float, float, int]:
    """The near-copy threshold, the share of synthetic images below it (or at :data:`COPY_DISTANCE` from a
    training image: a copy whatever the threshold) and how many real images are copies of training images.

    The threshold is the :data:`COPY_PERCENTILE` of the real images' distances to their nearest training image,
    copies of training images (distance :data:`COPY_DISTANCE` or less: the same image in two splits) left out:
    taken with them it was 0 as soon as 1% of the split duplicated the training set, and no synthetic image,
    not even a verbatim copy, could be below it.

    Args:
        synthetic_nn: ``(N,)`` each synthetic image's distance to its nearest training image.
        real_nn: ``(M,)`` the same for the real images of the evaluated split.
    """
    copies = real_nn <= COPY_DISTANCE
    distinct = real_nn[~copies]
    threshold = float(np.percentile(distinct, COPY_PERCENTILE)) if len(distinct) else COPY_DISTANCE
    memorised = (synthetic_nn < threshold) | (synthetic_nn <= COPY_DISTANCE)
    return threshold, float(memorised.mean()), int(copies.sum())


def _model_name(plan: GeneratePlan) -> str:
    if plan.network == "gan":
        return f"conditional GAN (width {plan.base_width}, {plan.gan_loss} loss, EMA), {plan.input_size} px"
    return f"conditional diffusion UNet {plan.unet_channels}, DDIM {plan.sample_steps} steps, {plan.input_size} px"


#: images of another set read to compare its intensities with the generator's
UNIT_IMAGES = 16
#: the largest ratio of intensity spans (0.5-99.5 percentiles) taken as the same units
UNIT_SPAN_RATIO = 8.0


def _refuse_other_units(model: Any, dataset: Any, cases: Sequence[Any], plan: GeneratePlan) -> None:
    """Refuse another dataset whose intensities are in other units than the generator's training images (16-bit
    images for a generator of 8-bit PNGs): clipped to the generator's range they saturate, and the FD, precision,
    recall and memorisation share came out as numbers that looked measured (every sample a "near-copy").

    Raises:
        DatasetError: the message names the data, both ranges and the fix.
    """
    from medimg.errors import MedimgError
    from medimg.run_folder import RunFolder

    try:
        trained_on = RunFolder(model.run_dir_ or ".").trained_data()
        if trained_on.resolve() == Path(dataset.root).resolve():
            return
    except (MedimgError, OSError, ValueError):
        pass
    step = max(1, len(cases) // UNIT_IMAGES)
    values = []
    for case in list(cases)[::step][:UNIT_IMAGES]:
        try:
            values.append(np.asarray(dataset.read(case).array, dtype=np.float32).ravel()[::3])
        except MedimgError:  # unreadable files are reported (or skipped) where the evaluation reads them
            continue
    if not values:
        return
    low, high = (float(v) for v in np.percentile(np.concatenate(values), [0.5, 99.5]))
    trained = (float(plan.clip_low), float(plan.clip_high))
    if plan.output_format == "png":  # 8-bit training data: the fixed 0..255, whatever part of it the data used
        other = low < trained[0] - 0.5 or high > trained[1] + 0.5
    else:
        scale = max(trained[1] - trained[0], 1e-6) / max(high - low, 1e-6)
        other = min(high, trained[1]) < max(low, trained[0]) or not 1 / UNIT_SPAN_RATIO <= scale <= UNIT_SPAN_RATIO
    if other:
        raise DatasetError(
            f"{dataset.root}: its intensities {low:g}..{high:g} (0.5-99.5 percentiles) are in other units than the "
            f"generator's training images ({trained[0]:g}..{trained[1]:g}; e.g. 16-bit images for a generator of "
            "8-bit ones): clipped to the generator's range its images would saturate and every metric would "
            "mislead; evaluate on images of the kind the generator was trained on"
        )


def _training_images(
    model: Any, dataset: Any, plan: GeneratePlan, strict: bool, load_dataset: Callable[..., Any]
) -> Any:
    """The run's training split, prepared like the samples (for the memorisation check and the reference)."""
    from medimg.bundle import dataset_options
    from medimg.data.splits import Splits, cases_for
    from medimg.run_folder import RunFolder
    from medimg.tasks.generate.data import read_real

    run = RunFolder(model.run_dir_ or ".")
    if not run.file("splits.json").is_file():
        return read_real(dataset, [], plan)
    source = dataset
    trained_on = run.trained_data()
    if trained_on.resolve() != Path(dataset.root).resolve():
        source = load_dataset(trained_on, **dataset_options(run.path))
    cases = cases_for(source, Splits.from_dict(run.read_json("splits.json")), "train")
    return read_real(source, cases, plan, strict=strict)


def generator_labels(dataset: Any, labels: Any, plan: GeneratePlan) -> Any:
    """``labels`` (indices into ``dataset.class_names``) as indices into the generator's classes, matched by name
    (any case, as labels are): another dataset's classes may be ordered otherwise, or be other classes.

    Raises:
        DatasetError: some of the images are of classes the generator was not trained on (named, with its own).
    """
    import torch

    from medimg.data.labels import find_class

    names = list(getattr(dataset, "class_names", None) or plan.class_names)
    index = [find_class(name, plan.class_names) for name in names]
    present = sorted({int(v) for v in labels.tolist()}) if len(labels) else []
    unknown = [names[i] for i in present if i >= len(index) or index[i] is None]
    if unknown:
        raise DatasetError(
            f"{getattr(dataset, 'name', 'the data')} holds images of class(es) {unknown} that the generator was not "
            f"trained on (its classes: {list(plan.class_names)}); evaluate it on data of those classes"
        )
    if index == list(range(len(index))):
        return labels
    table = torch.tensor([-1 if i is None else i for i in index], dtype=labels.dtype)
    return table[labels]


def _per_class(
    plan: GeneratePlan,
    labels: np.ndarray,
    real_f: np.ndarray,
    fake_f: np.ndarray,
    train_labels: np.ndarray,
    train_f: np.ndarray | None,
    k: int,
) -> list[dict[str, Any]]:
    rows = []
    for c, name in enumerate(plan.class_names):
        mask = labels == c
        row: dict[str, Any] = {"class": name, "n_real": int(mask.sum()), "n_synthetic": int(mask.sum())}
        if mask.sum() >= MIN_CLASS_IMAGES:
            precision, recall = precision_recall(real_f[mask], fake_f[mask], k)
            row.update(
                {
                    "fd": frechet_distance(real_f[mask], fake_f[mask]),
                    "precision": float(precision.mean()),
                    "recall": float(recall.mean()),
                }
            )
            train_mask = train_labels == c
            if train_f is not None and train_mask.sum() >= MIN_CLASS_IMAGES:
                row["fd_real_reference"] = frechet_distance(real_f[mask], train_f[train_mask])
        rows.append(row)
    return rows


def _confidence_intervals(
    real_f: np.ndarray, fake_f: np.ndarray, in_real: np.ndarray, in_fake: np.ndarray, n_resamples: int
) -> dict[str, Any]:
    """95% CIs. FD: the FD plus or minus 1.96 jackknife standard errors (:func:`frechet_jackknife`): the interval
    of the FD at this sample size, the one two generators evaluated on the same images compare by; the entry also
    holds the jackknife's ``small_sample_bias``. A percentile bootstrap, which resamples with replacement, put the
    interval above the FD (duplicated images inflate it). Precision and recall: percentile bootstrap of their
    per-image indicators."""
    rng = np.random.default_rng(EVALUATION_SEED)

    def interval(value: float, draw: Callable[[], float]) -> dict[str, Any]:
        values = np.array([draw() for _ in range(n_resamples)])
        low, high = np.percentile(values, [2.5, 97.5])
        return {
            "value": value,
            "low": float(low),
            "high": float(high),
            "confidence": 0.95,
            "n_resamples": n_resamples,
            "method": "percentile bootstrap",
        }

    fd = frechet_distance(real_f, fake_f)
    se, bias = frechet_jackknife(real_f, fake_f, rng)
    known = bool(np.isfinite(se))
    return {
        "fd": {
            "value": fd,
            "low": max(fd - 1.96 * se, 0.0) if known else None,
            "high": fd + 1.96 * se if known else None,
            "confidence": 0.95,
            "method": "jackknife",
            "groups": min(JACKKNIFE_GROUPS, len(real_f), len(fake_f)),
            "standard_error": se if known else None,
            "small_sample_bias": bias if known else None,
        },
        "precision": interval(float(in_real.mean()), lambda: float(rng.choice(in_real, len(in_real)).mean())),
        "recall": interval(float(in_fake.mean()), lambda: float(rng.choice(in_fake, len(in_fake)).mean())),
    }
