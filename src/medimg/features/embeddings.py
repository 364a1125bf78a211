"""CNN embeddings: the penultimate layer of a trained medimg network as features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medimg.errors import ConfigError
from medimg.features.base import ImageFeatureTransformer
from medimg.features.samples import ImageSample


class CNNEmbeddings(ImageFeatureTransformer):
    """``forward_features`` of the network trained in ``run_dir`` (preprocessed exactly as for that network).

    Args:
        run_dir: a run folder written by ``medimg fit`` with a deep network.
        batch_size: images per forward pass.

    Images of any channel count are accepted: the network's own preprocessing converts them.

    Attributes:
        network_: the loaded ``torch.nn.Module`` (eval mode).
        plan_: its plan (input size, channels, normalisation).
    """

    _any_channels = True

    def __init__(self, run_dir: str | Path = "", batch_size: int = 64) -> None:
        self.run_dir = run_dir
        self.batch_size = batch_size

    def fit(self, X: Any, y: Any = None) -> CNNEmbeddings:
        from medimg.bundle import load_bundle

        if not self.run_dir:
            raise ConfigError("CNN embeddings need the run folder of a trained network: features='embeddings:RUN'")
        model = load_bundle(self.run_dir)
        network = model.network_
        if network is None or not hasattr(network, "forward_features"):
            raise ConfigError(f"{self.run_dir} is not a deep medimg classifier: its network has no penultimate layer")
        self.network_ = network.eval()
        if model.plan_ is None:
            raise ConfigError(f"{self.run_dir} has no plan.json: not a deep medimg classifier")
        self.plan_ = model.plan_
        super().fit(X, y)
        return self

    def _names(self, channels: int, spatial_dims: int) -> list[str]:
        return [f"e{i}" for i in range(int(self.network_.embedding_dim))]

    def _extract(self, sample: ImageSample) -> np.ndarray:
        return self._embed([sample])[0]

    def _extract_many(self, samples: list[ImageSample], out: np.ndarray) -> np.ndarray:
        for start in range(0, len(samples), int(self.batch_size)):
            chunk = samples[start : start + int(self.batch_size)]
            out[start : start + len(chunk)] = self._embed(chunk)
        return out

    def _embed(self, samples: list[ImageSample]) -> np.ndarray:
        import torch

        from medimg.transforms.preprocess import preprocess_arrays

        x = preprocess_arrays([s.image.astype(np.float32) for s in samples], self.plan_, [s.source for s in samples])
        with torch.no_grad():
            return self.network_.forward_features(x.float()).double().numpy()
