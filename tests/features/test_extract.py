"""Dataset-level extraction: feature specs, colour masks, cache, parallel workers, radiomics, embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from medimg.data.dataset import Dataset
from medimg.errors import ConfigError, DatasetError, MissingDependencyError
from medimg.features.extract import FeatureExtractor, build_feature_union, parse_feature_spec
from medimg.features.masks import MaskSpec
from medimg.features.samples import make_sample
from tests.features.conftest import make_rgb_with_odd_files


def test_feature_spec_parsing_and_errors():
    assert parse_feature_spec("handcrafted, radiomics") == ["handcrafted", "radiomics"]
    with pytest.raises(ConfigError, match="Did you mean 'handcrafted'"):
        parse_feature_spec("handcraftd")
    with pytest.raises(ConfigError, match="run folder"):
        parse_feature_spec("embeddings")
    names = [n for n, _ in build_feature_union("handcrafted").transformer_list]
    assert names == ["first_order", "glcm", "lbp", "hog"]
    with_masks = [n for n, _ in build_feature_union("handcrafted", masks=MaskSpec.parse("herlev")).transformer_list]
    assert "shape" in with_masks
    assert "hog" not in [n for n, _ in build_feature_union("handcrafted", spatial_dims=3).transformer_list]


def test_mask_spec_presets_patterns_and_errors(cells_dir, tmp_path):
    spec = MaskSpec.parse("herlev")
    assert spec is not None and spec.labels == (1, 2)
    image = cells_dir / "normal_cell" / "cell000.bmp"
    labels = spec.read(spec.find(image))
    assert set(np.unique(labels).tolist()) == {0, 1, 2}
    with pytest.raises(ConfigError, match="stem"):
        MaskSpec.parse("masks.png")
    with pytest.raises(DatasetError, match="no mask"):
        MaskSpec.parse("{stem}_mask.png").find(image)  # type: ignore[union-attr]


def test_extraction_with_masks_cache_and_parallel_agree(cells_dir, tmp_path):
    ds = Dataset.load(cells_dir, exclude="*-d.bmp")
    cache = tmp_path / "cache"
    first = FeatureExtractor("handcrafted", masks="herlev", cache_dir=cache).extract(ds, ds.cases)
    assert first.X.shape[0] == len(ds.cases) == 32 and first.cached == 0
    assert any(n.startswith("shape__") for n in first.feature_names)
    assert len(list(cache.glob("*.npz"))) == 1
    again = FeatureExtractor("handcrafted", masks="herlev", cache_dir=cache).extract(ds, ds.cases)
    assert again.cached == 32
    np.testing.assert_array_equal(first.X, again.X)
    parallel = FeatureExtractor("handcrafted", masks="herlev", n_jobs=2).extract(ds, ds.cases * 3)
    np.testing.assert_allclose(parallel.X[:32], first.X)
    ratio = first.feature_names.index("shape__area_ratio_1_2")
    normal = first.y == ds.class_names.index("normal_cell")
    assert first.X[normal, ratio].max() < first.X[~normal, ratio].min()  # the nucleus/cell ratio separates


def test_cache_is_invalidated_when_a_file_changes(cells_dir, tmp_path):
    import os

    ds = Dataset.load(cells_dir, exclude="*-d.bmp")
    FeatureExtractor("first-order", cache_dir=tmp_path / "c").extract(ds, ds.cases[:4])
    target = ds.cases[0].path
    assert target is not None
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    again = FeatureExtractor("first-order", cache_dir=tmp_path / "c").extract(ds, ds.cases[:4])
    assert again.cached == 3


def test_cache_is_invalidated_when_a_mask_changes(cells_dir, tmp_path):
    # a redrawn mask beside an unchanged image gave the old mask's features from the cache
    import os

    from PIL import Image

    ds = Dataset.load(cells_dir, exclude="*-d.bmp")
    cases = ds.cases[:4]
    first = FeatureExtractor("shape", masks="herlev", cache_dir=tmp_path / "c").extract(ds, cases)
    assert cases[0].path is not None
    mask_file = MaskSpec.parse("herlev").find(cases[0].path)  # type: ignore[union-attr]
    redrawn = np.zeros((32, 32, 3), np.uint8)
    redrawn[:] = (0, 0, 128)
    redrawn[10:16, 10:16] = (255, 0, 0)
    redrawn[12:14, 12:14] = (0, 0, 255)
    Image.fromarray(redrawn).save(mask_file)
    stat = mask_file.stat()
    os.utime(mask_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    again = FeatureExtractor("shape", masks="herlev", cache_dir=tmp_path / "c").extract(ds, cases)
    assert again.cached == 3
    area = again.feature_names.index("shape__area_px_roi")
    assert again.X[0, area] == 36 != first.X[0, area]
    np.testing.assert_array_equal(again.X[1:], first.X[1:])


def test_unreadable_image_is_skipped_and_reported(cells_dir):
    broken = cells_dir / "normal_cell" / "cell000.bmp"
    broken.write_bytes(b"not an image")
    ds = Dataset.load(cells_dir, exclude="*-d.bmp")
    matrix = FeatureExtractor("first-order").extract(ds, ds.cases)
    assert len(matrix.case_ids) == 31 and matrix.skipped[0][0].endswith("cell000.bmp")


def test_mismatched_mask_is_a_clear_error(cells_dir):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(cells_dir / "normal_cell" / "cell001-d.bmp")
    ds = Dataset.load(cells_dir, exclude="*-d.bmp")
    with pytest.raises(DatasetError, match="must match its image"):
        FeatureExtractor("first-order", masks="herlev").extract(ds, ds.cases)


def test_radiomics_2d_with_0_255_mask_and_without_mask():
    pytest.importorskip("radiomics")
    from medimg.features.radiomics import RadiomicsFeatures

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (1, 24, 24))
    mask = np.zeros((24, 24))
    mask[4:18, 5:20] = 255
    t = RadiomicsFeatures(feature_classes=("firstorder", "shape", "glcm")).fit([(image, mask)])
    names = list(t.get_feature_names_out())
    assert any(n.startswith("shape2D_") for n in names)
    row = dict(zip(names, t.transform([(image, mask)])[0], strict=True))
    assert row["shape2D_PixelSurface"] == pytest.approx(14 * 15)
    assert row["firstorder_Mean"] == pytest.approx(image[0][mask > 0].mean(), rel=1e-4)
    whole = t.transform([image])[0]
    assert np.isfinite(whole).all()


def test_radiomics_3d_and_missing_label_nan():
    pytest.importorskip("radiomics")
    from medimg.features.radiomics import RadiomicsFeatures

    volume = np.random.default_rng(1).uniform(0, 255, (1, 8, 16, 16))
    labels = np.zeros((8, 16, 16), int)
    labels[2:6, 3:12, 3:12] = 2
    labels[3:5, 5:9, 5:9] = 1
    t = RadiomicsFeatures(feature_classes=("firstorder", "shape"), label=1).fit([(volume, labels)])
    assert any(n.startswith("shape_") for n in t.get_feature_names_out())
    no_nucleus = np.where(labels == 1, 2, labels)
    out = t.transform([(volume, labels), (volume, no_nucleus)])
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()


def test_radiomics_bin_width_is_learnt_from_the_training_intensity_range(tmp_path):
    # a fixed binWidth=25 put every pixel of a 0..1 image in one bin: all 75 texture features were constant
    pytest.importorskip("radiomics")
    from medimg.features.radiomics import RadiomicsFeatures

    rng = np.random.default_rng(0)
    unit = rng.random((2, 32, 32))
    unit[1] = np.clip(unit[1] * 0.2 + np.linspace(0, 0.8, 32)[None], 0, 1)
    fitted = RadiomicsFeatures().fit(unit)
    names = list(fitted.get_feature_names_out())
    texture = [i for i, n in enumerate(names) if n.startswith(("glcm", "glrlm", "glszm", "gldm", "ngtdm"))]
    out = fitted.transform(unit)
    assert not np.isclose(out[0, texture], out[1, texture]).any()
    assert fitted.bin_width_ == pytest.approx(np.ptp(np.percentile(unit, [0.5, 99.5])) / 64)
    sixteen_bit = RadiomicsFeatures().fit(unit * 65535)  # not ~2,600 bins: the same 64 over the range
    np.testing.assert_allclose(sixteen_bit.transform(unit * 65535)[:, texture], out[:, texture], rtol=1e-4)
    # transform keeps the fitted width: one image alone is binned as in the batch
    np.testing.assert_allclose(fitted.transform(unit[1:])[0], out[1])
    assert RadiomicsFeatures(bin_width=25).fit(unit).bin_width_ == 25  # a fixed width when asked for
    # the learnt width is part of the cache key: data of another range never reads these rows
    from medimg.features.extract import FeatureExtractor

    records = []
    for images in (unit, unit * 255):
        extractor = FeatureExtractor("radiomics").fit_samples([make_sample(x) for x in images])
        records.append(extractor.settings_record()["params"])
    assert records[0]["radiomics__bin_width_"] != records[1]["radiomics__bin_width_"]


def test_radiomics_missing_gives_install_recipe(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("radiomics"):
            raise ImportError("no radiomics")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependencyError, match=r"--no-build-isolation pyradiomics==3\.0\.1"):
        build_feature_union("radiomics")


def test_cnn_embeddings_from_a_trained_run(tmp_path):
    from medimg import Model
    from medimg.features.embeddings import CNNEmbeddings
    from tests.conftest import write_npz

    npz = write_npz(tmp_path / "tiny.npz", shape=(16, 16), n=(24, 8, 8))
    Model("simple-cnn").fit(npz, run_dir=tmp_path / "cnn", epochs=1, progress=False, tensorboard=False)
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16))
    t = CNNEmbeddings(run_dir=tmp_path / "cnn").fit(images)
    out = t.transform(images)
    assert out.shape == (3, t.network_.embedding_dim) and np.isfinite(out).all()
    with pytest.raises(ConfigError):
        CNNEmbeddings().fit(images)


def test_odd_channels_are_converted_and_other_dimensions_skipped(tmp_path):
    # the channels and dimensions were learnt from the first image read: a grey image among RGB ones (or the
    # RGB ones after a grey first) and a multi-page TIFF among 2D images aborted the extraction
    ds = Dataset.load(make_rgb_with_odd_files(tmp_path / "data"))
    matrix = FeatureExtractor("first-order,glcm").extract(ds, ds.cases)
    assert len(matrix.case_ids) == 25 and matrix.X.shape[0] == 25
    assert [p.rsplit("/", 1)[-1] for p in matrix.converted] == ["000.png"]
    assert [(p.rsplit("/", 1)[-1], "among 2D images" in r) for p, r in matrix.skipped] == [("stack.tif", True)]
    assert "first_order__mean_ch2_roi" in matrix.feature_names  # fitted on the 3 channels of most images
