"""The GAN under torchrun: two gloo processes, each updating on its own images, end with the same generator,
discriminator and moving average (their gradients are averaged); without the DDP wrap they drift apart. And the
CLI trains a GAN with --nproc-per-node 2 into a run that `medimg generate` draws from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from medimg.tasks.generate.gan import ConditionalGAN
from medimg.tasks.generate.gan_step import GANStep
from tests.tasks.generate.test_networks import tiny_plan


def _ddp(part: nn.Module) -> nn.Module:
    return nn.parallel.DistributedDataParallel(part)


def _train_on_rank(rank: int, init_file: str, wrapped: bool, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        plan = tiny_plan("gan")
        torch.manual_seed(0)  # the same initial weights on both ranks
        gan = ConditionalGAN(plan)
        step = GANStep(gan, plan, _ddp if wrapped else None)
        torch.manual_seed(100 + rank)  # each rank its own images and noise
        for _ in range(3):
            real, labels = torch.rand(4, 1, 16, 16) * 2 - 1, torch.randint(0, 3, (4,))
            step(gan, real, labels)
        torch.save(gan.state_dict(), Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("wrapped", [True, False])
def test_two_processes_keep_one_gan_only_when_wrapped(wrapped: bool, tmp_path: Path) -> None:
    mp.spawn(_train_on_rank, args=(str(tmp_path / "init"), wrapped, str(tmp_path)), nprocs=2, join=True)
    states = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    parts = ("generator.to_image.weight", "discriminator.score.parametrizations.weight.original", "ema.to_image.weight")
    same = [torch.allclose(states[0][p], states[1][p], atol=1e-6) for p in parts]
    assert same == [wrapped] * 3


@pytest.mark.e2e
def test_a_gan_trains_with_two_processes_and_generates(tmp_path: Path) -> None:
    from medimg.data.synthetic import make_phantom_dataset

    data = make_phantom_dataset(tmp_path / "phantoms", n_per_class=24, size=16, seed=0)
    run = tmp_path / "gan"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    fit = [sys.executable, "-m", "medimg", "fit", str(data), "--task", "generate", "--network", "gan"]
    options = ["--epochs", "2", "--batch-size", "8", "--nproc-per-node", "2", "--no-progress", "--run-dir", str(run)]
    done = subprocess.run([*fit, *options], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("run folder:") == 1
    drawn = subprocess.run(
        [sys.executable, "-m", "medimg", "generate", str(run), "--n", "4", "--out", str(tmp_path / "synth")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    assert len(list((tmp_path / "synth").rglob("*.png"))) == 4
