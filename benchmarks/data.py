"""Data-path benchmarks: cold against warm (cached) loads, and the pipeline against arrays.

    python benchmarks/data.py load --data ../shared/datasets/smiles
    python benchmarks/data.py pipeline --data ../shared/datasets/smiles [--epochs 3]

Each prints a JSON line. Both sides of a comparison run in the same process, in turn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search.config import DataConfig  # noqa: E402
from search.datasets import load_dataset  # noqa: E402


def _config(path: str, size: int) -> DataConfig:
    return DataConfig(kind="folder", path=path, image_size=size, color="gray", seed=42)


def load(path: str, size: int) -> dict:
    """First load (decode every file) and second load (the cache), in a fresh cache folder."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["CVSEARCH_CACHE"] = cache
        started = time.perf_counter()
        data = load_dataset(_config(path, size))
        cold = time.perf_counter() - started
        warm_runs = []
        for _ in range(3):
            started = time.perf_counter()
            load_dataset(_config(path, size))
            warm_runs.append(time.perf_counter() - started)
    warm = statistics.median(warm_runs)
    images = len(data.y_train) + len(data.y_val) + len(data.y_test)
    return {"benchmark": "load", "images": images, "image_size": size, "cores": os.cpu_count(),
            "cold_s": round(cold, 2), "warm_s": round(warm, 3), "speedup": round(cold / warm, 1)}


def pipeline(path: str, size: int, epochs: int, model_name: str) -> dict:
    """Seconds per epoch of the same model through the tf.data pipeline (s = 0) and on
    in-memory arrays with ``model.fit(x, y)``, epochs interleaved."""
    import cvmodels
    from search.pipeline import eval_pipeline, train_pipeline
    from search.tfenv import import_keras, seed_everything

    keras = import_keras()
    data = load_dataset(_config(path, size))
    batch = 64

    def build():
        seed_everything(0)
        model = cvmodels.create_model(model_name, data.input_shape, data.num_classes, width=1.0)
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    timed = {"pipeline": [], "arrays": []}
    models = {"pipeline": build(), "arrays": build()}
    for epoch in range(epochs + 1):  # the first epoch of each traces; it is not counted
        for kind, model in models.items():
            started = time.perf_counter()
            if kind == "pipeline":
                model.fit(train_pipeline(data.x_train, data.y_train, batch, seed=epoch),
                          validation_data=eval_pipeline(data.x_val, data.y_val, batch),
                          epochs=1, verbose=0, shuffle=False)
            else:
                model.fit(data.x_train, data.y_train, batch_size=batch,
                          validation_data=(data.x_val, data.y_val), epochs=1, verbose=0)
            if epoch:
                timed[kind].append(time.perf_counter() - started)
    pipe, arrays = statistics.median(timed["pipeline"]), statistics.median(timed["arrays"])
    return {"benchmark": "pipeline", "model": model_name, "image_size": size,
            "train_images": len(data.y_train), "epochs_timed": epochs,
            "pipeline_epoch_s": round(pipe, 3), "arrays_epoch_s": round(arrays, 3),
            "ratio": round(pipe / arrays, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("load", "pipeline"))
    parser.add_argument("--data", required=True)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", default="lenet")
    args = parser.parse_args()
    if args.which == "load":
        result = load(args.data, args.size)
    else:
        result = pipeline(args.data, args.size, args.epochs, args.model)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
