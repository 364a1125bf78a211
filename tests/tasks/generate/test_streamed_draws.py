"""``generate --n N`` draws, converts and writes one batch at a time: it held all N images (three copies: the
draw, the resized intensities, the file arrays) before writing the first, so a large N of volumes ran out of memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medimg.tasks.generate import data as generate_data
from medimg.tasks.generate.gan import ConditionalGAN
from medimg.tasks.generate.plan import GeneratePlan
from medimg.tasks.generate.sampling import sample_images
from medimg.tasks.generate.synthesis import class_labels, write_synthetic_set

PLAN = GeneratePlan(
    class_names=["a", "b"], input_size=[8, 8], output_size=[8, 8], base_width=4, latent_dim=4, eval_batch_size=4
)


def test_images_are_written_a_batch_at_a_time_and_are_those_one_draw_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    network = ConditionalGAN(PLAN)
    converted: list[int] = []
    real_to_files = generate_data.to_files

    def counting(images: torch.Tensor, plan: GeneratePlan) -> list[np.ndarray]:
        converted.append(len(images))
        return real_to_files(images, plan)

    monkeypatch.setattr(generate_data, "to_files", counting)
    written = write_synthetic_set(network, PLAN, tmp_path / "synth", n=10, seed=3)
    assert converted == [4, 4, 2]  # never more than one batch at a time
    expected = real_to_files(sample_images(network, PLAN, class_labels(PLAN, 10, None), seed=3), PLAN)
    for path, array in zip(written.paths, expected, strict=True):
        assert np.array_equal(np.asarray(Image.open(path)), array[0])
