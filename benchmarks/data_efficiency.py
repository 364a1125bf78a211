"""Data-efficiency benchmark (issue 13): how much do semi-supervised training and synthetic images buy when only a
few training labels are known? PneumoniaMNIST, official splits, the official test split for every number.

    python benchmarks/data_efficiency.py --budget-s 60                       # every arm, 3 seeds
    python benchmarks/data_efficiency.py --budget-s 60 --arms supervised,semi,full
    python benchmarks/data_efficiency.py --budget-s 90 --fractions 0.05 --arms supervised,semi,full --set width=1

For each labelled fraction (default 1%, 5%, 20%) and seed, a stratified subset of the official training split
(``sklearn.model_selection.train_test_split``, ``random_state=seed``) keeps its labels; the arms train on it:

* ``supervised``: the labelled subset only;
* ``semi``: the subset plus the rest of the training split as the unlabelled pool (``Model.fit(unlabelled=...)``,
  the plan's ``semi_supervised`` settings: FixMatch by default);
* ``noisy_student``: a teacher trained on the subset for ``--teacher-share`` of the budget (``--teacher-arm``:
  supervised, or semi-supervised on the pool), then a student fit on the subset and the pool for the rest of the
  budget, the teacher's soft predictions on the pool being its targets (``Model.fit(teacher=..., unlabelled=...)``;
  Xie et al. 2020, "Self-training with Noisy Student"); the two fits together get the one budget;
* ``synthetic`` (5% and 20%): the subset plus images drawn from a class-conditional generative model trained on
  that subset alone (``medimg fit SUBSET --task generate``, ``medimg generate``, ``Model.fit(synthetic=...)``);
  the generator has its own budget (``--generator-budget-s``), reported next to the classifier's;
* ``full``: every training label (the 100% reference, once per seed).

Every classifier trains under the same wall-clock budget (``--budget-s``: the plan's ``time_budget_s`` is 90% of
it, as in benchmarks/medmnist.py), with the planner's choices otherwise, early stopping off (the budget ends
training; the best validation epoch is kept) and one network. The official validation split (524 labelled images)
selects the epoch in every arm. Each run is its own process; ``benchmarks/results/data_efficiency.json`` is
written after every run (with each run's test scores), and ``--resume`` keeps the finished runs whose settings
match. Arms are compared per seed with a paired bootstrap of test AUC and accuracy
(:func:`medimg.evaluation.paired.paired_bootstrap`, same resampled test images for both arms).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BUDGET_RESERVE = 0.1  # share of --budget-s kept for reading, preprocessing and evaluation
ARMS = ("supervised", "semi", "noisy_student", "synthetic", "full")
POOL_ARMS = ("semi", "noisy_student")  # the arms that learn from the unlabelled pool
SYNTHETIC_FRACTIONS = (0.05, 0.2)


def common_overrides(budget_s: float, network: str = "auto") -> dict[str, Any]:
    """Plan fields every arm shares: the budget ends training (epochs large, early stopping off), one network
    (``network``: the planner's unless named)."""
    return {
        **({"network": network} if network != "auto" else {}),
        "time_budget_s": round(budget_s * (1 - BUDGET_RESERVE), 3),
        "epochs": 10_000,
        "early_stopping_patience": 0,
        "ensemble": 1,
        "ensemble_budget_max": 1,
    }


def labelled_subset(dataset: Any, fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """A stratified, seeded subset of the training split (``fraction`` of it) and the rest of the training split."""
    from sklearn.model_selection import train_test_split

    train = [c for c in dataset.cases if c.split == "train"]
    if fraction >= 1:
        return train, []
    labels = [c.label for c in train]
    kept, rest = train_test_split(train, train_size=fraction, stratify=labels, random_state=seed)
    order = {c.case_id: i for i, c in enumerate(train)}
    return sorted(kept, key=lambda c: order[c.case_id]), sorted(rest, key=lambda c: order[c.case_id])


# ---------------------------------------------------------------------------------------------- one run (child)
def arm_overrides(spec: dict[str, Any]) -> dict[str, Any]:
    """One arm's plan fields: every arm's (``--set``), then for the pool arms ``--pool-set`` and the
    ``semi_supervised`` fields of ``--semi``."""
    overrides = dict(spec["overrides"])
    if spec["arm"] in POOL_ARMS:
        overrides.update(spec.get("pool_overrides", {}))
        if spec.get("semi_supervised"):
            overrides["semi_supervised"] = spec["semi_supervised"]
    return overrides


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """Train one arm for one fraction and seed and score the official test split (runs in its own process)."""
    import dataclasses

    import numpy as np
    import torch

    from medimg import Dataset, Model
    from medimg.tasks.classify.data import prepare_split
    from medimg.tasks.classify.inference import predict_proba

    torch.set_num_threads(spec["threads"])
    started = time.perf_counter()
    dataset = Dataset.load(spec["data"], task="classify")
    labelled, rest = labelled_subset(dataset, spec["fraction"], spec["seed"])
    others = [c for c in dataset.cases if c.split != "train"]
    subset = dataclasses.replace(dataset, cases=[*labelled, *others], unlabelled=[])
    fit_options: dict[str, Any] = {}
    generator: dict[str, Any] = {}
    overrides = arm_overrides(spec)
    teacher: dict[str, Any] = {}
    if spec["arm"] in POOL_ARMS:
        fit_options["unlabelled"] = rest
    if spec["arm"] == "noisy_student":
        share = spec["teacher_share"]
        teacher_dir = Path(spec["run_dir"]).parent / "teacher"
        teacher_options = {"unlabelled": rest} if spec["teacher_arm"] == "semi" else {}
        teacher_overrides = {**overrides, "time_budget_s": overrides["time_budget_s"] * share}
        trained = Model().fit(
            subset, run_dir=teacher_dir, seed=spec["seed"], progress=False, tensorboard=False,
            num_threads=spec["threads"], **teacher_options, **teacher_overrides,
        )  # fmt: skip
        trained_training = trained.metadata_.get("training", {})
        teacher = {
            "arm": spec["teacher_arm"],
            "share": share,
            "train_s": trained_training.get("train_time_s"),
            "best_epoch": trained_training.get("best_epoch"),
            **validation_at_best(_metrics_rows(teacher_dir), trained_training.get("best_epoch")),
        }
        overrides["time_budget_s"] = overrides["time_budget_s"] * (1 - share)
        fit_options["teacher"] = str(teacher_dir)
    elif spec["arm"] == "synthetic":
        generator_started = time.perf_counter()
        folder, generator = synthesise(spec, dataset, labelled)
        generator["total_s"] = round(time.perf_counter() - generator_started, 1)
        started += generator["total_s"]  # the classifier's wall time excludes training and sampling the generator
        fit_options["synthetic"] = str(folder)
    model = Model().fit(
        subset,
        run_dir=spec["run_dir"],
        seed=spec["seed"],
        progress=False,
        tensorboard=False,
        num_threads=spec["threads"],
        **fit_options,
        **overrides,
    )
    wall_s = time.perf_counter() - started
    assert model.network_ is not None and model.plan_ is not None
    test = prepare_split(dataset, [c for c in dataset.cases if c.split == "test"], model.plan_)
    probabilities = predict_proba(model.network_, test.x, model.plan_)
    y = test.y.numpy()
    from sklearn.metrics import roc_auc_score

    rows = _metrics_rows(Path(spec["run_dir"]))
    training = model.metadata_.get("training", {})
    return {
        "auc": float(roc_auc_score(y, probabilities[:, 1])),
        "acc": float(np.mean(probabilities.argmax(1) == y)),
        "labelled_images": len(labelled),
        "unlabelled_images": training.get("unlabelled_images", 0),
        "synthetic_images": training.get("synthetic_images", 0),
        "generator": generator,
        "teacher": teacher,
        "wall_s": round(wall_s, 1),
        "autogroup_nice": autogroup_nice(),
        "train_s": training.get("train_time_s"),
        "epochs_run": len(rows),
        "best_epoch": training.get("best_epoch"),
        "train_images_per_s": float(np.median([r["train_images_per_s"] for r in rows])) if rows else None,
        "pseudo_label_rate_last": (training.get("semi_supervised", {}).get("epochs") or [{}])[-1].get(
            "pseudo_label_rate"
        ),
        "pseudo_labels_per_class_last": (training.get("semi_supervised", {}).get("epochs") or [{}])[-1].get(
            "pseudo_labels_per_class"
        ),
        **validation_at_best(rows, training.get("best_epoch")),
        "plan": f"{model.plan_.network} w{model.plan_.width:g} bs{model.plan_.batch_size}",
        "val_every": model.plan_.val_every,
        "test_labels": y.tolist(),
        "test_scores": [round(float(p), 6) for p in probabilities[:, 1]],
    }


def _metrics_rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def autogroup_nice() -> int | None:
    """This process's autogroup nice value (Linux ``/proc/self/autogroup``; ``None`` elsewhere): the priority the
    run had on a shared machine (-15: raised over other sessions' jobs)."""
    try:
        return int(Path("/proc/self/autogroup").read_text().split("nice")[-1])
    except (OSError, ValueError):
        return None


def budget_flags(runs: dict[str, Any], budget_s: float, tolerance: float = 0.15) -> dict[str, str]:
    """Runs whose classifier wall time (reading, preprocessing and training; not the test scoring) is not within
    ``tolerance`` of the budget: they got more or less compute than the others."""
    flags = {}
    for key, run in runs.items():
        wall = run.get("wall_s")
        if wall is not None and abs(wall - budget_s) > tolerance * budget_s:
            flags[key] = f"wall {wall:.0f} s for a {budget_s:.0f} s budget"
    return flags


def validation_at_best(rows: list[dict[str, Any]], best_epoch: int | None) -> dict[str, Any]:
    """The official validation split's AUC, balanced accuracy and accuracy at the selected epoch (the numbers
    settings are chosen on; the test split is never used for that)."""
    row = next((r for r in rows if r.get("epoch") == best_epoch), None)
    if row is None:
        return {}
    return {
        f"val_{name}": round(float(row[f"val_{name}"]), 4)
        for name in ("auc", "balanced_accuracy", "accuracy")
        if f"val_{name}" in row
    }


def synthesise(spec: dict[str, Any], dataset: Any, labelled: list[Any]) -> tuple[Path, dict[str, Any]]:
    """Train a class-conditional generator on the labelled subset alone and draw ``synthetic_ratio`` x its size
    in images, spread evenly over the classes (``medimg fit --task generate`` and ``medimg generate``)."""
    import numpy as np

    work = Path(spec["run_dir"]).parent
    subset_file = work / "subset" / Path(spec["data"]).name  # the MedMNIST layout: the stem names the flavour
    subset_file.parent.mkdir(parents=True, exist_ok=True)
    arrays = dict(np.load(spec["data"]))
    rows = np.array([int(c.index) for c in labelled])
    arrays["train_images"], arrays["train_labels"] = arrays["train_images"][rows], arrays["train_labels"][rows]
    np.savez(subset_file, **arrays)
    medimg = [sys.executable, "-m", "medimg"]
    gen_run, folder = work / "generator", work / "synthetic"
    started = time.perf_counter()
    budget = [
        "--set",
        f"time_budget_s={spec['generator_budget_s'] * (1 - BUDGET_RESERVE):.0f}",
        "--set",
        "epochs=10000",
    ]
    _check(
        [*medimg, "fit", str(subset_file), "--task", "generate", "--run-dir", str(gen_run), "--no-progress",
         "--seed", str(spec["seed"]), "--threads", str(spec["threads"]), *budget]
    )  # fmt: skip
    trained_s = time.perf_counter() - started
    n = max(len(dataset.class_names), round(spec["synthetic_ratio"] * len(labelled)))
    _check([*medimg, "generate", str(gen_run), "--n", str(n), "--out", str(folder), "--seed", str(spec["seed"])])
    metadata = json.loads((gen_run / "metadata.json").read_text())
    return folder, {"train_s": round(trained_s, 1), "images": n, "network": metadata.get("network")}


def _check(command: list[str]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"{' '.join(command[2:4])} failed: {tail}")


def _child(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    result = run_one(spec)
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


def run_in_subprocess(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        spec = {**spec, "run_dir": str(Path(folder) / "run"), "out": str(Path(folder) / "result.json")}
        spec_path = Path(folder) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.run([sys.executable, __file__, "--child", str(spec_path)], capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"error": " | ".join(tail)}
        return dict(json.loads(Path(spec["out"]).read_text()))


# ---------------------------------------------------------------------------------------------- comparisons
def run_key(arm: str, fraction: float, seed: int) -> str:
    return f"{arm}@{fraction:g}/seed{seed}"


def compare(runs: dict[str, Any], a: str, b: str, n_resamples: int) -> dict[str, Any] | None:
    """Paired bootstrap of test AUC and accuracy, run ``a`` minus run ``b`` (same test images)."""
    import numpy as np

    from medimg.evaluation.paired import paired_bootstrap

    ra, rb = runs.get(a), runs.get(b)
    if not ra or not rb or "error" in ra or "error" in rb:
        return None
    y = np.asarray(ra["test_labels"])
    pa = np.asarray(ra["test_scores"])
    pb = np.asarray(rb["test_scores"])
    out: dict[str, Any] = {"a": a, "b": b}
    for metric, name in (("roc_auc", "auc"), ("accuracy", "acc")):
        test = paired_bootstrap(
            y, np.stack([1 - pa, pa], 1), np.stack([1 - pb, pb], 1), metric=metric, n_resamples=n_resamples
        )
        out[name] = {"difference": test.difference, "low": test.low, "high": test.high, "p_value": test.p_value}
    return out


def comparisons(results: dict[str, Any], seeds: list[int], fractions: list[float], n_resamples: int) -> list[Any]:
    runs = results["runs"]
    found = []
    for fraction in fractions:
        for arm in (*POOL_ARMS, "synthetic", "full"):
            for seed in seeds:
                b = run_key("supervised", fraction, seed)
                a = run_key(arm, 1.0 if arm == "full" else fraction, seed)
                result = compare(runs, a, b, n_resamples)
                if result is not None:
                    found.append({"arm": arm, "fraction": fraction, "seed": seed, **result})
    return found


def arm_summary(runs: dict[str, Any], arm: str, fraction: float, seeds: list[int]) -> dict[str, Any] | None:
    chosen = [runs.get(run_key(arm, fraction, s)) for s in seeds]
    ok = [r for r in chosen if r and "error" not in r]
    if not ok:
        errors = [r["error"] for r in chosen if r and "error" in r]
        return {"seeds": 0, "errors": errors} if errors else None

    def stat(key: str) -> tuple[float, float]:
        values = [float(r[key]) for r in ok]
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

    return {
        "seeds": len(ok),
        "auc_mean": stat("auc")[0],
        "auc_sd": stat("auc")[1],
        "acc_mean": stat("acc")[0],
        "acc_sd": stat("acc")[1],
        "epochs_run": [r["epochs_run"] for r in ok],
        "train_s_mean": statistics.fmean(float(r["train_s"] or 0) for r in ok),
        "labelled": ok[0]["labelled_images"],
        "unlabelled": ok[0]["unlabelled_images"],
        "synthetic": ok[0]["synthetic_images"],
        "generator_s": [r["generator"].get("train_s") for r in ok if r.get("generator")],
        "errors": [r["error"] for r in chosen if r and "error" in r],
    }


def gap_closed(summary: dict[str, Any], fraction: float, arm: str = "semi") -> float | None:
    """Share of the supervised AUC gap (fraction vs 100%) that ``arm`` closes (seed means)."""
    sup = summary.get(f"supervised@{fraction:g}")
    pooled = summary.get(f"{arm}@{fraction:g}")
    full = summary.get("full@1")
    if not (sup and pooled and full and sup["seeds"] and pooled["seeds"] and full["seeds"]):
        return None
    gap = full["auc_mean"] - sup["auc_mean"]
    return (pooled["auc_mean"] - sup["auc_mean"]) / gap if gap > 0 else None


def format_table(results: dict[str, Any], seeds: list[int], fractions: list[float]) -> str:
    summary = results["summary"]
    by_arm: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for c in results["comparisons"]:
        by_arm.setdefault((c["arm"], c["fraction"]), []).append(c)
    lines = [
        "| labels | arm | images (labelled / unlabelled / synthetic) | seeds | test AUC | test ACC "
        "| ΔAUC vs supervised, per seed [95% CI] | ΔACC vs supervised, per seed [95% CI] | epochs run |",
        "|---|---|---|---:|---:|---:|---|---|---|",
    ]

    def per_seed(items: list[dict[str, Any]], metric: str) -> str:
        return "; ".join(
            f"{c[metric]['difference']:+.3f} [{c[metric]['low']:+.3f}, {c[metric]['high']:+.3f}]" for c in items
        )

    rows = [(f, arm) for f in fractions for arm in ("supervised", *POOL_ARMS, "synthetic")] + [(1.0, "full")]
    for fraction, arm in rows:
        s = summary.get(f"{arm}@{fraction:g}")
        if not s:
            continue
        label = f"{fraction:.0%}"
        if not s["seeds"]:
            lines.append(f"| {label} | {arm} | failed: {'; '.join(s['errors'])[:160]} | 0 | | | | | |")
            continue
        compared = by_arm.get((arm, fraction), []) if arm != "supervised" else []
        lines.append(
            f"| {label} | {arm} | {s['labelled']} / {s['unlabelled']} / {s['synthetic']} | {s['seeds']} | "
            f"{s['auc_mean']:.3f} ± {s['auc_sd']:.3f} | {s['acc_mean']:.3f} ± {s['acc_sd']:.3f} | "
            f"{per_seed(compared, 'auc')} | {per_seed(compared, 'acc')} | "
            f"{'/'.join(str(e) for e in s['epochs_run'])} |"
        )
    for fraction in fractions:
        for arm in POOL_ARMS:
            share = gap_closed(summary, fraction, arm)
            if share is not None:
                gap = summary["full@1"]["auc_mean"] - summary[f"supervised@{fraction:g}"]["auc_mean"]
                lines.append(
                    f"\nAt {fraction:.0%} labels the {arm} arm closes {share:.0%} of the AUC gap to 100% "
                    f"supervised (a gap of {gap:.3f}; seed means; goal at 5%: >= 50%)."
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/medmnist/pneumoniamnist.npz"))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--fractions", default="0.01,0.05,0.2", help="labelled shares of the training split")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"among {', '.join(ARMS)}")
    parser.add_argument("--budget-s", type=float, default=60.0, help="wall-clock budget of every classifier, s")
    parser.add_argument("--generator-budget-s", type=float, default=0.0, help="generator budget (default: --budget-s)")
    parser.add_argument("--synthetic-ratio", type=float, default=1.0, help="synthetic images per labelled image")
    parser.add_argument("--network", default="auto", help="every arm's network (default: the planner's)")
    parser.add_argument("--semi", default="{}", help="the pool arms' semi_supervised plan fields, as JSON")
    parser.add_argument("--teacher-share", type=float, default=1 / 3, help="noisy_student: the teacher's budget share")
    parser.add_argument(
        "--teacher-arm", choices=("supervised", "semi"), default="supervised", help="noisy_student: teacher training"
    )
    parser.add_argument("--set", dest="set_", nargs="*", default=[], help="every arm's plan fields, FIELD=VALUE")
    parser.add_argument(
        "--pool-set", dest="pool_set", nargs="*", default=[], help="the pool arms' extra plan fields, FIELD=VALUE"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--resamples", type=int, default=2000, help="paired bootstrap resamples")
    parser.add_argument("--note", default="", help="how the machine was run (load, priority), kept in the JSON")
    parser.add_argument("--resume", action="store_true", help="keep finished runs from --out with the same settings")
    parser.add_argument("--out", type=Path, default=RESULTS / "data_efficiency.json")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)
    if not args.data.is_file():
        print(f"error: {args.data} does not exist (PneumoniaMNIST .npz)", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    fractions = [float(f) for f in args.fractions.split(",") if f.strip()]
    arms = [a for a in args.arms.split(",") if a]
    unknown = set(arms) - set(ARMS)
    if unknown:
        print(f"error: unknown arm(s) {', '.join(sorted(unknown))}; choose from {', '.join(ARMS)}", file=sys.stderr)
        return 2
    from medimg.config import parse_assignments

    overrides = {**common_overrides(args.budget_s, args.network), **parse_assignments(args.set_)}
    semi_fields = json.loads(args.semi)
    settings = {
        "data": str(args.data.resolve()),
        "overrides": overrides,
        **({"semi_supervised": semi_fields} if semi_fields else {}),
        **({"pool_overrides": parse_assignments(args.pool_set)} if args.pool_set else {}),
        "threads": args.threads,
        "generator_budget_s": args.generator_budget_s or args.budget_s,
        "synthetic_ratio": args.synthetic_ratio,
    }
    teacher_settings = {"teacher_share": args.teacher_share, "teacher_arm": args.teacher_arm}
    previous = json.loads(args.out.read_text()) if args.resume and args.out.is_file() else {}
    results: dict[str, Any] = {
        "commands": [*previous.get("commands", []), " ".join(["python", *sys.argv])],
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
        },
        "notes": [*previous.get("notes", []), *([args.note] if args.note else [])],
        "runs": dict(previous.get("runs", {})),
        "comparisons": [],
        "summary": {},
    }
    plan = [(arm, f) for f in fractions for arm in ("supervised", *POOL_ARMS, "synthetic") if arm in arms]
    plan = [(arm, f) for arm, f in plan if arm != "synthetic" or any(abs(f - s) < 1e-9 for s in SYNTHETIC_FRACTIONS)]
    if "full" in arms:
        plan.append(("full", 1.0))
    for arm, fraction in plan:
        for seed in seeds:
            key = run_key(arm, fraction, seed)
            old = results["runs"].get(key, {})
            arm_settings = {**settings, **(teacher_settings if arm == "noisy_student" else {})}
            if old and "error" not in old and old.get("settings") == arm_settings:
                continue
            print(f"{key} ...", flush=True)
            spec = {"arm": arm, "fraction": fraction, "seed": seed, **arm_settings}
            result = {"arm": arm, "fraction": fraction, "seed": seed, "settings": arm_settings}
            result.update(run_in_subprocess(spec))
            results["runs"][key] = result
            _write(args.out, results)
            shown = result.get("error") or (
                f"AUC {result['auc']:.3f} ACC {result['acc']:.3f} in {result['wall_s']:.0f} s "
                f"({result['epochs_run']} epochs, {result['train_images_per_s']:.0f} img/s)"
            )
            print(f"  {shown}", flush=True)
    for arm, fraction in plan:
        found = arm_summary(results["runs"], arm, fraction, seeds)
        if found:
            results["summary"][f"{arm}@{fraction:g}"] = found
    results["comparisons"] = comparisons(results, seeds, fractions, args.resamples)
    results["gap_closed"] = {f"{f:g}": gap_closed(results["summary"], f) for f in fractions}
    results["gap_closed_by_arm"] = {
        arm: {f"{f:g}": gap_closed(results["summary"], f, arm) for f in fractions} for arm in POOL_ARMS
    }
    results["off_budget"] = budget_flags(results["runs"], args.budget_s)
    _write(args.out, results)
    print("\n" + format_table(results, seeds, fractions))
    for key, flag in results["off_budget"].items():
        print(f"off budget: {key}: {flag}")
    print(f"\nwritten: {args.out}")
    return 0


def _write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
