"""The 3D detector: MONAI's RetinaNet detector on a small 3D ResNet + FPN, trained from scratch.

:func:`build_detector_3d` assembles MONAI's pieces from the plan: a ``monai.networks.nets.ResNet`` of basic
blocks (the plan's widths and depths; a stride-2 stem without max pooling, so stage ``n`` sits at stride
``2**n``), a ``BackboneWithFPN`` over the stages at the plan's ``fpn_strides`` (plus MONAI's pooled level at twice
the last), the ``RetinaNet`` classification and box-regression heads, and ``AnchorGeneratorWithAnchorShape``
with the plan's anchor shapes (``indexing="ij"``: boxes in array-axis order ``[d1, h1, w1, d2, h2, w2]``, see
:class:`~medimg.data.case.Box`). Training uses ATSS matching and hard negative sampling (MONAI's detection
tutorial settings); decoding uses the plan's candidate threshold, NMS IoU and detections per volume.

The detector takes a list of ``(C, D, H, W)`` float volumes (0..1) of any size (it pads them to a multiple of its
coarsest stride) and returns, in eval mode, one ``{"boxes": (N, 6), "labels_scores": (N,), "labels": (N,)}`` per
volume; in training mode, given targets ``{"boxes": (N, 6), "labels": (N,)}``, a dict of losses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

if TYPE_CHECKING:
    from monai.apps.detection.networks.retinanet_detector import RetinaNetDetector

    from medimg.tasks.detect.plan import DetectPlan

ATSS_CANDIDATES = 4
"""ATSS matcher: candidate anchors per level closest to each box centre (MONAI tutorial: 4)."""
HARD_NEGATIVES = (64, 0.3, 16, 20)
"""Hard negative sampler of the classification loss: samples per image, positive fraction, minimum negatives, pool
size (MONAI's LUNA16 tutorial settings)."""
STAGE_OF_STRIDE = {2: 1, 4: 2, 8: 3, 16: 4}
"""ResNet stage (``layerN``) at each stride with a stride-2 stem and no max pooling."""


def size_divisible(plan: DetectPlan) -> int:
    """What every input side must divide by: the FPN's pooled level sits at twice the coarsest stride."""
    return 2 * max(plan.fpn_strides)


def build_detector_3d(plan: DetectPlan) -> RetinaNetDetector:
    """A freshly initialised 3D RetinaNet detector of ``plan`` (nothing downloaded)."""
    from monai.apps.detection.networks.retinanet_detector import RetinaNetDetector
    from monai.apps.detection.networks.retinanet_network import RetinaNet
    from monai.apps.detection.utils.anchor_utils import AnchorGeneratorWithAnchorShape
    from monai.networks.blocks.backbone_fpn_utils import BackboneWithFPN
    from monai.networks.nets import resnet

    backbone = resnet.ResNet(
        block="basic",
        layers=list(plan.backbone_depths),
        block_inplanes=list(plan.backbone_widths),
        spatial_dims=3,
        n_input_channels=plan.in_channels,
        conv1_t_size=3,
        conv1_t_stride=2,
        no_max_pool=True,
    )
    stages = [STAGE_OF_STRIDE[s] for s in plan.fpn_strides]
    features = BackboneWithFPN(
        backbone,
        return_layers={f"layer{stage}": str(i) for i, stage in enumerate(stages)},
        in_channels_list=[plan.backbone_widths[stage - 1] for stage in stages],
        out_channels=plan.fpn_channels,
        spatial_dims=3,
    )
    anchors = AnchorGeneratorWithAnchorShape(
        feature_map_scales=[2**level for level in range(len(stages) + 1)],
        base_anchor_shapes=[tuple(float(v) for v in shape) for shape in plan.anchor_shapes],
        indexing="ij",
    )
    network = RetinaNet(
        spatial_dims=3,
        num_classes=plan.num_classes,
        num_anchors=anchors.num_anchors_per_location()[0],
        feature_extractor=features,
        size_divisible=size_divisible(plan),
    )
    detector = RetinaNetDetector(network=network, anchor_generator=anchors)
    detector.set_atss_matcher(num_candidates=ATSS_CANDIDATES, center_in_gt=False)
    per_image, positive_fraction, min_neg, pool_size = HARD_NEGATIVES
    detector.set_hard_negative_sampler(
        batch_size_per_image=per_image, positive_fraction=positive_fraction, min_neg=min_neg, pool_size=pool_size
    )
    configure_decoding_3d(detector, plan)
    return detector


def configure_decoding_3d(
    network: nn.Module, plan: DetectPlan, *, nms_iou: float | None = None, keep: int | None = None
) -> None:
    """Set the detector's candidate threshold, NMS IoU and detections per volume from ``plan`` (or the given)."""
    detector: Any = getattr(network, "module", network)
    detector.set_box_selector_parameters(
        score_thresh=plan.candidate_threshold,
        topk_candidates_per_level=plan.topk_candidates,
        nms_thresh=plan.nms_iou if nms_iou is None else nms_iou,
        detections_per_img=keep or plan.detections_per_image,
    )
