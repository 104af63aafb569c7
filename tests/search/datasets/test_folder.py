"""Image folders: decoding, skipping bad files, the cache, splits and one-line errors."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from search.config import DataConfig
from search.datasets import load_dataset
from search.datasets._images import Preprocess, decode
from search.errors import DatasetError


def _image(path: Path, kind: str, value: int = 128, size: tuple[int, int] = (20, 30)) -> None:
    h, w = size
    rng = np.random.default_rng(value)
    if kind == "gray":
        image = rng.integers(0, 255, (h, w), dtype=np.uint8)
    elif kind == "color":
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    elif kind == "alpha":
        image = rng.integers(0, 255, (h, w, 4), dtype=np.uint8)
    elif kind == "16bit":
        image = rng.integers(0, 65535, (h, w), dtype=np.uint16)
    else:
        raise ValueError(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """cats: 12 images (gray, colour, alpha, 16-bit); dogs: 8 and a corrupt one; a text file."""
    root = tmp_path / "pets"
    kinds = ["gray", "color", "alpha", "16bit"]
    for i in range(12):
        ext = ".png" if kinds[i % 4] in ("alpha", "16bit") else ".jpg"
        _image(root / "cats" / f"c{i}{ext}", kinds[i % 4], i)
    for i in range(8):
        _image(root / "dogs" / f"d{i}.jpg", "color", 100 + i)
    (root / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "dogs" / "labels.txt").write_text("not an image")
    return root


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("CVSEARCH_CACHE", str(folder))
    return folder


def _config(root: Path, **changes) -> DataConfig:
    values = {"kind": "folder", "path": str(root), "image_size": [16, 24], "color": "rgb",
              "val_fraction": 0.25, "test_fraction": 0.25, "seed": 3} | changes
    return DataConfig(**values)


def test_a_folder_loads_with_counts_labels_shapes_and_a_skip_report(tree, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="cvsearch"):
        data = load_dataset(_config(tree))
    assert data.class_names == ("cats", "dogs")
    total = len(data.y_train) + len(data.y_val) + len(data.y_test)
    assert total == 20
    all_y = np.concatenate([data.y_train, data.y_val, data.y_test])
    assert np.bincount(all_y).tolist() == [12, 8]
    assert data.x_train.shape[1:] == (16, 24, 3) and data.x_train.dtype == np.float32
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1
    assert "skipped 2 of 22 files" in skipped[0]
    assert "broken.jpg" in skipped[0] and "labels.txt" in skipped[0]


def test_colour_modes_and_image_kinds_convert(tree) -> None:
    gray = load_dataset(_config(tree, color="gray"))
    assert gray.x_train.shape[-1] == 1
    for name in ("c1.jpg", "c2.png", "c3.png", "c0.jpg"):  # colour, alpha, 16-bit, gray
        image = decode(str(tree / "cats" / name), Preprocess((8, 8), "rgb", "stretch"))
        assert image is not None and image.shape == (8, 8, 3) and image.dtype == np.uint8
    sixteen = decode(str(tree / "cats" / "c3.png"), Preprocess((20, 30), "gray", "stretch"))
    raw = cv2.imread(str(tree / "cats" / "c3.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(sixteen[..., 0], (raw // 257).astype(np.uint8))


def test_auto_colour_finds_gray_and_colour_data(tmp_path) -> None:
    for i in range(4):
        _image(tmp_path / "g" / "a" / f"{i}.png", "gray", i)
        _image(tmp_path / "g" / "b" / f"{i}.png", "gray", 10 + i)
    assert load_dataset(_config(tmp_path / "g", color="auto", val_fraction=0.25,
                                test_fraction=0.25)).x_train.shape[-1] == 1


def test_aspect_aware_resize_crops_the_centre(tmp_path) -> None:
    image = np.zeros((20, 40), dtype=np.uint8)
    image[:, 10:30] = 255  # a white centre square between black side bands
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), image)
    cropped = decode(str(path), Preprocess((10, 10), "gray", "crop"))
    stretched = decode(str(path), Preprocess((10, 10), "gray", "stretch"))
    assert cropped.min() == 255, "the crop keeps only the centre"
    assert stretched.min() == 0, "stretching keeps the bands"


def test_the_second_load_comes_from_the_cache_and_a_change_invalidates_it(
    tree, private_cache
) -> None:
    first = load_dataset(_config(tree))
    entries = list(private_cache.glob("*.npz"))
    assert len(entries) == 1
    stamp = entries[0].stat().st_mtime_ns
    second = load_dataset(_config(tree))
    np.testing.assert_array_equal(first.x_train, second.x_train)
    assert list(private_cache.glob("*.npz")) == entries
    assert entries[0].stat().st_mtime_ns == stamp, "a hit does not rewrite the cache"
    changed = tree / "dogs" / "d0.jpg"
    _image(changed, "color", 999)
    later = time.time() + 5
    os.utime(changed, (later, later))
    load_dataset(_config(tree))
    assert len(list(private_cache.glob("*.npz"))) == 2
    load_dataset(_config(tree, image_size=[8, 8]))
    assert len(list(private_cache.glob("*.npz"))) == 3, "settings are part of the key"


def test_splits_are_stratified_and_deterministic(tree) -> None:
    a = load_dataset(_config(tree, seed=1))
    b = load_dataset(_config(tree, seed=1))
    c = load_dataset(_config(tree, seed=2))
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)
    for part in (a.y_train, a.y_val, a.y_test):
        share = np.mean(part == 0)
        assert abs(share - 12 / 20) <= 0.15


def test_an_existing_train_val_test_split_is_used_as_is(tmp_path) -> None:
    root = tmp_path / "split"
    for split, count in (("train", 6), ("val", 3), ("test", 2)):
        for name in ("a", "b"):
            for i in range(count):
                _image(root / split / name / f"{i}.png", "gray", hash((split, name, i)) % 1000)
    data = load_dataset(_config(root, color="gray"))
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (12, 6, 4)
    assert data.class_names == ("a", "b")


def test_class_weights_balance_an_imbalanced_training_set(tmp_path) -> None:
    root = tmp_path / "imbalanced"
    for i in range(15):
        _image(root / "many" / f"{i}.png", "gray", i)
    for i in range(5):
        _image(root / "few" / f"{i}.png", "gray", 50 + i)
    data = load_dataset(_config(root, val_fraction=0.2, test_fraction=0.2))
    assert data.class_names == ("few", "many")
    counts = np.bincount(data.y_train)
    assert counts[1] > counts[0]
    assert data.class_weight is not None and data.class_weight[0] > data.class_weight[1]
    weighted = sum(counts[c] * data.class_weight[c] for c in (0, 1))
    assert weighted == pytest.approx(len(data.y_train))
    assert load_dataset(_config(root, class_weight="off")).class_weight is None


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "has no class folders"),
        ({"only": 2}, "has one class ('only')"),
        ({"a": 2, "b": 0}, "class folder .* has no image files"),
        ({"a": -2, "b": -2}, "no readable image under"),
    ],
)
def test_unusable_folders_are_one_line_errors(tmp_path, layout, message) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    for name, count in layout.items():
        (root / name).mkdir()
        for i in range(abs(count)):
            if count > 0:
                _image(root / name / f"{i}.png", "gray", i)
            else:
                (root / name / f"{i}.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(_config(root))


def test_a_missing_folder_or_path_is_an_error(tmp_path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        load_dataset(_config(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="needs a path"):
        load_dataset(DataConfig(kind="folder"))
