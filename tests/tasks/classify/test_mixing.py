"""Mixup and CutMix of training batches (plan fields ``mixup`` and ``cutmix``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from medimg import Model
from medimg.planning.semi_supervised import SemiSupervisedPlan
from medimg.tasks.semi_supervised import SemiSupervisedLoss
from medimg.transforms.mixing import BatchMixer
from tests.conftest import write_npz

COMMON = dict(epochs=2, progress=False, tensorboard=False, batch_size=16)


def _distinct_images(n: int, *spatial: int) -> torch.Tensor:
    """Image ``i`` is the constant ``i + 1``: whose pixels a mixed image holds can be read off its values."""
    return torch.arange(1, n + 1, dtype=torch.float32).view(n, 1, *[1] * len(spatial)).expand(n, 1, *spatial).clone()


def test_mixup_blends_each_image_with_its_partner_by_the_drawn_share() -> None:
    x = _distinct_images(8, 6, 6)
    mixed = BatchMixer(mixup=0.4, cutmix=0.0, seed=1)(x)
    assert 0 < mixed.share < 1
    assert sorted(mixed.partner.tolist()) == list(range(8))  # a permutation of the batch
    expected = mixed.share * x + (1 - mixed.share) * x[mixed.partner]
    torch.testing.assert_close(mixed.inputs, expected)
    assert not torch.equal(mixed.inputs, x)


@pytest.mark.parametrize("spatial", [(20, 24), (10, 12, 14)])
def test_cutmix_pastes_a_box_of_the_partner_and_its_share_is_the_area_left(spatial: tuple[int, ...]) -> None:
    x = _distinct_images(6, *spatial)
    mixer = BatchMixer(mixup=0.0, cutmix=1.0, seed=3)
    for _ in range(20):  # boxes of several sizes and places, clipped at the border
        mixed = mixer(x)
        own = (mixed.inputs == x).float().mean(dim=tuple(range(1, x.ndim)))
        pasted = (mixed.inputs == x[mixed.partner]).float().mean(dim=tuple(range(1, x.ndim)))
        moved = mixed.partner != torch.arange(6)  # an image paired with itself looks unchanged
        torch.testing.assert_close(own[moved], torch.full_like(own[moved], mixed.share))
        torch.testing.assert_close(pasted[moved], torch.full_like(pasted[moved], 1 - mixed.share))


def test_the_loss_follows_both_labels_in_proportion() -> None:
    x = _distinct_images(4, 5, 5)
    mixed = BatchMixer(mixup=1.0, cutmix=0.0, seed=0)(x)
    logits = torch.tensor([[2.0, -1.0], [0.0, 1.0], [1.0, 1.0], [-2.0, 0.5]])
    y = torch.tensor([0, 1, 1, 0])
    ce = nn.CrossEntropyLoss()
    expected = mixed.share * ce(logits, y) + (1 - mixed.share) * ce(logits, y[mixed.partner])
    torch.testing.assert_close(mixed.loss(ce, logits, y), expected)
    # multi-label: the same as a binary cross-entropy on the blended multi-hot targets
    findings = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    bce = nn.BCEWithLogitsLoss()
    blended = mixed.share * findings + (1 - mixed.share) * findings[mixed.partner]
    torch.testing.assert_close(mixed.loss(bce, logits, findings), bce(logits, blended))


def test_both_on_uses_each_method_on_some_batches() -> None:
    x = _distinct_images(8, 16, 16)
    mixer = BatchMixer(mixup=0.4, cutmix=1.0, seed=0)
    kinds = set()
    for _ in range(20):
        mixed = mixer(x)
        blended = bool(((mixed.inputs != x) & (mixed.inputs != x[mixed.partner])).any())  # neither image's value
        kinds.add("mixup" if blended else "cutmix")
    assert kinds == {"mixup", "cutmix"}


def test_a_seed_gives_the_same_mixing() -> None:
    x = torch.randn(8, 1, 12, 12)
    a, b = BatchMixer(mixup=0.2, cutmix=1.0, seed=5), BatchMixer(mixup=0.2, cutmix=1.0, seed=5)
    for _ in range(3):
        first, second = a(x), b(x)
        torch.testing.assert_close(first.inputs, second.inputs)
        assert first.share == second.share


def test_fit_trains_with_mixup_and_cutmix_and_the_plan_keeps_them(tmp_path: Path) -> None:
    data = write_npz(tmp_path / "data.npz", n=(80, 30, 30), seed=3)
    model = Model("simple-cnn").fit(data, run_dir=tmp_path / "run", mixup=0.2, cutmix=1.0, **COMMON)
    assert model.plan_ is not None and (model.plan_.mixup, model.plan_.cutmix) == (0.2, 1.0)
    assert model.report_ is not None and model.report_.metrics["accuracy"] > 0.7
    assert '"mixup": 0.2' in (tmp_path / "run" / "plan.json").read_text()


class _Recorder(nn.Module):
    """Logits = the mean of each image, towards class 1; remembers what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        mean = x.flatten(1).mean(1, keepdim=True)
        return torch.cat([-mean, mean], dim=1)


def test_semi_supervised_loss_mixes_the_labelled_images_only_and_follows_both_labels() -> None:
    plan = SemiSupervisedPlan(warmup_epochs=0, supervised_epochs=0, distribution_alignment=False)
    criterion = nn.CrossEntropyLoss()
    loss_fn = SemiSupervisedLoss(criterion, plan, 1, mixer=BatchMixer(mixup=0.4, cutmix=0.0, seed=2))
    labelled, pool = _distinct_images(6, 4, 4), -_distinct_images(8, 4, 4)  # 4 weak + 4 strong views
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    network = _Recorder()
    loss = loss_fn(network, torch.cat([labelled, pool]), y)

    expected = BatchMixer(mixup=0.4, cutmix=0.0, seed=2)(labelled)  # the same draw
    assert network.seen is not None and 0 < expected.share < 1
    assert torch.allclose(network.seen[:6], expected.inputs) and not torch.allclose(network.seen[:6], labelled)
    assert torch.equal(network.seen[6:], pool)  # pool views are never mixed
    supervised = expected.loss(criterion, network(expected.inputs), y)
    unlabelled, _ = SemiSupervisedLoss(criterion, plan, 1).unlabelled_loss(network(pool))
    assert float(loss) == pytest.approx(float(supervised + unlabelled), rel=1e-5)


def test_semi_supervised_fit_with_mixup_keeps_it_in_the_plan(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 120, (40, 16, 16)).astype(np.uint8), np.arange(40) % 2
    pool = rng.integers(0, 120, (20, 16, 16)).astype(np.uint8)
    with caplog.at_level(logging.WARNING):
        model = Model("simple-cnn").fit(X, y, run_dir=tmp_path / "run", unlabelled=pool, mixup=0.2, **COMMON)
    assert model.plan_ is not None and model.plan_.mixup == 0.2
    assert "mixup" not in caplog.text
