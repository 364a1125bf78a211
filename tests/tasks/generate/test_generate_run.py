"""End to end on tiny phantoms: fit a generative run, draw a synthetic set (API and CLI), train a classifier with
it (training split only), resume the GAN's own step, and the errors users meet."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from medimg import Model
from medimg.data.synthetic import make_phantom_dataset
from medimg.errors import ConfigError, DatasetError

QUICK = {
    "epochs": 2,
    "features_epochs": 1,
    "batch_size": 8,
    "progress": False,
    "tensorboard": False,
    "base_width": 4,
    "latent_dim": 8,
    "eval_batch_size": 16,
}


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_phantom_dataset(tmp_path_factory.mktemp("data") / "phantoms", n_per_class=16, size=16, seed=0)


@pytest.fixture(scope="module")
def gan_run(phantoms: Path, tmp_path_factory: pytest.TempPathFactory) -> Model:
    run_dir = tmp_path_factory.mktemp("runs") / "gan"
    return Model("gan", task="generate").fit(phantoms, run_dir=run_dir, **QUICK)


def test_gan_run_is_a_complete_bundle_with_a_report(gan_run: Model) -> None:
    run = gan_run.run_dir_
    assert run is not None
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(np.isfinite(r["val_fd"]) for r in rows)
    assert (run / "features" / "model.pt").is_file()  # the feature classifier is a classification run
    assert json.loads((run / "plan.json").read_text())["network"] == "gan"
    report = gan_run.report_
    assert report is not None
    metrics = report.metrics
    assert metrics["n"] >= 2 and metrics["n_synthetic"] == metrics["n"]
    assert metrics["fd"] >= 0 and 0 <= metrics["precision"] <= 1 and 0 <= metrics["recall"] <= 1
    assert metrics["fd_real_reference"] is not None and 0 <= metrics["memorised_share"] <= 1
    assert report.confidence_intervals["fd"]["low"] <= report.confidence_intervals["fd"]["high"]
    assert len(report.closest_pairs) >= 1
    page = (run / "report" / "report.html").read_text()
    assert "Samples per class" in page and "Memorisation check" in page and "data:image/png" in page
    assert "<h2>Training</h2>" in page and (run / "report" / "training_curves.png").is_file()  # FD per epoch
    assert json.loads((run / "report" / "report.json").read_text())["format"] == "medimg.generation_report"


def test_generate_writes_the_data_layout_with_a_manifest_and_follows_the_seed(gan_run: Model, tmp_path: Path) -> None:
    model = Model.load(gan_run.run_dir_ or "")
    out = tmp_path / "synth"
    written = model.generate(6, out_dir=out, class_name="lesion", seed=1)
    assert len(written.paths) == 6 and set(written.labels) == {"lesion"}
    image = np.asarray(Image.open(written.paths[0]))
    assert image.shape == (16, 16) and image.dtype == np.uint8  # the training size and format
    again = model.generate(4, out_dir=out, seed=2)
    assert sorted(again.labels) == ["lesion", "lesion", "normal", "normal"]
    with (out / "synthetic.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and {r["synthetic"] for r in rows} == {"1"} and {r["seed"] for r in rows} == {"1", "2"}
    first = written.paths[0].read_bytes()
    model.generate(6, out_dir=tmp_path / "other", class_name="lesion", seed=1)
    assert (tmp_path / "other" / "lesion" / written.paths[0].name).read_bytes() == first
    with pytest.raises(ConfigError, match=r"unknown class 'lesoin'.*lesion"):
        model.generate(2, out_dir=out, class_name="lesoin")
    with pytest.raises(ConfigError, match=r"already holds images of class .* drawn with seed 2.*--seed 3"):
        model.generate(2, out_dir=out, seed=2)  # the same images again, over the same files
    assert len((out / "synthetic.csv").read_text().splitlines()) == 11


def test_generate_adds_a_class_with_the_same_seed_matches_class_names_as_labels_do_and_saves_the_run_path(
    gan_run: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = gan_run.run_dir_
    assert run is not None
    monkeypatch.chdir(run.parent)
    model = Model.load(run.name)  # a relative run folder, as typed on the command line
    out = tmp_path / "synth"
    model.generate(3, out_dir=out, class_name="normal")
    added = model.generate(2, out_dir=out, class_name="LESION")  # another class, the default seed again
    assert set(added.labels) == {"lesion"} and all(p.parent.name == "lesion" for p in added.paths)
    with (out / "synthetic.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 and len(list(out.rglob("*.png"))) == 5
    assert {r["run"] for r in rows} == {str(run.resolve())}  # found again from any folder
    with pytest.raises(ConfigError, match=r"already holds images of class 'normal' drawn with seed 0"):
        model.generate(1, out_dir=out, class_name="Normal")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["норма", "пневмония"], ["норма", "пневмония"]),
        (["正常", "肺炎"], ["正常", "肺炎"]),
        (["φυσιολογικό", "πνευμονία"], ["φυσιολογικό", "πνευμονία"]),
        (["no finding", "pneumonía viral"], ["no_finding", "pneumonía_viral"]),
        (["../x", "a/b"], ["x", "a_b"]),
    ],
)
def test_class_folders_keep_unicode_letters(names: list[str], expected: list[str]) -> None:
    from medimg.tasks.generate.synthesis import class_folders

    assert class_folders(names) == expected


@pytest.mark.parametrize("names", [["Grade 1", "Grade_1", "Grade-1"], ["?", "!", "class"], ["A b", "a B"]])
def test_class_names_that_would_share_a_folder_get_their_own(names: list[str]) -> None:
    from medimg.tasks.generate.synthesis import class_folders

    folders = class_folders(names)
    assert len({f.casefold() for f in folders}) == len(names)  # apart on case-insensitive file systems, too
    assert folders == class_folders(names) and all(f and "/" not in f for f in folders)


def test_generate_with_cyrillic_class_names_writes_every_image_into_its_class_folder(
    gan_run: Model, tmp_path: Path
) -> None:
    from medimg.tasks.generate.synthesis import write_synthetic_set

    model = Model.load(gan_run.run_dir_ or "")
    assert model.network_ is not None
    plan = model.plan_.model_copy(update={"class_names": ["норма", "пневмония"]})
    out = tmp_path / "synth"
    written = write_synthetic_set(model.network_, plan, out, n=10)
    assert len(set(written.paths)) == 10 and len(list(out.rglob("*.png"))) == 10
    with (out / "synthetic.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    assert {(r["path"].split("/")[0], r["label"]) for r in rows} == {("норма", "норма"), ("пневмония", "пневмония")}


def test_cli_generate_writes_n_images(gan_run: Model, tmp_path: Path) -> None:
    from medimg.cli.app import app

    result = CliRunner().invoke(app, ["generate", str(gan_run.run_dir_), "--n", "5", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "s").rglob("*.png"))) == 5
    assert "synthetic.csv" in result.output


def test_synthetic_images_join_the_training_split_only(phantoms: Path, gan_run: Model, tmp_path: Path) -> None:
    synth = tmp_path / "synth"
    Model.load(gan_run.run_dir_ or "").generate(8, out_dir=synth, seed=3)
    baseline = Model("simple-cnn").fit(phantoms, run_dir=tmp_path / "real", epochs=1, progress=False)
    model = Model("simple-cnn").fit(
        phantoms, run_dir=tmp_path / "clf", epochs=1, progress=False, tensorboard=False, synthetic=str(synth)
    )
    training = model.metadata_["training"]
    assert training["synthetic_images"] == 8
    assert training["train_images"] == baseline.metadata_["training"]["train_images"] + 8
    splits = json.loads((tmp_path / "clf" / "splits.json").read_text())
    assert not any(case.startswith("synthetic/") for case in splits["assignment"])
    assert splits == json.loads((tmp_path / "real" / "splits.json").read_text())  # same real split
    assert model.report_ is not None and model.report_.metrics["n"] == baseline.report_.metrics["n"]  # type: ignore[union-attr]


def test_synthetic_sets_with_unknown_classes_or_missing_folders_are_refused(phantoms: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        Model("simple-cnn").fit(phantoms, run_dir=tmp_path / "a", epochs=1, synthetic=str(tmp_path / "nope"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "synthetic.csv").write_text("path,label,synthetic\nx.png,tumour,1\n")
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(other / "x.png")
    with pytest.raises(DatasetError, match="tumour"):
        Model("simple-cnn").fit(phantoms, run_dir=tmp_path / "b", epochs=1, synthetic=str(other))
    with pytest.raises(ConfigError, match="classical model"):
        Model("random-forest").fit(phantoms, run_dir=tmp_path / "c", synthetic=str(other))


def test_a_generative_model_does_not_predict(gan_run: Model, phantoms: Path) -> None:
    with pytest.raises(ConfigError, match="medimg generate"):
        gan_run.predict(phantoms / "normal" / "phantom_0000.png")
    with pytest.raises(ConfigError, match="generative model"):
        Model("simple-cnn").generate(1, out_dir="x")


def test_diffusion_run_trains_and_samples_nifti_volumes(tmp_path: Path) -> None:
    from medimg.io.image import ImageData
    from medimg.io.nifti import read_nifti, write_nifti

    rng = np.random.default_rng(0)
    for label, level in (("low", 100.0), ("high", 900.0)):
        for i in range(7):
            volume = rng.normal(level, 50.0, size=(1, 8, 8, 8)).astype(np.float32)
            write_nifti(ImageData(array=volume, spacing_mm=(2.0, 2.0, 2.0)), tmp_path / "vol" / label / f"v{i}.nii.gz")
    model = Model("diffusion", task="generate").fit(
        tmp_path / "vol",
        run_dir=tmp_path / "run",
        **{**QUICK, "epochs": 1, "unet_channels": [32, 32], "attention_bottom": False, "sample_steps": 2},
    )
    assert model.plan_.output_format == "nifti" and model.plan_.monitor == "loss"
    assert model.report_ is not None and np.isfinite(model.report_.metrics["fd"])
    written = model.generate(2, out_dir=tmp_path / "synth", class_name="high")
    image = read_nifti(written.paths[0])
    assert image.array.shape == (1, 8, 8, 8) and image.spacing_mm == pytest.approx((2.0, 2.0, 2.0))


def test_the_gan_step_resumes_with_its_optimisers(phantoms: Path, tmp_path: Path) -> None:
    """A run interrupted after its first epoch continues the GAN's own step (optimisers, step count) on resume."""
    from medimg.engine.batches import TensorBatches
    from medimg.engine.checkpoint import load_checkpoint
    from medimg.engine.trainer import TaskHooks, train
    from medimg.tasks.generate.gan import ConditionalGAN
    from medimg.tasks.generate.gan_step import make_gan_step
    from medimg.tasks.generate.plan import GeneratePlan

    plan = GeneratePlan(
        class_names=["a", "b"],
        input_size=[8, 8],
        output_size=[8, 8],
        base_width=4,
        latent_dim=4,
        batch_size=4,
        epochs=2,
    )
    x, y = torch.rand(12, 1, 8, 8) * 2 - 1, torch.tensor([0, 1] * 6)
    calls: list[int] = []

    def interrupted(network: torch.nn.Module) -> dict[str, float]:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # stopped during epoch 2, before its checkpoint
        return {"fd": 1.0}

    def hooks(validate: object) -> TaskHooks:
        return TaskHooks(loss=lambda n, a, b: a.mean(), validate=validate, step=make_gan_step)  # type: ignore[arg-type]

    batches = TensorBatches(x, y, 4)
    with pytest.raises(KeyboardInterrupt):
        train(ConditionalGAN(plan), batches, plan, hooks(interrupted), tmp_path, progress=False, tensorboard=False)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["task_step"]["generator_steps"] == 3
    result = train(
        ConditionalGAN(plan),
        batches,
        plan,
        hooks(lambda n: {"fd": 0.5}),
        tmp_path,
        resume=True,
        progress=False,
        tensorboard=False,
    )
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert state["task_step"]["generator_steps"] == 6 and state["task_step"]["g_optimizer"]["state"]


def test_evaluating_on_another_set_compares_with_the_runs_own_training_images(gan_run: Model, tmp_path: Path) -> None:
    other = make_phantom_dataset(tmp_path / "other", n_per_class=8, size=16, seed=1)
    report = gan_run.evaluate(other, split="all", out_dir=tmp_path / "report")
    metrics = report.metrics
    assert metrics["n"] >= 2 and metrics["fd_real_reference"] is not None  # the training split was loaded
    assert 0 <= metrics["memorised_share"] <= 1 and len(report.closest_pairs) >= 1


def test_generate_refuses_to_write_into_its_training_data(gan_run: Model, phantoms: Path) -> None:
    before = sorted(phantoms.rglob("*"))
    with pytest.raises(ConfigError, match=r"inside .*the data the generator was trained on.*--synthetic"):
        Model.load(gan_run.run_dir_ or "").generate(2, out_dir=phantoms)
    assert sorted(phantoms.rglob("*")) == before  # nothing written


def test_class_names_in_any_script_get_report_pictures_of_their_own(phantoms: Path, tmp_path: Path) -> None:
    """Classes 肺炎 and 正常 both drew into grid_synthetic.png: the second class's grid showed for the first."""
    import shutil

    data = tmp_path / "胸片"
    for folder, name in (("lesion", "肺炎"), ("normal", "正常")):
        shutil.copytree(phantoms / folder, data / name)
    run = Model("gan", task="generate").fit(data, run_dir=tmp_path / "run", **QUICK)
    assert run.run_dir_ is not None
    report = run.run_dir_ / "report"
    grids = {name: (report / f"grid_{name}_synthetic.png").read_bytes() for name in ("肺炎", "正常")}
    assert grids["肺炎"] != grids["正常"]
    assert len(list(report.glob("grid_*.png"))) == 4  # synthetic and real, per class
