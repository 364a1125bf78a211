"""MedMNIST benchmark: every ``.npz`` in a folder, official splits and metrics, >= 3 seeds, the published MedMNIST v2
baseline protocol (``reference``) next to medimg's own plan under a wall-clock budget (``auto``), plus the
machine's speed measurements (``benchmarks/speed.py``).

    python benchmarks/medmnist.py --data ../shared/data/medmnist                 # everything, 3 seeds
    python benchmarks/medmnist.py --data ../shared/data/medmnist --epochs 10     # a shortened reference

Each (dataset, configuration, seed) trains in its own process (so each reports its own peak memory) through
the public API (``Model().fit``). Results are written after every run to ``benchmarks/results/medmnist.json``;
``--resume`` keeps the runs already there with the same settings. ACC is argmax accuracy; AUC is the ROC-AUC of
the positive-class score for binary tasks and the macro one-vs-rest AUC otherwise (MedMNIST's evaluator).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: Published test ACC / AUC, MedMNIST v2 (Yang et al., Scientific Data 2023), as listed in ../shared/data/README.md.
PUBLISHED: dict[str, list[tuple[str, float, float]]] = {
    "pneumoniamnist": [
        ("ResNet-18 (28)", 0.854, 0.944),
        ("ResNet-50 (224)", 0.884, 0.962),
        ("auto-sklearn", 0.855, 0.942),
        ("AutoKeras", 0.878, 0.947),
        ("Google AutoML Vision", 0.946, 0.991),
    ],
    "adrenalmnist3d": [("ResNet-18+3D (28^3)", 0.721, 0.827), ("auto-sklearn (28^3)", 0.802, 0.828)],
}

#: The MedMNIST v2 baseline protocol as medimg plan fields: ResNet-18 with the CIFAR stem (medimg uses it for
#: inputs <= 64 px) at 28 px, Adam lr 1e-3, batch 128, 100 epochs, lr x0.1 at 50% and 75% of training, no
#: augmentation, (x/255 - 0.5) / 0.5, the checkpoint with the best validation AUC. Precision follows the
#: machine (bf16 autocast where the CPU has it), as in every medimg run.
REFERENCE: dict[str, Any] = {
    "network": "resnet18",
    "width": 1.0,
    "dropout": 0.0,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
    "scheduler": "step",
    "step_milestones": [0.5, 0.75],
    "warmup_epochs": 0.0,
    "epochs": 100,
    "batch_size": 128,
    "label_smoothing": 0.0,
    "class_weights": None,
    "augmentation": {  # every augmentation off
        "flip_axes": [],
        "rotate_deg": 0.0,
        "scale": 0.0,
        "translate": 0.0,
        "brightness": 0.0,
        "contrast": 0.0,
        "noise_std": 0.0,
    },
    "clip_low": 0.0,
    "clip_high": 255.0,
    "norm_mean": 127.5,
    "norm_std": 127.5,
    "monitor": "auc",
    "early_stopping_patience": 0,
    "tta": False,
    "grad_clip_norm": None,
}
REFERENCE_3D_BATCH = 32  # our choice for 3D volumes (the paper's 2D protocol uses 128)
BUDGET_RESERVE = 0.1  # share of --budget-s kept for reading, preprocessing, test evaluation and the report


def configurations(spatial_dims: int, side: int, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Plan overrides per configuration name for a dataset of ``spatial_dims`` and native side ``side``."""
    reference = {**REFERENCE, "input_size": 28}
    if args.epochs:
        reference["epochs"] = args.epochs
    budget = {"time_budget_s": args.budget_s * (1 - BUDGET_RESERVE)}
    if spatial_dims == 2:
        configs = {"reference": reference, "auto": budget}
        if args.short_budget_s:  # how soon the default plan passes the reference protocol's accuracy
            configs[f"auto-{args.short_budget_s:g}s"] = {"time_budget_s": args.short_budget_s * (1 - BUDGET_RESERVE)}
        if args.distil:  # the student network alone, same budget, no teacher: what distillation adds
            configs[f"{args.distil}-alone"] = {
                "network": args.distil,
                "time_budget_s": args.distil_budget_s,
                "ensemble_budget_max": 1,
            }
        return {**configs, **variants(budget, args)}
    reference["batch_size"] = REFERENCE_3D_BATCH
    configs = {"reference": reference, "auto-28": {**budget, "input_size": 28}}
    if side != 28:
        configs[f"auto-{side}"] = {**budget, "input_size": side}  # the native volume (simple-cnn strides it)
    return {**configs, **variants(configs["auto-28"], args)}


def variants(auto: dict[str, Any], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """``auto-NAME`` per ``--variant NAME=JSON``: the budgeted default plan with those plan fields on top, run in the
    same invocation as ``auto`` so an ingredient is measured side by side with the plan without it."""
    configs = {}
    for variant in args.variant:
        name, _, fields = variant.partition("=")
        try:
            overrides = json.loads(fields)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"--variant {variant!r}: the plan fields after '=' are not JSON ({exc})") from None
        if not name or not isinstance(overrides, dict):
            raise SystemExit(
                f"--variant {variant!r}: give NAME='{{\"field\": value}}', e.g. mixup='{{\"mixup\": 0.2}}'"
            )
        configs[f"auto-{name}"] = {**auto, **overrides}
    return configs


def official_metrics(y: Any, probabilities: Any) -> tuple[float, float]:
    """(ACC, AUC) as MedMNIST's evaluator defines them."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    acc = float(np.mean(probabilities.argmax(axis=1) == y))
    if probabilities.shape[1] == 2:
        auc = float(roc_auc_score(y, probabilities[:, 1]))
    else:
        auc = float(np.mean([roc_auc_score(y == k, probabilities[:, k]) for k in range(probabilities.shape[1])]))
    return acc, auc


# ---------------------------------------------------------------------------------------------- one run (child)
def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """Train and test one configuration with one seed (runs in its own process)."""
    import resource

    import numpy as np
    import torch

    from medimg import Dataset, Model
    from medimg.tasks.classify.data import prepare_split
    from medimg.tasks.classify.inference import predict_proba

    torch.set_num_threads(spec["threads"])
    started = time.perf_counter()
    dataset = Dataset.load(spec["file"])
    model = Model().fit(
        dataset, run_dir=spec["run_dir"], seed=spec["seed"], progress=False, tensorboard=False, **spec["overrides"]
    )
    wall_s = time.perf_counter() - started
    assert model.network_ is not None and model.plan_ is not None
    distilled = distil(dataset, spec) if spec.get("distil") else None
    test = prepare_split(dataset, [c for c in dataset.cases if c.split == "test"], model.plan_)
    probabilities = predict_proba(model.network_, test.x, model.plan_)
    acc, auc = official_metrics(test.y.numpy(), probabilities)
    train_labels = np.array([c.label for c in dataset.cases if c.split == "train"])
    val = prepare_split(dataset, [c for c in dataset.cases if c.split == "val"], model.plan_)
    ablation = ablate(model.network_, model.plan_, test, probabilities, train_labels, val)
    rows = [json.loads(line) for line in (Path(spec["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    plan = model.plan_
    training = model.metadata_.get("training", {})
    return {
        "acc": acc,
        "auc": auc,
        "ablation": ablation,
        **({"distilled": distilled} if distilled else {}),
        "wall_s": wall_s,
        "train_s": training.get("train_time_s"),
        "train_images_per_s": float(np.median([r["train_images_per_s"] for r in rows])),
        "epochs_run": len(rows),
        "epochs_scheduled": training.get("epochs_scheduled"),
        "best_epoch": training.get("best_epoch"),
        "ensemble": plan.ensemble,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "plan": describe_plan(plan),
    }


def distil(dataset: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Distil the run just trained into ``spec["distil"]`` (a network name) under ``spec["distil_budget_s"]``:
    ``medimg fit --teacher RUN``, the same seed and split; its test ACC/AUC (and ACC at the balanced decision)."""
    import numpy as np

    from medimg import Model
    from medimg.tasks.classify.data import prepare_split
    from medimg.tasks.classify.inference import predict_proba

    started = time.perf_counter()
    student = Model(spec["distil"]).fit(
        dataset,
        run_dir=str(Path(spec["run_dir"]).parent / "student"),
        teacher=spec["run_dir"],
        seed=spec["seed"],
        progress=False,
        tensorboard=False,
        time_budget_s=spec["distil_budget_s"],
        ensemble_budget_max=1,
    )
    assert student.network_ is not None and student.plan_ is not None
    test = prepare_split(dataset, [c for c in dataset.cases if c.split == "test"], student.plan_)
    probabilities = predict_proba(student.network_, test.x, student.plan_)
    acc, auc = official_metrics(test.y.numpy(), probabilities)
    train_labels = np.array([c.label for c in dataset.cases if c.split == "train"])
    balanced = float(np.mean(balanced_accuracy_decision(probabilities, train_labels) == test.y.numpy()))
    rows = student.metadata_.get("training", {})
    return {
        "network": spec["distil"],
        "acc": acc,
        "auc": auc,
        "acc_balanced": balanced,
        "wall_s": time.perf_counter() - started,
        "epochs_run": rows.get("epochs_run"),
    }


def balanced_accuracy_decision(probabilities: Any, train_labels: Any) -> Any:
    """The balanced decision: argmax of ``p(k|x) / prior_k`` with the training prior (for two classes, the threshold
    at the training share of the positive class). The saved network is calibrated to the training prior; this
    operating point weighs every class equally, as if the classes were balanced (the same as training without the
    logit adjustment)."""
    import numpy as np

    prior = np.bincount(train_labels, minlength=probabilities.shape[1]) / len(train_labels)
    return np.argmax(probabilities / np.maximum(prior, 1e-12), axis=1)


def ablate(
    network: Any, plan: Any, test: Any, probabilities: Any, train_labels: Any, val: Any = None
) -> dict[str, Any]:
    """What each post-training ingredient does on the test split, from the one trained model: every ensemble
    member alone, the ensemble, and the balanced decision instead of argmax (ACC at both); for two classes also
    the operating point chosen on validation (``binary_threshold=youden``, emulated on the same networks)."""
    import numpy as np

    from medimg.tasks.classify.inference import predict_proba

    y = test.y.numpy()
    members = list(getattr(network, "members", [network]))
    chosen = validation_operating_points(members, plan, test, val)
    rows: dict[str, Any] = {}
    for k, member in enumerate(members):
        p = predict_proba(member, test.x, plan) if len(members) > 1 else probabilities
        acc, auc = official_metrics(y, p)
        rows[f"network_{k + 1}"] = {
            "acc": acc,
            "auc": auc,
            "acc_balanced": float(np.mean(balanced_accuracy_decision(p, train_labels) == y)),
            **({"acc_val_threshold": float(np.mean(chosen.decide([k]) == y))} if chosen else {}),
        }
    acc, auc = official_metrics(y, probabilities)
    rows["ensemble"] = {
        "acc": acc,
        "auc": auc,
        "acc_balanced": float(np.mean(balanced_accuracy_decision(probabilities, train_labels) == y)),
        **({"acc_val_threshold": float(np.mean(chosen.decide(range(len(members))) == y))} if chosen else {}),
        **({"val_thresholds": chosen.thresholds} if chosen else {}),
    }
    return rows


class OperatingPoints:
    """The members of a two-class model with ``binary_threshold=youden`` folded into copies of them (medimg's own
    :func:`~medimg.tasks.classify.operating_points.fold_operating_points`, on the validation split), and the test
    decisions of any subset of them: the argmax of their mean folded logits, as the ensemble averages logits."""

    def __init__(self, thresholds: list[float], folded_logits: list[Any]) -> None:
        self.thresholds = thresholds
        self.folded_logits = folded_logits

    def decide(self, members: Any) -> Any:
        import numpy as np

        return np.mean([self.folded_logits[k] for k in members], axis=0).argmax(axis=1)


def validation_operating_points(members: list[Any], plan: Any, test: Any, val: Any) -> OperatingPoints | None:
    """:class:`OperatingPoints` of a two-class model's members, ``None`` for more classes or no validation split."""
    if val is None or len(val) == 0 or plan.num_classes != 2 or plan.multi_label:
        return None
    import copy

    from medimg.tasks.classify.inference import predict_logits
    from medimg.tasks.classify.operating_points import fold_operating_points

    youden = plan.model_copy(update={"binary_threshold": "youden"})
    thresholds, folded_logits = [], []
    for member in members:
        folded = copy.deepcopy(member)
        (t,) = fold_operating_points(folded, youden, val) or [0.5]
        thresholds.append(t)
        folded_logits.append(predict_logits(folded, test.x, plan).double().numpy())
    return OperatingPoints(thresholds, folded_logits)


def describe_plan(plan: Any) -> str:
    """One line saying what a plan trains: network, input, batch, optimiser, schedule, augmentation, precision."""
    side = "x".join(map(str, plan.input_size))
    return (
        f"{plan.network} w{plan.width:g} {side} bs{plan.batch_size} {plan.optimizer} lr{plan.learning_rate:g} "
        f"{plan.scheduler} aug={'on' if plan.augmentation.enabled else 'off'} {plan.amp} "
        f"tta={'on' if plan.tta else 'off'}"
    )


def _child(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    result = run_one(spec)
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


def run_in_subprocess(spec: dict[str, Any], keep: Path | None = None) -> dict[str, Any]:
    """Run one configuration and seed in its own process; its run folders go to ``keep`` (else are deleted)."""
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) if keep is None else keep
        folder.mkdir(parents=True, exist_ok=True)
        spec = {**spec, "run_dir": str(Path(folder) / "run"), "out": str(Path(folder) / "result.json")}
        spec_path = Path(folder) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.run([sys.executable, __file__, "--child", str(spec_path)], capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"error": " | ".join(tail)}
        return dict(json.loads(Path(spec["out"]).read_text()))


# ---------------------------------------------------------------------------------------------- the table
def describe_file(path: Path) -> dict[str, Any]:
    """Spatial dims, native side, classes and split sizes of a MedMNIST file (or why it cannot be used)."""
    from medimg import Dataset
    from medimg.errors import MedimgError

    try:
        dataset = Dataset.load(path)
    except MedimgError as error:
        return {"skipped": str(error)}
    if dataset.multi_label:
        return {
            "skipped": f"multi-label ({len(dataset.class_names)} findings per image): this table is single-label "
            "accuracy/AUC; `medimg fit` reports the macro AUC per finding"
        }
    arrays = dataset.arrays or {}
    side = int(arrays["train"].shape[1]) if "train" in arrays else 0
    counts = {split: len(a) for split, a in arrays.items()}
    return {"spatial_dims": dataset.spatial_dims, "side": side, "classes": len(dataset.class_names), "split": counts}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]

    def stat(key: str) -> tuple[float, float]:
        values = [float(r[key]) for r in ok if r.get(key) is not None]
        if not values:
            return float("nan"), float("nan")
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

    return {
        "seeds": len(ok),
        "errors": [r["error"] for r in runs if "error" in r],
        **{f"{k}_mean": stat(k)[0] for k in ("acc", "auc", "wall_s", "train_images_per_s", "peak_rss_mb")},
        **{f"{k}_sd": stat(k)[1] for k in ("acc", "auc", "wall_s")},
        "epochs_run": [r.get("epochs_run") for r in ok],
        "ablation_mean": mean_rows([r["ablation"] for r in ok if "ablation" in r]),
        **(
            {"distilled_mean": mean_rows([{"student": r["distilled"]} for r in ok])["student"]}
            if ok and all("distilled" in r for r in ok)
            else {}
        ),
        "networks": [r.get("ensemble", 1) for r in ok],
        "plan": ok[0]["plan"] if ok else "",
    }


def mean_rows(ablations: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per row present in every run (``network_1``, ``ensemble``...), the mean of each numeric value over runs."""
    if not ablations:
        return {}
    shared = [k for k in ablations[0] if all(k in a for a in ablations)]
    return {
        row: {
            key: statistics.fmean(float(a[row][key]) for a in ablations)
            for key, value in ablations[0][row].items()
            if isinstance(value, (int, float)) and all(isinstance(a[row].get(key), (int, float)) for a in ablations)
        }
        for row in shared
    }


def format_ablation(results: dict[str, Any]) -> str:
    """Mean test ACC (argmax and balanced decision) and AUC per ingredient, from the same trained runs."""
    lines = [
        "| dataset | configuration | model | test ACC | ACC, balanced decision | ACC, threshold chosen on val "
        "| test AUC |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, entry in results["datasets"].items():
        for config, data in entry.get("configurations", {}).items():
            s = data.get("summary") or summarise(data["runs"])
            rows = dict(s.get("ablation_mean", {}))
            if "distilled_mean" in s:
                rows[f"distilled into {data['runs'][0]['distilled']['network']}"] = s["distilled_mean"]
            for row, m in rows.items():
                if {"acc", "auc", "acc_balanced"} <= set(m):
                    chosen = f"{m['acc_val_threshold']:.3f}" if "acc_val_threshold" in m else ""
                    lines.append(
                        f"| {name} | {config} | {row} | {m['acc']:.3f} | {m['acc_balanced']:.3f} | {chosen} | "
                        f"{m['auc']:.3f} |"
                    )
    return "\n".join(lines)


def format_table(results: dict[str, Any]) -> str:
    lines = [
        "| dataset | configuration | what ran | seeds | test ACC | test AUC | wall s/seed | train img/s "
        "| peak RSS MB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in results["datasets"].items():
        if "skipped" in entry:
            lines.append(f"| {name} | skipped | {entry['skipped']} | | | | | | |")
            continue
        for config, data in entry["configurations"].items():
            s = summarise(data["runs"])
            epochs = "/".join(str(e) for e in s["epochs_run"])
            if any(n > 1 for n in s["networks"]):  # budget-filled ensembles: networks per seed
                epochs += ", networks " + "/".join(str(n) for n in s["networks"])
            if s["seeds"] == 0:
                lines.append(f"| {name} | {config} | failed: {'; '.join(s['errors'])[:200]} | 0 | | | | | |")
                continue
            lines.append(
                f"| {name} | {config} | {s['plan']}, epochs {epochs} | {s['seeds']} | "
                f"{s['acc_mean']:.3f} ± {s['acc_sd']:.3f} | {s['auc_mean']:.3f} ± {s['auc_sd']:.3f} | "
                f"{s['wall_s_mean']:.0f} ± {s['wall_s_sd']:.0f} | {s['train_images_per_s_mean']:.0f} | "
                f"{s['peak_rss_mb_mean']:.0f} |"
            )
        for label, acc, auc in PUBLISHED.get(name.split("_")[0], []):
            lines.append(f"| {name} | published: {label} | MedMNIST v2 paper | | {acc:.3f} | {auc:.3f} | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/medmnist"), help="folder of MedMNIST .npz")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (>= 3 for the published table)")
    parser.add_argument("--configs", default="", help="only these configurations, e.g. auto,reference")
    parser.add_argument("--only", default="", help="only these datasets (file stems), comma-separated")
    parser.add_argument("--epochs", type=int, default=0, help="shorten the reference protocol to this many epochs")
    parser.add_argument("--budget-s", type=float, default=600.0, help="wall-clock budget per auto run, seconds")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument(
        "--short-budget-s", type=float, default=0.0, help="also run auto at this budget (time to reference accuracy)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="also run auto with these plan fields as auto-NAME, e.g. mixup='{\"mixup\": 0.2}' (repeatable)",
    )
    parser.add_argument("--keep-runs", type=Path, help="keep every run folder under this folder")
    parser.add_argument("--distil", default="", help="distil each 2D auto run into this network (e.g. simple-cnn)")
    parser.add_argument("--distil-budget-s", type=float, default=150.0, help="training budget of each distillation")
    parser.add_argument("--speed", action=argparse.BooleanOptionalAction, default=True, help="speed measurements")
    parser.add_argument("--speed-steps", type=int, default=20, help="timed steps per speed configuration")
    parser.add_argument(
        "--speed-compile", action=argparse.BooleanOptionalAction, default=True, help="time torch.compile too"
    )
    parser.add_argument("--scale-images", type=int, default=90_000, help="images in the memory check (0 = skip)")
    parser.add_argument("--resume", action="store_true", help="keep finished runs from --out with the same settings")
    parser.add_argument(
        "--fresh", action="store_true", help="with --resume: retrain the selected runs (others in --out are kept)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "medmnist.json")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)

    files = sorted(args.data.glob("*.npz"))
    only = {s for s in args.only.split(",") if s}
    files = [f for f in files if not only or f.stem in only]
    if not files:
        print(f"error: no MedMNIST .npz files in {args.data}", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    wanted = {c for c in args.configs.split(",") if c}
    # --resume: start from the saved results; runs of other datasets and configurations are kept as they are
    previous = json.loads(args.out.read_text()) if args.resume and args.out.is_file() else {}
    results: dict[str, Any] = {
        "commands": [*previous.get("commands", []), " ".join(["python", *sys.argv])],
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "threads": args.threads},
        "datasets": dict(previous.get("datasets", {})),
        **{k: previous[k] for k in ("speed", "scale") if k in previous},
    }
    for file in files:
        info = describe_file(file)
        if "skipped" in info:
            results["datasets"][file.stem] = info
            print(f"{file.name}: skipped ({info['skipped']})")
            continue
        saved = results["datasets"].get(file.stem, {}).get("configurations", {})
        entry = {**info, "configurations": dict(saved)}
        results["datasets"][file.stem] = entry
        for config, overrides in configurations(info["spatial_dims"], info["side"], args).items():
            if wanted and config.split("-")[0] not in wanted and config not in wanted:
                continue
            old = saved.get(config, {})
            runs = []
            for seed in seeds:
                kept = [
                    r
                    for r in old.get("runs", [])
                    if r.get("seed") == seed and old.get("overrides") == overrides and not args.fresh
                ]
                if kept and "error" not in kept[0]:
                    runs.append(kept[0])
                    continue
                print(f"{file.name} {config} seed {seed} ...", flush=True)
                spec = {"file": str(file), "seed": seed, "threads": args.threads, "overrides": overrides}
                if args.distil and config == "auto" and info["spatial_dims"] == 2:
                    spec.update(distil=args.distil, distil_budget_s=args.distil_budget_s)
                keep = args.keep_runs / file.stem / config / f"seed_{seed}" if args.keep_runs else None
                if keep is not None and args.fresh and keep.exists():  # retrained: its old folder would refuse it
                    shutil.rmtree(keep)
                result = {"seed": seed, **run_in_subprocess(spec, keep)}
                runs.append(result)
                entry["configurations"][config] = {"overrides": overrides, "runs": runs}
                _write(args.out, results)
                shown = result.get("error") or (
                    f"ACC {result['acc']:.3f} AUC {result['auc']:.3f} in {result['wall_s']:.0f} s "
                    f"({result['epochs_run']} epochs, {result['train_images_per_s']:.0f} img/s)"
                )
                print(f"  {shown}", flush=True)
            entry["configurations"][config] = {"overrides": overrides, "runs": runs}
            entry["configurations"][config]["summary"] = summarise(runs)
    _write(args.out, results)
    print("\n" + format_table(results))
    print("\n" + format_ablation(results))
    if args.speed:
        described = {f: describe_file(f) for f in sorted(args.data.glob("*.npz"))}
        two_d = sorted(  # the default 28 px classifier first
            (f for f, d in described.items() if d.get("spatial_dims") == 2), key=lambda f: described[f]["side"] != 28
        )
        if two_d:
            speed_args = ["--threads", str(args.threads), "--steps", str(args.speed_steps), "--data", str(two_d[0])]
            speed_args.append("--compile" if args.speed_compile else "--no-compile")
            from speed import format_scale, format_speed, run_part  # type: ignore[import-not-found]

            results["speed"] = run_part("speed", speed_args)
            print("\n" + format_speed(results["speed"]))
            if args.scale_images:
                results["scale"] = run_part("scale", ["--scale-images", str(args.scale_images)])
                print("\n" + format_scale(results["scale"]))
            _write(args.out, results)
    print(f"\nwritten: {args.out}")
    return 0


def _write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
