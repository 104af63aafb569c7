from __future__ import annotations

import numpy as np

from search.pipeline import augmenter, eval_pipeline, train_pipeline


def _data(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 16, 16, 1), dtype=np.float32), np.arange(n) % 4


def test_strength_zero_means_no_augmentation_and_batches_hold_the_same_images() -> None:
    x, y = _data()
    assert augmenter(0.0, flip=True) is None
    seen = np.concatenate([images.numpy() for images, _ in train_pipeline(x, y, 8, seed=1)])
    assert seen.shape == x.shape
    rows = {row.tobytes() for row in x}
    assert all(row.tobytes() in rows for row in seen), "s = 0 leaves every image untouched"


def test_positive_strength_changes_training_images_only() -> None:
    x, y = _data()
    augment = augmenter(1.0, flip=True)
    names = [layer.name for layer in augment.layers]
    assert any("rotation" in n for n in names) and any("flip" in n for n in names)
    seen = np.concatenate([images.numpy() for images, _ in train_pipeline(x, y, 8, 1, augment)])
    rows = {row.tobytes() for row in x}
    assert sum(row.tobytes() not in rows for row in seen) > len(x) // 2
    assert seen.min() >= 0.0 - 1e-6 and seen.max() <= 1.0 + 1e-6
    evaluated = np.concatenate([images.numpy() for images, _ in eval_pipeline(x, y, 8)])
    np.testing.assert_array_equal(evaluated, x)


def test_no_flip_where_it_makes_no_sense_and_shuffling_is_seeded() -> None:
    assert not any("flip" in layer.name for layer in augmenter(0.5, flip=False).layers)
    x, y = _data()
    first = [labels.numpy().tolist() for _, labels in train_pipeline(x, y, 8, seed=3)]
    again = [labels.numpy().tolist() for _, labels in train_pipeline(x, y, 8, seed=3)]
    assert first == again and sorted(sum(first, [])) == sorted(y.tolist())
