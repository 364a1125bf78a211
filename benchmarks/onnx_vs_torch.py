"""Inference speed: PyTorch vs ONNX Runtime on the same network and inputs, batch 1 (latency) and batch 64
(throughput), in one run on one machine.

Run: ``nice -n 10 python benchmarks/onnx_vs_torch.py --run runs/demo/run`` (a trained run), or without ``--run``
for an untrained registry network (speed does not depend on the weights):
``nice -n 10 python benchmarks/onnx_vs_torch.py --network resnet18 --input-size 64``.
Prints a table and writes ``benchmarks/results/onnx_vs_torch.json``.

Engines: ``torch-fp32`` (plain eval forward), ``torch-plan`` (the predictor's own path: the plan's bf16
autocast and channels_last, as ``medimg predict`` runs it), ``onnxruntime`` (float32, CPU provider). All get
the same number of threads.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def measure(run_once: Callable[[], Any], *, budget_s: float, min_reps: int = 5) -> list[float]:
    """Seconds per call: 2 warm-up calls, then repeat until ``budget_s`` is spent (at least ``min_reps``)."""
    for _ in range(2):
        run_once()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - started < budget_s:
        t0 = time.perf_counter()
        run_once()
        times.append(time.perf_counter() - t0)
        if len(times) >= 2000:
            break
    return times


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def build_model(args: argparse.Namespace) -> Any:
    from medimg import Model

    if args.run:
        return Model.load(args.run)
    from medimg.planning.plan import Plan
    from medimg.tasks.classify.network import build_network

    dims = args.dims
    plan = Plan(
        spatial_dims=dims,
        in_channels=1,
        input_size=[args.input_size] * dims,
        network=args.network,
        width=args.width,
        amp="bf16" if args.bf16 else "none",
    )
    torch.manual_seed(0)
    model = Model(args.network)
    model.network_, model.plan_, model.class_names_ = build_network(plan).eval(), plan, ["a", "b"]
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a trained run folder (default: an untrained --network)")
    parser.add_argument("--network", default="resnet18")
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--dims", type=int, default=2, choices=(2, 3))
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--bf16", action="store_true", help="untrained network: plan with bf16 autocast")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget-s", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--out", type=Path, default=RESULTS / "onnx_vs_torch.json")
    args = parser.parse_args()

    import onnxruntime as ort

    from medimg.tasks.classify.inference import predict_logits

    torch.set_num_threads(args.threads)
    model = build_model(args)
    network, plan = model.network_.float().eval(), model.plan_
    with tempfile.TemporaryDirectory() as tmp:
        exported = model.export(Path(tmp) / "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(exported.path), options, providers=["CPUExecutionProvider"])

        rng = np.random.default_rng(0)
        rows: list[dict[str, Any]] = []
        for batch in (1, 64):
            x = rng.standard_normal((batch, plan.in_channels, *plan.input_size)).astype(np.float32)
            xt = torch.from_numpy(x)

            def torch_fp32(xt: torch.Tensor = xt) -> None:
                with torch.no_grad():
                    network(xt)

            def torch_plan(xt: torch.Tensor = xt) -> None:
                predict_logits(network, xt, plan)

            def onnx(x: np.ndarray = x) -> None:
                session.run(["logits"], {"image": x})

            for engine, call in (("torch-fp32", torch_fp32), ("torch-plan", torch_plan), ("onnxruntime", onnx)):
                times = measure(call, budget_s=args.budget_s)
                median = statistics.median(times)
                rows.append(
                    {
                        "engine": engine,
                        "batch": batch,
                        "reps": len(times),
                        "latency_median_ms": round(1000 * median, 3),
                        "latency_p95_ms": round(1000 * percentile(times, 95), 3),
                        "images_per_s": round(batch / median, 1),
                    }
                )
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "network": plan.network,
        "input": [plan.in_channels, *plan.input_size],
        "plan_amp": plan.amp,
        "threads": args.threads,
        "parity_max_abs_diff": exported.max_abs_diff,
        "exporter": exported.exporter,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "cpu": platform.processor() or platform.machine(),
        "rows": rows,
    }
    print(
        f"{plan.network} input {result['input']}, {args.threads} threads, parity max|diff| {exported.max_abs_diff:.2g}"
    )
    print(f"{'engine':12s} {'batch':>5s} {'median ms':>10s} {'p95 ms':>9s} {'images/s':>10s} {'reps':>5s}")
    for row in rows:
        print(
            f"{row['engine']:12s} {row['batch']:5d} {row['latency_median_ms']:10.2f} {row['latency_p95_ms']:9.2f} "
            f"{row['images_per_s']:10.1f} {row['reps']:5d}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
