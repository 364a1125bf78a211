"""Training speed on this machine: the fast path vs a plain fp32 PyTorch loop, the matmul ceiling, the
loader's own throughput and the memory of a 90,000-image dataset.

Run alone: ``python benchmarks/speed.py --data ../shared/data/medmnist/pneumoniamnist.npz`` (prints a table,
writes ``benchmarks/results/speed.json``). ``benchmarks/medmnist.py`` runs the same measurements in its run.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` GFLOP/s of an ``n x n`` matmul in ``dtype`` (the machine's practical ceiling)."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up: kernel selection, page faults
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def _prepared_training_set(data: Path) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """The default plan for ``data`` and its preprocessed training tensors (the product's own code path)."""
    from medimg.data.dataset import Dataset
    from medimg.data.loading import read_cases
    from medimg.planning.fingerprint import extract_fingerprint
    from medimg.planning.planner import cpu_supports_bf16, make_plan
    from medimg.tasks.classify.data import prepare_loaded

    dataset = Dataset.load(data)
    train_cases = [c for c in dataset.cases if c.split == "train"]
    loaded = read_cases(dataset, train_cases, progress=False)
    fingerprint = extract_fingerprint(dataset, loaded.cases, loaded.arrays, loaded.metas, seed=0)
    plan = make_plan(fingerprint, bf16_supported=cpu_supports_bf16())
    prepared = prepare_loaded(loaded, plan)
    return plan, prepared.x, prepared.y


class _PerSampleAugmented(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """What a plain PyTorch script does: one image at a time, torchvision transforms in Python."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, plan: Any) -> None:
        from torchvision.transforms import v2

        aug = plan.augmentation
        self.x, self.y = x, y
        self.affine = v2.RandomAffine(
            degrees=aug.rotate_deg, translate=(aug.translate, aug.translate), scale=(1 - aug.scale, 1 + aug.scale)
        )
        self.brightness, self.contrast = aug.brightness, aug.contrast

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.affine(self.x[index].float())
        mean = image.mean()
        image = (image - mean) * (1 + self.contrast * (2 * torch.rand(()) - 1)) + mean
        image = image + self.brightness * (2 * torch.rand(()) - 1)
        return image, self.y[index]


def _plain_batches(x: torch.Tensor, y: torch.Tensor, plan: Any) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    batch_size = min(plan.batch_size, int(x.shape[0]))
    loader = torch.utils.data.DataLoader(
        _PerSampleAugmented(x, y, plan), batch_size=batch_size, shuffle=True, num_workers=0, drop_last=True
    )
    while True:
        yield from loader


def _fast_batches(x: torch.Tensor, y: torch.Tensor, plan: Any) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The product's batch source (in-memory tensors, batched augmentation), endlessly, in NCHW."""
    from medimg.engine.batches import TensorBatches
    from medimg.transforms.augment import BatchAugment

    source = TensorBatches(x, y, plan.batch_size, augment=BatchAugment(plan.augmentation, plan.spatial_dims))
    generator = torch.Generator().manual_seed(0)
    while True:
        yield from source.epoch(generator)


def _images_per_s(batches: Iterator[tuple[torch.Tensor, torch.Tensor]], steps: int, step: Callable[..., None]) -> float:
    for _ in range(2):  # warm-up: oneDNN primitive creation
        step(*next(batches))
    seen, start = 0, time.perf_counter()
    for _ in range(steps):
        xb, yb = next(batches)
        step(xb, yb)
        seen += len(yb)
    return seen / (time.perf_counter() - start)


def _train_step(
    network: nn.Module, plan: Any, *, bf16: bool, channels_last: bool, compiled: bool = False
) -> Callable[..., None]:
    from medimg.engine.trainer import build_optimizer

    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(network, plan)
    if compiled:  # inductor compiles forward + backward on the first step (timed separately as compile_s)
        network = torch.compile(network)  # type: ignore[assignment]
    criterion = nn.CrossEntropyLoss()
    network.train()

    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = criterion(network(xb).float(), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def measure_speed(
    data: Path, *, steps: int = 20, rounds: int = 3, trainer_epoch: bool = True, compile_row: bool = True
) -> dict[str, Any]:
    """Side-by-side training throughput of the default classifier for ``data`` (one process, one run).

    Rows: a plain fp32 loop (DataLoader, per-sample torchvision augmentation, NCHW); then the fast path's parts
    added one by one (in-memory batches with batched augmentation, bf16 autocast, channels_last); then the
    product's own trainer over one full epoch. ``compile_row`` adds the fast path under ``torch.compile``
    (its one-off compile time is reported as ``compile_s``), to show whether compiling pays on this machine.
    Each row trains its own freshly initialised network. The rows are timed in turn for ``rounds`` rounds of
    ``steps`` steps and each keeps its best round, so a burst of load from another process does not decide a
    ratio.
    """
    from medimg.networks.flops import count_flops
    from medimg.planning.planner import cpu_supports_bf16
    from medimg.tasks.classify.network import build_network

    plan, x, y = _prepared_training_set(data)
    forward_flops = count_flops(build_network(plan), (plan.in_channels, *plan.input_size))
    train_flops = 3 * forward_flops  # backward ~ 2x forward
    # Without native bf16 (AVX512-BF16 / AMX) bf16 is emulated, minutes per matmul: measured only where it is native.
    native_bf16 = cpu_supports_bf16()
    ceiling = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16) if native_bf16 else None}
    variants = [  # (name, batches, bf16, channels_last, torch.compile)
        ("plain fp32 loop (DataLoader, per-sample aug, NCHW)", _plain_batches(x, y, plan), False, False, False),
        ("+ in-memory batches, batched tensor aug", _fast_batches(x, y, plan), False, False, False),
    ]
    if native_bf16:
        variants.append(("+ bf16 autocast", _fast_batches(x, y, plan), True, False, False))
    variants.append(("+ channels_last (the fast path)", _fast_batches(x, y, plan), native_bf16, True, False))
    if compile_row:
        variants.append(
            ("+ torch.compile (inductor; not in the product)", _fast_batches(x, y, plan), native_bf16, True, True)
        )
    steppers, compile_s = [], None
    for _, batches, bf16, channels_last, compiled in variants:
        torch.manual_seed(0)
        steppers.append(
            _train_step(build_network(plan), plan, bf16=bf16, channels_last=channels_last, compiled=compiled)
        )
        if compiled:
            start = time.perf_counter()
            steppers[-1](*next(batches))
            compile_s = time.perf_counter() - start
    best = [0.0] * len(variants)
    for _ in range(rounds):
        for i, (_, batches, *_) in enumerate(variants):
            best[i] = max(best[i], _images_per_s(batches, steps, steppers[i]))
    rows = [
        _speed_row(name, ips, train_flops, ceiling["bf16" if bf16 else "fp32"])
        for (name, _, bf16, _, _), ips in zip(variants, best, strict=True)
    ]
    if trainer_epoch:
        rows.append(_trainer_epoch_row(plan, x, y, train_flops, ceiling))
    loader = {
        "plain DataLoader, per-sample aug": _loader_images_per_s(_plain_batches(x, y, plan), steps),
        "medimg in-memory batches + batched aug": _loader_images_per_s(_fast_batches(x, y, plan), steps),
    }
    plain = rows[0]["images_per_s"]
    return {
        "data": str(data),
        "network": f"{plan.network} width {plan.width} at {plan.input_size} px, batch {plan.batch_size}",
        "threads": torch.get_num_threads(),
        "steps_per_round": steps,
        "rounds": rounds,
        "forward_gflops_per_image": forward_flops / 1e9,
        "matmul_ceiling_gflops": ceiling,
        "native_bf16": native_bf16,
        "rows": rows,
        "speedup_vs_plain": {r["configuration"]: r["images_per_s"] / plain for r in rows},
        "loader_images_per_s": loader,
        "compile_s": compile_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def _speed_row(name: str, images_per_s: float, train_flops: float, ceiling_gflops: float | None) -> dict[str, Any]:
    achieved = images_per_s * train_flops / 1e9
    if ceiling_gflops is None:
        raise ValueError("a bf16 row needs the bf16 matmul ceiling")
    return {
        "configuration": name,
        "images_per_s": images_per_s,
        "gflops": achieved,
        "fraction_of_ceiling": achieved / ceiling_gflops,
    }


def _trainer_epoch_row(
    plan: Any, x: torch.Tensor, y: torch.Tensor, train_flops: float, ceiling: dict[str, float | None]
) -> dict[str, Any]:
    from medimg.engine.batches import TensorBatches
    from medimg.engine.trainer import TaskHooks, train
    from medimg.tasks.classify.inference import memory_format
    from medimg.tasks.classify.network import build_network
    from medimg.tasks.classify.step import make_loss
    from medimg.transforms.augment import BatchAugment

    criterion = make_loss(plan)
    hooks = TaskHooks(
        loss=lambda net, xb, yb: criterion(net(xb).float(), yb),
        validate=lambda net: {"auc_bacc": 0.0},
    )
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        batches = TensorBatches(
            x,
            y,
            plan.batch_size,
            augment=BatchAugment(plan.augmentation, plan.spatial_dims),
            memory_format=memory_format(plan),
        )
        result = train(
            build_network(plan),
            batches,
            plan.model_copy(update={"epochs": 1}),
            hooks,
            Path(folder),
            progress=False,
            tensorboard=False,
        )
    return _speed_row(
        "medimg trainer, one full epoch (the product path)",
        float(result.history[0]["train_images_per_s"]),
        train_flops,
        ceiling["bf16" if plan.amp == "bf16" else "fp32"],
    )


def _loader_images_per_s(batches: Iterator[tuple[torch.Tensor, torch.Tensor]], steps: int) -> float:
    next(batches)
    seen, start = 0, time.perf_counter()
    for _ in range(steps):
        seen += len(next(batches)[1])
    return seen / (time.perf_counter() - start)


def measure_scale(n_images: int = 90_000, *, steps: int = 10) -> dict[str, Any]:
    """Memory and loader speed on a large 28 px dataset through the product's own loading path.

    A synthetic MedMNIST-format npz of ``n_images`` 28x28 uint8 images is written to a temporary folder, loaded
    with :meth:`Dataset.load`, read and preprocessed into the one float16 tensor the trainer indexes (there are
    no loader worker processes, so nothing is copied per worker), then one full epoch of augmented batches is
    drawn and ``steps`` training steps are run.
    """
    from medimg.data.dataset import Dataset
    from medimg.data.loading import read_cases
    from medimg.planning.fingerprint import extract_fingerprint
    from medimg.planning.planner import cpu_supports_bf16, make_plan
    from medimg.tasks.classify.data import prepare_loaded

    rss_start = peak_rss_mb()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=(n_images, 1), dtype=np.int64)
    images = rng.integers(0, 200, size=(n_images, 28, 28), dtype=np.uint8)
    images[labels[:, 0] == 1, 10:18, 10:18] = 255
    small = max(2, n_images // 10)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scalemnist.npz"
        np.savez(
            path,
            train_images=images,
            train_labels=labels,
            val_images=images[:small],
            val_labels=labels[:small],
            test_images=images[:small],
            test_labels=labels[:small],
        )
        raw_mb = images.nbytes / 2**20
        del images
        start = time.perf_counter()
        dataset = Dataset.load(path)
        train_cases = [c for c in dataset.cases if c.split == "train"]
        loaded = read_cases(dataset, train_cases, progress=False)
        fingerprint = extract_fingerprint(dataset, loaded.cases, loaded.arrays, loaded.metas, seed=0)
        plan = make_plan(fingerprint, bf16_supported=cpu_supports_bf16())
        prepared = prepare_loaded(loaded, plan)
        del loaded
        prepare_s = time.perf_counter() - start
    x, y = prepared.x, prepared.y
    batches = _fast_batches(x, y, plan)
    start = time.perf_counter()
    for _ in range(math.ceil(n_images / plan.batch_size)):
        next(batches)
    epoch_loader_ips = n_images / (time.perf_counter() - start)
    from medimg.tasks.classify.network import build_network

    ips = _images_per_s(
        batches, steps, _train_step(build_network(plan), plan, bf16=plan.amp == "bf16", channels_last=True)
    )
    return {
        "images": n_images,
        "raw_uint8_mb": raw_mb,
        "training_tensor_mb": x.element_size() * x.nelement() / 2**20,
        "training_tensor_dtype": str(x.dtype).replace("torch.", ""),
        "read_and_preprocess_s": prepare_s,
        "read_and_preprocess_images_per_s": n_images / prepare_s,
        "loader_epoch_images_per_s": epoch_loader_ips,
        "train_images_per_s": ips,
        "loader_workers": 0,
        "peak_rss_at_start_mb": rss_start,
        "peak_rss_mb": peak_rss_mb(),
    }


def format_speed(speed: dict[str, Any]) -> str:
    """The speed measurements as a Markdown table."""
    ceiling = speed["matmul_ceiling_gflops"]
    lines = [
        f"Training throughput: {speed['network']} on {Path(speed['data']).name}, {speed['threads']} threads; "
        f"forward {speed['forward_gflops_per_image']:.3f} GFLOP/image (training ~3x). "
        f"Matmul ceiling: fp32 {ceiling['fp32']:.0f} GFLOP/s, "
        + (
            f"bf16 {ceiling['bf16']:.0f} GFLOP/s." if ceiling.get("bf16") else "no native bf16 on this CPU (fp32 only)."
        ),
        "",
        "| configuration | images/s | x plain | GFLOP/s | of ceiling |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in speed["rows"]:
        lines.append(
            f"| {row['configuration']} | {row['images_per_s']:.0f} | "
            f"{speed['speedup_vs_plain'][row['configuration']]:.2f} | {row['gflops']:.1f} | "
            f"{row['fraction_of_ceiling']:.1%} |"
        )
    if speed.get("compile_s") is not None:
        lines.append(f"\ntorch.compile: {speed['compile_s']:.0f} s to compile before the first step.")
    lines += ["", "| loader (no network) | images/s |", "|---|---:|"]
    lines += [f"| {name} | {ips:.0f} |" for name, ips in speed["loader_images_per_s"].items()]
    return "\n".join(lines)


def format_scale(scale: dict[str, Any]) -> str:
    return (
        f"{scale['images']:,} images of 28x28: raw {scale['raw_uint8_mb']:.0f} MB, training tensor "
        f"{scale['training_tensor_mb']:.0f} MB ({scale['training_tensor_dtype']}), read+preprocess "
        f"{scale['read_and_preprocess_s']:.1f} s ({scale['read_and_preprocess_images_per_s']:.0f} images/s), loader "
        f"{scale['loader_epoch_images_per_s']:.0f} images/s over a full epoch, training "
        f"{scale['train_images_per_s']:.0f} images/s, {scale['loader_workers']} loader workers (no per-worker "
        f"copies), peak RSS {scale['peak_rss_mb']:.0f} MB (at start {scale['peak_rss_at_start_mb']:.0f} MB)."
    )


def run_part(part: str, args: list[str]) -> dict[str, Any]:
    """Run one part (``speed`` or ``scale``) in a fresh process, so each reports its own peak memory."""
    import subprocess

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"{part}.json"
        subprocess.run([sys.executable, __file__, "--part", part, "--out", str(out), *args], check=True)
        return dict(json.loads(out.read_text())[part])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/medmnist/pneumoniamnist.npz"))
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per configuration and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each configuration keeps its best")
    parser.add_argument("--scale-images", type=int, default=90_000, help="images in the memory check (0 = skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=True, help="add the torch.compile row"
    )
    parser.add_argument("--part", choices=["all", "speed", "scale"], default="all")
    parser.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {}
    if args.part == "speed":
        result["speed"] = measure_speed(args.data, steps=args.steps, rounds=args.rounds, compile_row=args.compile)
    elif args.part == "scale":
        result["scale"] = measure_scale(args.scale_images)
    else:
        common = ["--threads", str(args.threads)]
        result["speed"] = run_part(
            "speed",
            [
                *common,
                *["--data", str(args.data), "--steps", str(args.steps), "--rounds", str(args.rounds)],
                "--compile" if args.compile else "--no-compile",
            ],
        )
        print(format_speed(result["speed"]))
        if args.scale_images:
            result["scale"] = run_part("scale", [*common, "--scale-images", str(args.scale_images)])
            print("\n" + format_scale(result["scale"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.part == "all":
        print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
