"""A multi-label classifier end to end: fit on a ChestMNIST-shaped file whose findings are bright quadrants, the
report per finding, the operating points folded into the network, predict, the ONNX export and the service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

FINDINGS = 3


def write_quadrant_npz(path: Path, n: tuple[int, int, int] = (240, 80, 80), seed: int = 0) -> Path:
    """``(N, 3)`` 0/1 labels: finding ``j`` brightens quadrant ``j`` of a 28 px noise image (any number of them)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        labels = (rng.random((count, FINDINGS)) < [0.2, 0.35, 0.5]).astype(np.uint8)
        images = rng.integers(0, 70, size=(count, 28, 28)).astype(np.int32)
        for j in range(FINDINGS):
            r, c = (j // 2) * 14, (j % 2) * 14
            images[:, r : r + 14, c : c + 14] += (labels[:, j] * 140)[:, None, None]
        arrays[f"{split}_images"] = images.clip(0, 255).astype(np.uint8)
        arrays[f"{split}_labels"] = labels
    np.savez_compressed(path, **arrays)
    return path


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from medimg import Model

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("multilabel")
    data = write_quadrant_npz(root / "quadrants.npz")
    Model("simple-cnn").fit(data, run_dir=root / "run", epochs=6, seed=0, progress=False, tensorboard=False)
    return root / "run"


def test_fit_reports_each_finding(multilabel_run: Path) -> None:
    import json

    from medimg.evaluation.multilabel_report import MultiLabelReport

    report = MultiLabelReport.from_json(multilabel_run / "report" / "report.json")
    assert report.metrics["class_names"] == ["class_0", "class_1", "class_2"] and report.metrics["n"] == 80
    assert report.metrics["macro_auc"] > 0.95, report.metrics
    for name, row in report.metrics["per_finding"].items():
        assert row["roc_auc"] > 0.9 and row["sensitivity"] > 0.7 and row["specificity"] > 0.7, (name, row)
        interval = report.confidence_intervals[f"auc/{name}"]
        if interval["low"] is None:  # every resample gives the same AUC (1.000): no zero-width interval, a note
            assert "every bootstrap resample" in interval["note"]
        else:
            assert interval["low"] <= row["roc_auc"] <= interval["high"]
    plan = json.loads((multilabel_run / "plan.json").read_text())
    assert plan["multi_label"] and plan["class_weights"] is None and plan["monitor"] == "auc"
    metadata = json.loads((multilabel_run / "metadata.json").read_text())
    (thresholds,) = metadata["training"]["finding_thresholds"]
    assert set(thresholds) == {"class_0", "class_1", "class_2"} and all(0 < t < 1 for t in thresholds.values())
    page = (multilabel_run / "report" / "report.html").read_text()
    assert "Per-finding results" in page and "ROC curves per finding" in page


def test_operating_points_are_folded_into_the_bias() -> None:
    """After folding, a finding's output reaches 0.5 exactly where its raw probability reaches the threshold chosen
    on validation."""
    import torch
    from torch import nn

    from medimg.planning.plan import Plan
    from medimg.tasks.classify.data import PreparedSplit
    from medimg.tasks.classify.inference import predict_proba
    from medimg.tasks.classify.operating_points import fold_operating_points

    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(x.flatten(1)[:, :4])

    plan = Plan(multi_label=True, num_classes=2, in_channels=1, input_size=[2, 2], amp="none", channels_last=False)
    network = Net()
    x = torch.randn(200, 1, 2, 2)
    y = (torch.rand(200, 2) < torch.sigmoid(3 * x.flatten(1)[:, :2])).float()
    raw = predict_proba(network, x, plan)
    thresholds = fold_operating_points(network, plan, PreparedSplit(x=x, y=y, case_ids=[str(i) for i in range(200)]))
    assert thresholds is not None and thresholds != [0.5, 0.5]
    folded = predict_proba(network, x, plan)
    for j, t in enumerate(thresholds):
        assert ((folded[:, j] >= 0.5) == (raw[:, j] >= t)).all()
        assert np.argsort(folded[:, j]).tolist() == np.argsort(raw[:, j]).tolist()  # the ranking (AUC) is kept


def test_a_finding_validation_cannot_judge_is_named() -> None:
    """A finding without a positive validation image keeps the threshold 0.5 (not chosen): sensitivity 0 at AUC
    0.98 in a tester's run, without a word."""
    import torch

    from medimg.planning.plan import Plan
    from medimg.tasks.classify.data import PreparedSplit
    from medimg.tasks.classify.operating_points import columns_validation_cannot_judge

    plan = Plan(multi_label=True, num_classes=3, in_channels=1, input_size=[2, 2], amp="none", channels_last=False)
    y = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 0, 1]], dtype=torch.float32)  # finding 1 absent, finding 2 always
    val = PreparedSplit(x=torch.zeros(3, 1, 2, 2), y=y, case_ids=["a", "b", "c"])
    assert columns_validation_cannot_judge(plan, val) == [1, 2]
    assert columns_validation_cannot_judge(plan.model_copy(update={"finding_threshold": "fixed"}), val) == []
    binary = Plan(num_classes=2, in_channels=1, input_size=[2, 2], binary_threshold="youden")
    assert columns_validation_cannot_judge(
        binary, PreparedSplit(x=torch.zeros(2, 1, 2, 2), y=torch.tensor([0, 0]), case_ids=["a", "b"])
    ) == [0]


def _test_images(run: Path, folder: Path, count: int = 6) -> tuple[list[Path], np.ndarray]:
    from PIL import Image

    data = np.load(run.parent / "quadrants.npz")
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(count):
        paths.append(folder / f"{i}.png")
        Image.fromarray(data["test_images"][i]).save(paths[-1])
    return paths, data["test_labels"][:count]


def test_predict_lists_the_findings_and_onnx_agrees(multilabel_run: Path, tmp_path: Path) -> None:
    from medimg import Model
    from medimg.export import export_onnx
    from medimg.export.predictor import OnnxPredictor

    paths, truth = _test_images(multilabel_run, tmp_path / "images")
    predictions = Model.load(multilabel_run).predict(paths)
    names = ["class_0", "class_1", "class_2"]
    right = 0
    for prediction, row in zip(predictions, truth, strict=True):
        present = {names[j] for j in range(FINDINGS) if row[j]}
        found = set(prediction.findings or [])  # type: ignore[union-attr]
        right += found == present
        assert found == {n for n, p in prediction.probabilities.items() if p >= 0.5}  # type: ignore[union-attr]
        assert prediction.label == ("|".join(prediction.findings) or "no finding")  # type: ignore[union-attr]
        assert prediction.to_dict()["findings"] == prediction.findings  # type: ignore[union-attr]
    assert right >= 5, [p.to_dict() for p in predictions]
    result = export_onnx(Model.load(multilabel_run), tmp_path / "model.onnx")
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-3
    onnx_predictions = OnnxPredictor(tmp_path / "model.onnx").predict(paths)
    assert [p.findings for p in onnx_predictions] == [p.findings for p in predictions]  # type: ignore[union-attr]
    for ours, theirs in zip(onnx_predictions, predictions, strict=True):
        for name in names:
            assert ours.probabilities[name] == pytest.approx(theirs.probabilities[name], abs=2e-2)  # type: ignore[union-attr]


def test_a_single_label_set_is_not_evaluated_by_a_multi_label_model(multilabel_run: Path, tmp_path: Path) -> None:
    from medimg import Model
    from medimg.errors import DatasetError
    from tests.conftest import write_npz

    other = write_npz(tmp_path / "single.npz")
    with pytest.raises(DatasetError, match="one class per image, but the model is multi-label"):
        Model.load(multilabel_run).evaluate(other, out_dir=tmp_path / "eval", split="test")


@pytest.fixture
def multilabel_service(multilabel_run: Path, tmp_path: Path) -> Iterator[tuple[object, dict[str, str]]]:
    from tests.serve.support import service_client

    with service_client(multilabel_run, tmp_path / "reports.db") as served:
        yield served


def test_the_service_reports_the_findings(
    multilabel_service: tuple[object, dict[str, str]], multilabel_run: Path, tmp_path: Path
) -> None:
    from medimg import Model

    client, headers = multilabel_service
    paths, _ = _test_images(multilabel_run, tmp_path / "images", count=2)
    for path in paths:
        response = client.post(  # type: ignore[attr-defined]
            "/v1/predictions", headers=headers, files={"file": (path.name, path.read_bytes(), "image/png")}
        )
        assert response.status_code == 201, response.text
        report = response.json()
        (expected,) = Model.load(multilabel_run).predict([path])
        assert report["prediction"]["findings"] == expected.findings  # type: ignore[union-attr]
        assert report["model"]["multi_label"] is True
        page = client.get(report["links"]["html"], headers=headers)  # type: ignore[attr-defined]
        assert page.status_code == 200 and "Multi-label classification report" in page.text
        assert ("Findings: " in page.text) == bool(expected.findings)  # type: ignore[union-attr]
        fhir = client.get(report["links"]["fhir"], headers=headers).json()  # type: ignore[attr-defined]
        for name in expected.findings or []:  # type: ignore[union-attr]
            assert name in fhir["conclusion"]
        assert fhir["conclusion"].startswith("Findings:" if expected.findings else "No finding")  # type: ignore[union-attr]


def test_browser_shows_the_findings(multilabel_run: Path, tmp_path: Path) -> None:
    """The web page of a multi-label model: the findings in the headline, one bar per finding, those present marked."""
    if not Path("/usr/bin/chromium").is_file():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium; .ci/run does it)")
    from playwright.sync_api import expect, sync_playwright

    from medimg import Model
    from medimg.serve import ServeSettings, create_app
    from medimg.serve.storage import Storage
    from tests.serve.support import serving

    (path,), _ = _test_images(multilabel_run, tmp_path / "images", count=1)
    (expected,) = Model.load(multilabel_run).predict([path])
    settings = ServeSettings(run_dir=multilabel_run, database=str(tmp_path / "reports.db"))
    _, token = Storage(settings.database_url).create_token("tests")
    with serving(create_app(settings)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.fill("#token", token)
            page.click("#signin-button")
            expect(page.locator("#app")).to_be_visible()
            page.set_input_files("#file", str(path))
            expect(page.locator("#result")).to_be_visible(timeout=60_000)
            expect(page.locator("#headline-kind")).to_have_text("Findings")
            shown = page.locator("#label").inner_text()
            assert shown == (", ".join(expected.findings) or "none reaches its operating point")  # type: ignore[union-attr, arg-type]
            expect(page.locator("[data-testid=probability]")).to_have_count(FINDINGS)
            expect(page.locator(".bar-row.top")).to_have_count(len(expected.findings or []))  # type: ignore[union-attr]
        finally:
            browser.close()


def test_single_label_tools_refuse_multi_label_data(tmp_path: Path) -> None:
    from medimg.classical.model import ClassicalModel
    from medimg.errors import ConfigError

    data = write_quadrant_npz(tmp_path / "quadrants.npz", n=(30, 10, 10))
    with pytest.raises(ConfigError, match="classical baselines are single-label"):
        ClassicalModel("random-forest").fit(data, run_dir=tmp_path / "run")


def test_check_counts_images_per_finding(tmp_path: Path) -> None:
    from medimg.data.dataset import Dataset
    from medimg.data.quality import check_dataset

    dataset = Dataset.load(write_quadrant_npz(tmp_path / "quadrants.npz", n=(30, 10, 10)))
    summary = check_dataset(dataset).summary()
    counts = dataset.class_counts()
    without = sum(not c.findings for c in dataset.cases)
    assert "3 findings (multi-label)" in summary and f"class_1: {counts['class_1']}" in summary
    assert f"{without} image(s) without any" in summary


def test_generation_refuses_multi_label_data(tmp_path: Path) -> None:
    from medimg.errors import DatasetError
    from medimg.tasks.registry import get_task

    data = write_quadrant_npz(tmp_path / "quadrants.npz", n=(30, 10, 10))
    with pytest.raises(DatasetError, match="conditioned on one class per image"):
        get_task("generate").load_dataset(data)


def test_semi_supervised_and_distillation_refuse_multi_label_data(tmp_path: Path) -> None:
    from medimg import Model
    from medimg.errors import ConfigError

    data = write_quadrant_npz(tmp_path / "quadrants.npz", n=(30, 10, 10))
    with pytest.raises(ConfigError, match="semi-supervised training"):
        Model("simple-cnn").fit(data, run_dir=tmp_path / "run", unlabelled=data, progress=False)
    with pytest.raises(ConfigError, match="distillation"):
        Model("simple-cnn").fit(data, run_dir=tmp_path / "run2", teacher=str(tmp_path), progress=False)


def test_an_external_set_without_findings_is_evaluated(multilabel_run: Path, tmp_path: Path) -> None:
    """Normal images only (no finding at all): specificity is still measured; the AUCs are undefined."""
    from medimg import Model

    rows = ["path,class_0,class_1,class_2"]
    data = np.load(multilabel_run.parent / "quadrants.npz")
    normal = [i for i, row in enumerate(data["test_labels"]) if not row.any()][:6]
    from PIL import Image

    for i in normal:
        Image.fromarray(data["test_images"][i]).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,0,0,0")
    (tmp_path / "normals.csv").write_text("\n".join(rows) + "\n")
    report = Model.load(multilabel_run).evaluate(tmp_path / "normals.csv", out_dir=tmp_path / "eval", split="all")
    assert report.metrics["n"] == len(normal) and report.metrics["macro_auc"] is None
    assert report.metrics["macro_specificity"] is not None and report.metrics["macro_specificity"] > 0.5


def test_a_cine_to_a_multi_label_model_reports_the_findings_of_its_mean(
    multilabel_service: tuple[object, dict[str, str]], multilabel_run: Path, tmp_path: Path
) -> None:
    from tests.io.conftest import write_dicom

    client, headers = multilabel_service
    data = np.load(multilabel_run.parent / "quadrants.npz")
    cine = write_dicom(tmp_path / "cine.dcm", data["test_images"][:3].astype(float), modality="US", bits_stored=8)
    response = client.post(  # type: ignore[attr-defined]
        "/v1/predictions", headers=headers, files={"file": ("cine.dcm", cine.read_bytes(), "application/dicom")}
    )
    assert response.status_code == 201, response.text
    report = response.json()
    means = report["prediction"]["probabilities"]
    present = sorted((n for n in means if means[n] >= 0.5), key=lambda n: -means[n])
    assert report["input"]["frames"]["count"] == 3 and report["prediction"]["findings"] == present
    assert report["prediction"]["label"] == ("|".join(present) or "no finding")


def test_the_cli_prints_each_finding(multilabel_run: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from medimg.cli.app import app

    result = CliRunner().invoke(app, ["evaluate", str(multilabel_run), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    for name, row in report["metrics"]["per_finding"].items():
        line = next(line for line in result.output.splitlines() if line.strip().startswith(name))
        assert f"{row['roc_auc']:.4f}" in line and f"({row['positives']})" in line


def test_occlusion_explains_a_finding_by_its_own_sigmoid() -> None:
    """A finding's occlusion map measures the drop in *its* log-odds (its logit): with a softmax over findings, a
    second finding that moves with the first (here it rises as much) would cancel it and the map would be empty."""
    import torch
    from torch import nn

    from medimg.explain.cam import explain_batch

    class TwoFindings(nn.Module):
        """Finding 0 from the top-left quadrant's brightness, finding 1 certain and rising with it alike."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            top_left = x[:, 0, :8, :8].mean(dim=(1, 2))
            return torch.stack([4 * top_left - 2, 4 * top_left + 30.0], dim=1)

    x = torch.zeros(1, 1, 16, 16)
    x[:, :, :8, :8] = 1.0
    (sigmoid_map,) = explain_batch(TwoFindings(), x, method="occlusion", class_index=0, multi_label=True)
    (softmax_map,) = explain_batch(TwoFindings(), x, method="occlusion", class_index=0)
    assert sigmoid_map[:8, :8].mean() > 0.5 and sigmoid_map[:8, :8].mean() > 2 * sigmoid_map[8:, 8:].mean()
    assert softmax_map.max() < 1e-3  # what a softmax over the findings shows for this model


def test_a_no_finding_prediction_carries_no_findings_index_or_confidence() -> None:
    """ "no finding" carried label_index 0 and finding 0's probability as confidence: read back through
    class_names it said "effusion, 0.37"."""
    from medimg.tasks.classify.predict import make_prediction

    names = ["effusion", "atelectasis", "nodule"]
    none = make_prediction("x.png", np.array([0.37, 0.2, 0.1]), names, multi_label=True)
    assert none.label == "no finding" and none.label_index == -1
    assert none.confidence == pytest.approx(0.63)  # how sure that even the likeliest finding is absent
    one = make_prediction("y.png", np.array([0.2, 0.9, 0.1]), names, multi_label=True)
    assert one.label == "atelectasis" and one.label_index == 1 and one.confidence == pytest.approx(0.9)
