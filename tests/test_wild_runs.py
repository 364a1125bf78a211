"""Run folders and CLI options as a new user meets them: a run trained on arrays moved elsewhere, a --run-dir
full of other files, --resume of a mistyped folder, a bad option that used to leave a run folder behind,
--set network=..., --explain-method alone, an empty pool folder, medimg compare over a finished comparison."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from medimg import Dataset, Model
from medimg.cli.app import _option_from_set, app
from medimg.data.pool import attach_pool
from medimg.data.synthetic import make_phantom_dataset
from medimg.errors import ConfigError, DatasetError, RunFolderError
from medimg.planning.plan import Plan
from medimg.run_folder import RunFolder
from medimg.transforms.preprocess import preprocess_arrays
from tests.test_end_to_end import quick_fit_args


def _arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = rng.normal(100, 20, (40, 16, 16))
    x[y == 1, 4:12, 4:12] += 80
    return np.clip(x, 0, 255).astype(np.uint8), y


def test_a_run_trained_on_arrays_evaluates_after_it_was_moved(tmp_path: Path) -> None:
    x, y = _arrays()
    model = Model("simple-cnn", progress=False).fit(x, y, epochs=1, run_dir=tmp_path / "first")
    moved = tmp_path / "renamed"
    shutil.move(str(model.run_dir_), moved)
    assert RunFolder(moved).trained_data() == moved / "training_data.npz"  # its own copy, not the old path
    report = Model.load(moved).evaluate()
    assert report.metrics["n"] > 0


def test_evaluating_the_training_images_is_said_to_be_optimistic(
    phantom_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    model = Model("simple-cnn", progress=False).fit(phantom_dir, epochs=1, run_dir=tmp_path / "run")
    with caplog.at_level(logging.WARNING):
        model.evaluate(split="all", out_dir=tmp_path / "all")
    assert "holds images this model trained on or chose its epoch on: the scores are optimistic" in caplog.text


def test_the_training_data_at_another_path_is_evaluated_on_the_runs_saved_split(
    phantom_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The data copied with the run to another machine: `evaluate RUN DATA --split test` scored all of it (the
    training images too) as an external set, with an INFO line; now the saved test split, and a partial overlap
    of names is warned."""
    import logging

    model = Model("simple-cnn", progress=False).fit(phantom_dir, epochs=1, run_dir=tmp_path / "run")
    test_count = model.evaluate(out_dir=tmp_path / "at_home").metrics["n"]
    copied = tmp_path / "machine2" / "data"
    shutil.copytree(phantom_dir, copied)
    report = Model.load(tmp_path / "run").evaluate(copied, split="test", out_dir=tmp_path / "moved")
    assert report.metrics["n"] == test_count < len(Dataset.load(copied))
    (copied / "normal" / "new_case.png").write_bytes((phantom_dir / "normal" / "phantom_0000.png").read_bytes())
    with caplog.at_level(logging.WARNING):
        Model.load(tmp_path / "run").evaluate(copied, split="test", out_dir=tmp_path / "plus_one")
    assert "are this run's training or validation images" in caplog.text and "files match" in caplog.text
    # a class folder renamed in case (NORMAL/) is the same class, and its images the same images: all counted
    (copied / "normal").rename(copied / "NORMAL")
    saved = json.loads((tmp_path / "run" / "splits.json").read_text())["assignment"]
    learnt = sum(split in ("train", "val") for split in saved.values())
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        Model.load(tmp_path / "run").evaluate(copied, split="test", out_dir=tmp_path / "upper_case")
    assert f"{learnt} of the {len(saved) + 1} images" in caplog.text  # was: the lesion half only

    # another hospital's set named the same way (class/phantom_0000.png...): other pictures, all of them scored
    other = tmp_path / "hospital2"
    make_phantom_dataset(other, n_per_class=len(list((phantom_dir / "normal").glob("*.png"))), size=32, seed=99)
    assert {c.case_id for c in Dataset.load(other).cases} == {c.case_id for c in Dataset.load(phantom_dir).cases}
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        report = Model.load(tmp_path / "run").evaluate(other, split="test", out_dir=tmp_path / "hospital2_report")
    assert report.metrics["n"] == len(Dataset.load(other)) and "training or validation images" not in caplog.text

    # the training images copied under other names (a copy of the training folder; a folder inside the data):
    # scored as an external set with no word, before
    renamed = tmp_path / "renamed_copy"
    for cls in Dataset.load(phantom_dir).class_names:
        (renamed / cls).mkdir(parents=True)
        for image in (phantom_dir / cls).glob("*.png"):
            (renamed / cls / f"copy_{image.name}").write_bytes(image.read_bytes())
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        Model.load(tmp_path / "run").evaluate(renamed, split="test", out_dir=tmp_path / "renamed_report")
    assert f"{learnt} of the {len(saved)} images of {renamed} are this run's training or validation images, byte " in (
        caplog.text
    )
    # ...or renumbered among the same names (Mendeley's knee X-rays graded by a second expert: MedicalExpert-II/
    # holds MedicalExpert-I's images, renumbered): the names matched other pictures, an external set, no word
    shuffled = tmp_path / "renumbered_copy"
    for cls in Dataset.load(phantom_dir).class_names:
        (shuffled / cls).mkdir(parents=True)
        images = sorted((phantom_dir / cls).glob("*.png"))
        for image, name in zip(images, images[1:] + images[:1], strict=True):
            (shuffled / cls / name.name).write_bytes(image.read_bytes())
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        Model.load(tmp_path / "run").evaluate(shuffled, split="test", out_dir=tmp_path / "renumbered_report")
    assert f"{learnt} of the {len(saved)} images of {shuffled} are this run's training or validation images" in (
        caplog.text
    )
    # ...or saved in another format under their own names (BMP of the PNGs): no word either, before
    from PIL import Image

    converted = tmp_path / "converted_copy"
    for cls in Dataset.load(phantom_dir).class_names:
        (converted / cls).mkdir(parents=True)
        for image in (phantom_dir / cls).glob("*.png"):
            Image.open(image).save(converted / cls / f"{image.stem}.bmp")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        Model.load(tmp_path / "run").evaluate(converted, split="test", out_dir=tmp_path / "converted_report")
    said = f"{learnt} of the {len(saved)} images of {converted} are this run's training or validation images, saved"
    assert f"{said} in another format" in caplog.text

    # arrays name their images by position: arrays of the same size are scored whole, not by the saved split; the
    # training images among them (here all of them, reversed) are told by their pixels
    x, y = _arrays()
    arrays = Model("simple-cnn", progress=False).fit(x, y, epochs=1, run_dir=tmp_path / "arrays_run")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        fresh = arrays.evaluate(x[::-1].copy(), y[::-1].copy())
    saved = json.loads((tmp_path / "arrays_run" / "splits.json").read_text())["assignment"]
    learnt = sum(split in ("train", "val") for split in saved.values())
    assert fresh.metrics["n"] == len(y)
    assert f"{learnt} of the {len(y)} images given are this run's training or validation images" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        arrays.evaluate(255 - x, y)
    assert "optimistic" not in caplog.text


def test_resume_goes_on_with_the_runs_unlabelled_pool(
    phantom_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`medimg fit DATA --resume`, as the Ctrl-C message says, went on supervised-only: the pool (and --synthetic,
    --teacher) was dropped and config.json rewritten without it."""
    import json
    import logging

    pool = tmp_path / "pool"
    shutil.copytree(phantom_dir / "normal", pool)
    run = tmp_path / "run"
    Model("simple-cnn", progress=False).fit(phantom_dir, unlabelled=pool, epochs=1, run_dir=run)
    with caplog.at_level(logging.INFO):
        Model("simple-cnn", progress=False).fit(phantom_dir, epochs=1, run_dir=run, resume=True)
    assert "all 1 epochs were trained" in caplog.text and "from epoch 2 of 1" not in caplog.text
    assert json.loads((run / "config.json").read_text())["options"]["unlabelled"] == str(pool.resolve())
    assert json.loads((run / "metadata.json").read_text())["training"]["unlabelled_images"] > 0
    shutil.rmtree(pool)
    with pytest.raises(ConfigError, match="not there any more: give it with --unlabelled POOL"):
        Model("simple-cnn", progress=False).fit(phantom_dir, epochs=1, run_dir=run, resume=True)


def test_semi_supervised_settings_without_a_pool_are_warned_of(
    phantom_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``--set semi_supervised.unlabelled_ratio=1`` without ``--unlabelled`` trained supervised-only, silently."""
    import logging

    with caplog.at_level(logging.WARNING, logger="medimg"):
        Model("simple-cnn", progress=False).fit(
            phantom_dir, epochs=1, run_dir=tmp_path / "run", semi_supervised={"unlabelled_ratio": 1}
        )
    assert "no unlabelled pool" in caplog.text and "--unlabelled POOL" in caplog.text


def test_a_bad_option_leaves_no_run_folder_of_the_arrays_copy(tmp_path: Path) -> None:
    x, y = _arrays()
    with pytest.raises(ConfigError, match="epoch"):
        Model("simple-cnn", progress=False).fit(x, y, epoch=1, runs_root=tmp_path)
    assert not list((tmp_path / "arrays").glob("exp*"))


def test_a_run_dir_of_other_files_is_refused(tmp_path: Path) -> None:
    docs = tmp_path / "mydocs"
    docs.mkdir()
    (docs / "config.json").write_text('{"a": 1}')  # a name a run also writes: it would be replaced
    (docs / "notes.txt").write_text("important")
    with pytest.raises(RunFolderError, match=r"holds other files \(config.json, notes.txt\), not a medimg run"):
        RunFolder(docs).ensure_writable(resume=False)
    (tmp_path / "empty").mkdir()
    RunFolder(tmp_path / "empty").ensure_writable(resume=False)  # an empty folder is fine


def test_resume_of_a_folder_without_a_run_is_an_error(phantom_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="holds no run to continue"):
        Model("simple-cnn", progress=False).fit(phantom_dir, run_dir=tmp_path / "typo", resume=True, epochs=1)
    assert not (tmp_path / "typo").exists()


def test_set_network_and_task_are_the_options() -> None:
    assignments = {"network": "simple-cnn", "epochs": 1}
    assert _option_from_set(assignments, "network", "auto") == "simple-cnn" and assignments == {"epochs": 1}
    assert _option_from_set({"task": "segment"}, "task", "auto") == "segment"
    with pytest.raises(ConfigError, match="contradicts --network resnet18"):
        _option_from_set({"network": "simple-cnn"}, "network", "resnet18")


def test_set_network_on_the_command_line_trains_that_network(phantom_dir: Path, tmp_path: Path) -> None:
    args = [a for a in quick_fit_args(phantom_dir, tmp_path / "run", 1) if a not in ("--network", "simple-cnn")]
    result = CliRunner().invoke(app, [*args, "--set", "network=simple-cnn"])
    assert result.exit_code == 0, result.output
    assert RunFolder(tmp_path / "run").read_json("metadata.json")["network"] == "simple-cnn"
    image = str(next((phantom_dir / "lesion").iterdir()))
    out = str(tmp_path / "out")
    explained = CliRunner().invoke(
        app, ["predict", str(tmp_path / "run"), image, "--explain-method", "occlusion", "--out", out]
    )
    assert explained.exit_code == 0, explained.output
    assert list((tmp_path / "explanations").glob("*occlusion*.png")) or list(tmp_path.rglob("*occlusion*.png"))


def test_an_empty_pool_folder_says_so(phantom_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "pool").mkdir()
    with pytest.raises(DatasetError, match="the folder holds no images"):
        attach_pool(Dataset.load(phantom_dir), tmp_path / "pool")


def test_an_input_size_beyond_memory_is_a_clear_error() -> None:
    plan = Plan(network="simple-cnn", num_classes=2, input_size=[400_000, 400_000], spatial_dims=2)
    with pytest.raises(ConfigError, match=r"input_size 400000x400000 take .* GB, more than this machine"):
        preprocess_arrays([np.zeros((1, 8, 8), np.float32)], plan)


def test_mixed_channel_counts_are_said_once_not_once_per_split(caplog: pytest.LogCaptureFixture) -> None:
    """A fit preprocesses its train, val and test splits apart: the same warning came three times."""
    import logging

    plan = Plan(network="simple-cnn", num_classes=2, input_size=[8, 8], spatial_dims=2, in_channels=3)
    mixed = [np.zeros((1, 8, 8), np.float32), np.zeros((3, 8, 8), np.float32), np.zeros((4, 8, 8), np.float32)]
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            preprocess_arrays(mixed, plan)
    assert caplog.text.count("mixed channel counts") == 1


def test_compare_checks_every_name_first_and_never_overwrites_a_comparison(phantom_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    typo = CliRunner().invoke(app, ["compare", str(phantom_dir), "--models", "simple-cnn,svmm", "--out", str(out)])
    assert isinstance(typo.exception, ConfigError) and "'svmm'" in str(typo.exception)
    assert not (out / "simple-cnn").exists()  # nothing trained before the name was checked
    out.mkdir()
    (out / "comparison.json").write_text("{}")
    again = CliRunner().invoke(app, ["compare", str(phantom_dir), "--models", "svm", "--out", str(out)])
    assert isinstance(again.exception, ConfigError) and "already holds a comparison" in str(again.exception)


def test_a_classical_model_takes_run_options_in_its_constructor(phantom_dir: Path, tmp_path: Path) -> None:
    """Model(seed=0, progress=False) is scikit-learn's habit; a classical model refused 'progress'."""
    model = Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1, progress=False, seed=3)
    model.fit(phantom_dir, run_dir=tmp_path / "lr")
    assert RunFolder(tmp_path / "lr").read_json("config.json")["options"]["seed"] == 3


def test_a_folder_of_runs_lists_them_in_number_order(tmp_path: Path) -> None:
    from medimg.run_folder import run_folder_to_load

    for number in (10, 2, 1):
        (tmp_path / f"exp{number}").mkdir()
        (tmp_path / f"exp{number}" / "metadata.json").write_text("{}")
    with pytest.raises(RunFolderError, match=r"exp1, .*exp2, .*exp10"):
        run_folder_to_load(tmp_path)


def test_a_format_unlike_the_out_suffix_is_warned_of(capsys: pytest.CaptureFixture[str]) -> None:
    from medimg.cli.app import _prediction_format

    assert _prediction_format("jsonl", Path("preds.csv"), ("json", "jsonl", "csv")) == "jsonl"
    assert "--out preds.csv names CSV but --format jsonl" in capsys.readouterr().err
    assert _prediction_format("csv", Path("preds.csv"), ("json", "jsonl", "csv")) == "csv"
    assert capsys.readouterr().err == ""


def test_an_option_refused_at_planning_leaves_no_run_folder(phantom_dir: Path, tmp_path: Path) -> None:
    """`--set input_size=100000` (and other options refused once the plan is checked) left runs/<data>/expN of
    config.json, dataset.json and splits.json: after three typos the real run was exp4."""
    from medimg.errors import MedimgError

    for _ in range(2):
        with pytest.raises(MedimgError):
            Model("simple-cnn", progress=False, input_size=[100_000, 100_000]).fit(
                phantom_dir, runs_root=tmp_path / "runs", epochs=1
            )
    assert not list((tmp_path / "runs").rglob("exp*"))
    named = tmp_path / "mine"  # a folder the user named is theirs: kept
    with pytest.raises(MedimgError):
        Model("simple-cnn", progress=False, input_size=[100_000, 100_000]).fit(phantom_dir, run_dir=named, epochs=1)
    assert named.is_dir()


def test_a_run_whose_fit_left_out_an_unreadable_class_evaluates_on_its_own_data(tmp_path: Path) -> None:
    """`medimg fit` leaves out a class none of whose files can be read (PAPILA's HelpCode/ of one .npy beside the
    image folders); `medimg evaluate RUN` then refused the run it had just trained: 'the data has classes the model
    does not know: HelpCode'. Its test split and --split all (the cases its saved split assigns) are scored."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, bright in (("healthy", 60), ("sick", 180)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(12):
            pixels = rng.normal(bright, 10, (16, 16)).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    (tmp_path / "data" / "notes").mkdir()
    np.save(tmp_path / "data" / "notes" / "idx.npy", np.arange(5))
    model = Model("simple-cnn", progress=False).fit(tmp_path / "data", epochs=1, run_dir=tmp_path / "run")
    assert model.class_names_ == ["healthy", "sick"]
    loaded = Model.load(tmp_path / "run")
    assert loaded.evaluate(out_dir=tmp_path / "test").metrics["n"] > 0
    assert loaded.evaluate(split="all", out_dir=tmp_path / "all").metrics["n"] == 24  # the unreadable file is no case
    other = tmp_path / "other"
    shutil.copytree(tmp_path / "data", other)
    (other / "notes" / "idx.npy").unlink()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(other / "notes" / "0.png")  # a class it never learnt, scored
    with pytest.raises(DatasetError, match="classes the model does not know: 'notes'"):
        loaded.evaluate(other, out_dir=tmp_path / "external")
