"""Ensembles for every task: ``plan.ensemble`` networks trained with their own seeds, averaged as one network.
Member ``k`` is built from ``plan.member(k)`` (the plan itself, except where a task varies its members: a
classifier's ``ensemble_networks``).

Member ``k`` trains with seed :func:`member_seed` in ``run/member_k`` (member 0 in the run folder itself). Under
``plan.time_budget_s`` the budget covers all members: the first gets all of it (its epochs are fitted to it), or,
with ``plan.ensemble_min_epochs``, the share of it its first epoch says leaves room for that many epochs in each of
up to ``ensemble_budget_max`` members; the members after it split the time left among those still planned. Another
member is started, up to ``max(ensemble, ensemble_budget_max)``, only while the time left is at least what the
previous member took, or half of it for a member the split planned (:func:`room_for_member`; rank 0 decides, every
rank follows).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from medimg.engine.batches import BatchSource
from medimg.engine.distributed import Distributed
from medimg.engine.progress import network_label
from medimg.engine.trainer import TaskHooks, TrainResult, train
from medimg.planning.plan import TrainingPlan, members_wanted
from medimg.run_folder import member_dir

logger = logging.getLogger(__name__)


def member_seed(seed: int, member: int) -> int:
    """The seed of ensemble member ``member`` (0 keeps the run's seed; runs with nearby seeds share no member)."""
    return seed + 1_000 * member


#: A member the first network's epoch planned for (``TrainResult.budget_share``) starts while at least this share of
#: what the previous member took is left: its epochs are fitted to the time it gets. Requiring all of it stopped
#: ensembles planned for two at one whenever the first network overran its half by a second (PneumoniaMNIST, one
#: thread: 271 s of a 540 s budget taken, 269 s left, the second network never trained).
PLANNED_MEMBER_SHARE = 0.5


def room_for_member(k: int, left_s: float, results: list[TrainResult]) -> bool:
    """Whether member ``k`` starts with ``left_s`` of the budget left after the members in ``results``: always the
    first; one the budget was split for when at least :data:`PLANNED_MEMBER_SHARE` of the previous member's time is
    left; one beyond that split (filling unused time) only when all of it is."""
    if not results:
        return True
    needed = results[-1].train_time_s
    if k < results[0].budget_share:
        needed *= PLANNED_MEMBER_SHARE
    return left_s >= needed


def combine(members: list[nn.Module]) -> nn.Module:
    """One network: the single member, or an :class:`~medimg.networks.ensemble.EnsembleNet` averaging them."""
    from medimg.networks.ensemble import EnsembleNet

    return members[0] if len(members) == 1 else EnsembleNet(members)


def train_members(
    build: Callable[[TrainingPlan], nn.Module],
    batches: BatchSource,
    plan: TrainingPlan,
    hooks: TaskHooks,
    run_dir: Path,
    *,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    tensorboard: bool = True,
    label: str = "",
    distributed: Distributed | None = None,
    finish: Callable[[nn.Module], object] | None = None,
) -> tuple[nn.Module, list[TrainResult]]:
    """Train the plan's members and return their best weights as one network (see the module docstring).

    Args:
        build: ``plan -> network``, freshly initialised (called after seeding, so the seed fixes the weights).
        finish: applied to each member after its best weights are loaded (e.g. classification's logit
            adjustment); the checkpoints keep the weights as trained.
    """
    dist = distributed or Distributed()
    budget = plan.time_budget_s
    wanted = members_wanted(plan)
    single = plan.model_copy(update={"ensemble": 1})
    members: list[nn.Module] = []
    results: list[TrainResult] = []
    started = time.perf_counter()
    for k in range(wanted):
        member_plan = single
        if budget is not None:
            # a resumed run counts the time its members had trained before the interruption too
            spent = max(time.perf_counter() - started, sum(r.train_time_s for r in results))
            left = dist.broadcast(budget - spent)
            if not room_for_member(k, left, results):
                logger.info(
                    "time budget %.0f s: %d network(s) trained, %.0f s left is too little for another (the last "
                    "took %.0f s)",
                    budget,
                    len(results),
                    max(0.0, left),  # never "-0 s left"
                    results[-1].train_time_s,
                )
                break
            planned_after = max(1, results[0].budget_share - k) if results else 1  # members sharing what is left
            member_plan = single.model_copy(update={"time_budget_s": max(left / planned_after, 1e-3)})
        # how many networks the progress counts: those the first one's epoch planned for under a time budget
        planned = results[0].budget_share if results and budget is not None else wanted
        member = member_seed(seed, k)
        torch.manual_seed(member)  # the initial weights too: same seed, same model
        network = build(single.member(k))
        folder = member_dir(run_dir, k)
        begun = k == 0 or dist.broadcast(folder.exists())  # rank 0's view: it makes the folder as the member starts
        result = train(
            network,
            batches,
            member_plan,
            hooks,
            folder,
            seed=member,
            resume=resume and begun,  # a member the interruption came before just starts
            progress=progress,
            tensorboard=tensorboard,
            label=label if k == 0 and budget is not None else network_label(label, k, planned),
            distributed=dist,
            budget_networks=wanted if k == 0 and budget is not None else 1,
        )
        network.load_state_dict(result.best_state)
        if finish is not None:
            finish(network)
        members.append(network.to(memory_format=torch.contiguous_format))
        results.append(result)
    return combine(members), results


def build_planned(build: Callable[[TrainingPlan], nn.Module], plan: TrainingPlan) -> nn.Module:
    """``build(plan)``, or an ensemble of ``plan.ensemble`` such networks (to load a saved ensemble's weights);
    member ``k`` is built from ``plan.member(k)``, as it was trained."""
    if plan.ensemble <= 1:
        return build(plan.member(0))
    single = plan.model_copy(update={"ensemble": 1})
    return combine([build(single.member(k)) for k in range(plan.ensemble)])
