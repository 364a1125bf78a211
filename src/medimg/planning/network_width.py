"""The channel width the planner gives a network: a rule of its own, used when a plan is made
(:mod:`medimg.planning.planner`), when an ensemble's member takes another network (:meth:`Plan.member
<medimg.planning.plan.Plan.member>`) and when a user picks a network and leaves its width to the planner."""

from __future__ import annotations

from collections.abc import Sequence


def determine_width(network: str, spatial_dims: int, input_size: Sequence[int]) -> tuple[float, str]:
    """The channel-width multiplier of ``network`` for inputs of ``input_size``: full width in 3D, quarter width for
    ResNet-18 at 32 px or less, half width otherwise. Re-chosen when the user picks another network or input size
    and leaves the width to the planner.

    Quarter width at <= 32 px: there the small-input stem keeps every pixel through the first stage, so a network
    costs per image what a 112 px one does, and the narrower network trains 3x faster. Measured on PneumoniaMNIST
    (600 s budget, 3 seeds side by side on 2 threads, ``benchmarks/results/medmnist_width_idle.json``): three
    networks of 32 epochs in 399 s against three of 13-15 epochs in 529 s at half width, validation AUC higher in
    every seed (0.9983 / 0.9986 / 0.9975 against 0.9969 / 0.9972 / 0.9974), test AUC 0.988 against 0.986. Other
    networks keep the half width they were measured at.
    """
    from medimg.networks.base import FULL_RESOLUTION_STEM_MAX  # imports torch: only when a plan is made

    if spatial_dims == 3:
        return 1.0, "full width (3D)"
    if network == "resnet18" and min(input_size) <= FULL_RESOLUTION_STEM_MAX:
        return 0.25, f"quarter width for {input_size[0]} px on CPU (small-input stem)"
    return 0.5, f"half width for {input_size[0]} px on CPU"
