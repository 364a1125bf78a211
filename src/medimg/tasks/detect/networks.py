"""Detection networks: torchvision's FCOS and RetinaNet on a small ResNet + FPN, trained from scratch.

Nothing is downloaded: every network starts from random weights (``weights=None, weights_backbone=None``), or
from a local weights file the plan names. The backbone (:class:`SmallResNet`) is a ResNet of basic blocks whose
widths and depths the plan sets; the FPN takes its stride 8/16/32 outputs (the plan's ``fpn_strides``). The
detector's own transform normalises and, at inference, resizes every image to the plan's input size and maps
the boxes back to the image's pixels; in training the batches are already at that size (augmented), so it only
normalises.

Registry: :data:`DETECTORS` (``fcos``, ``retinanet``; ``retinanet3d`` for volumes is built by
:mod:`medimg.tasks.detect.networks3d`); :func:`check_network_name` for "did you mean".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from medimg.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from medimg.tasks.detect.plan import DetectPlan

DETECTORS: dict[str, str] = {
    "fcos": "FCOS (anchor-free, one point per location; levels split by object size) on a small ResNet + FPN",
    "retinanet": "RetinaNet (anchors with planned sizes and aspect ratios, focal loss) on a small ResNet + FPN",
    "retinanet3d": "volumes: MONAI's RetinaNet (planned anchor shapes, ATSS matching) on a small 3D ResNet + FPN "
    "(tasks/detect/networks3d.py)",
}
"""Registered detector names and a one-line description each."""


RETINANET_ANCHOR_FACTOR = 4.0
"""RetinaNet's base anchor of a level is this many times its size unit (``anchor_sizes``): torchvision's 32, 64,
128 px at strides 8, 16, 32 for units equal to the strides."""


def check_network_name(name: str) -> str:
    """The canonical detector name, or a :class:`ConfigError` with close matches."""
    key = name.lower()
    if key not in DETECTORS:
        raise ConfigError(
            f"unknown detector {name!r}.{did_you_mean(name, DETECTORS)} Available: {', '.join(DETECTORS)}."
        )
    return key


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection (projection when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        nn.init.zeros_(self.bn2.weight)  # each block starts as the identity: trains from scratch more stably
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet of basic blocks: a stride-4 stem, then stages at strides 4, 8, 16, 32.

    Args:
        in_channels: image channels.
        widths: channels of the four stages.
        depths: blocks per stage.
        strides: which stage outputs to return (of 4, 8, 16, 32), as an ordered dict ``"s8" -> tensor``.
    """

    def __init__(self, in_channels: int, widths: Sequence[int], depths: Sequence[int], strides: Sequence[int]) -> None:
        super().__init__()
        stem = widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem // 2, 3, 2, 1, bias=False),
            nn.BatchNorm2d(stem // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem // 2, stem, 3, 2, 1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
        )
        stages = []
        previous = stem
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            blocks = [BasicBlock(previous, width, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(width, width) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            previous = width
        self.stages = nn.ModuleList(stages)
        self.widths = list(widths)
        self.strides = list(strides)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self.stem(x)
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)
            stride = 4 * 2**i
            if stride in self.strides:
                out[f"s{stride}"] = x
            if stride >= max(self.strides):
                break
        return out

    def channels_at(self, stride: int) -> int:
        """Channels of the stage output at ``stride``."""
        return self.widths[{4: 0, 8: 1, 16: 2, 32: 3}[stride]]


class BackboneFPN(nn.Module):
    """:class:`SmallResNet` + torchvision's feature pyramid: ``image -> {"p8": .., "p16": .., ...}``, all with
    ``out_channels`` channels (the attribute torchvision's detectors read)."""

    def __init__(self, body: SmallResNet, out_channels: int) -> None:
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork

        self.body = body
        self.fpn = FeaturePyramidNetwork([body.channels_at(s) for s in body.strides], out_channels)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.fpn(self.body(x))


def build_detector(plan: DetectPlan) -> nn.Module:
    """A freshly initialised detector of ``plan`` (torchvision FCOS or RetinaNet; nothing downloaded).

    The detector takes a list of ``(C, h, w)`` float images in 0..1 at the input scale and returns, in eval mode,
    one ``{"boxes": (N, 4), "scores": (N,), "labels": (N,)}`` per image with labels ``0..K-1`` and boxes in the
    input's pixels; in training mode, given targets, a dict of losses.
    """
    from torchvision.models.detection import FCOS, RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    name = check_network_name(plan.network)
    body = SmallResNet(plan.in_channels, plan.backbone_widths, plan.backbone_depths, plan.fpn_strides)
    backbone = BackboneFPN(body, plan.fpn_channels)
    height, width = plan.input_size
    common: dict[str, Any] = {
        "min_size": min(height, width),
        "max_size": max(height, width),
        "image_mean": list(plan.norm_mean),
        "image_std": list(plan.norm_std),
        "score_thresh": plan.candidate_threshold,
        "nms_thresh": plan.nms_iou,
        "detections_per_img": plan.detections_per_image,
        "topk_candidates": plan.topk_candidates,
    }
    if name == "fcos":
        generator = AnchorGenerator(tuple((float(s),) for s in plan.anchor_sizes), ((1.0,),) * len(plan.anchor_sizes))
        head = _fcos_head(plan.fpn_channels, plan.num_classes, plan.head_convs, plan.box_distances)
        detector: nn.Module = FCOS(backbone, plan.num_classes, anchor_generator=generator, head=head, **common)
    else:
        from torchvision.models.detection.retinanet import RetinaNetHead

        scales = tuple(
            tuple(RETINANET_ANCHOR_FACTOR * float(s) * m for m in plan.anchor_scales) for s in plan.anchor_sizes
        )
        ratios = (tuple(float(r) for r in plan.aspect_ratios),) * len(plan.anchor_sizes)
        generator = AnchorGenerator(scales, ratios)
        head = RetinaNetHead(
            plan.fpn_channels,
            generator.num_anchors_per_location()[0],
            plan.num_classes,
            norm_layer=partial(nn.GroupNorm, _groups(plan.fpn_channels)),
        )
        detector = RetinaNet(backbone, plan.num_classes, anchor_generator=generator, head=head, **common)
    detector.transform = _prepared_transform(plan)
    return detector


class PreparedTransform(GeneralizedRCNNTransform):
    """torchvision's transform without its resize: the images come prepared at the input scale
    (:func:`medimg.tasks.detect.data.prepare_image`), so training, inference and ONNX see identical pixels. It
    normalises with the plan's mean/std and pads the batch to multiples of 32."""

    def resize(self, image: torch.Tensor, target: dict[str, torch.Tensor] | None = None) -> Any:
        return image, target


def _prepared_transform(plan: DetectPlan) -> nn.Module:
    height, width = plan.input_size
    return PreparedTransform(min(height, width), max(height, width), list(plan.norm_mean), list(plan.norm_std))


def _groups(channels: int) -> int:
    """GroupNorm groups: 32 when it divides the channels, else the largest power of two that does (min 1)."""
    for groups in (32, 16, 8, 4, 2):
        if channels % groups == 0:
            return groups
    return 1


class SoftplusDistances(nn.Conv2d):
    """The FCOS regression head's last convolution, its box-side distances through softplus (positive, never
    without a gradient). torchvision's head passes them through relu after it, a no-op on softplus's output; with
    relu alone one side's output went negative at every location (ChestX-Det, 40 epochs): no gradient ever again,
    and that side of every box sat on its level's grid (the bottom at a multiple of 8 px, mAP@0.75 0). The weights
    keep the convolution's names, so a bundle saved with either loads into the other."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(super().forward(x))


def _fcos_head(channels: int, num_classes: int, num_convs: int, distances: str) -> nn.Module:
    """torchvision's FCOS head with GroupNorm groups that divide ``channels`` (its own hard-codes 32), its box-side
    distances made positive by ``distances`` (softplus: :class:`SoftplusDistances`; relu: torchvision's own)."""
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection.fcos import FCOSClassificationHead, FCOSHead, FCOSRegressionHead

    norm = partial(nn.GroupNorm, _groups(channels))
    head = FCOSHead(32, 1, num_classes, num_convs=1)  # a shell: both towers are replaced below
    head.box_coder = det_utils.BoxLinearCoder(normalize_by_size=True)
    head.classification_head = FCOSClassificationHead(channels, 1, num_classes, num_convs, norm_layer=norm)
    head.regression_head = FCOSRegressionHead(channels, 1, num_convs, norm_layer=norm)
    if distances == "softplus":
        plain = head.regression_head.bbox_reg
        softplus = SoftplusDistances(channels, plain.out_channels, kernel_size=3, stride=1, padding=1)
        softplus.load_state_dict(plain.state_dict())  # torchvision's initialisation
        head.regression_head.bbox_reg = softplus
    return head


def count_parameters(network: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
