"""``EnsembleNet``: several classification networks of one architecture whose logits are averaged.

An ensemble is one ``nn.Module``, so everything that takes a network (inference, TTA, ONNX export, the
service) works on it unchanged; Grad-CAM averages the members' maps (:func:`medimg.explain.cam.explain_batch`).
Members are trained separately with different seeds (:func:`medimg.engine.ensemble.train_members`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class EnsembleNet(nn.Module):
    """Mean of the members' logits.

    Args:
        members: networks with the same input and number of classes (usually :class:`ClassificationNet`).

    Shapes:
        input ``(B, C, *spatial)`` -> output ``(B, num_classes)``.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 networks, got {len(members)}")
        self.members = nn.ModuleList(members)
        self.num_classes = getattr(members[0], "num_classes", None)
        self.embedding_dim = sum(int(getattr(m, "embedding_dim", 0)) for m in members)
        self.network_name = getattr(members[0], "network_name", type(members[0]).__name__)
        self.spatial_dims = getattr(members[0], "spatial_dims", None)
        self.in_channels = getattr(members[0], "in_channels", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, *spatial)`` -> ``(B, num_classes)``: the mean of the members' logits."""
        logits = [member(x) for member in self.members]
        return torch.stack(logits).mean(dim=0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The members' penultimate features side by side: ``(B, embedding_dim)``."""
        return torch.cat([member.forward_features(x) for member in self.members], dim=1)  # type: ignore[operator]

    def extra_repr(self) -> str:
        return f"members={len(self.members)}, name={self.network_name!r}"
