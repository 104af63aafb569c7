"""Backbones from keras.applications (never downloaded here) and saved classifiers."""

from __future__ import annotations

import numpy as np
import pytest

import cvmodels
from cvmodels.backbones import BACKBONES, WeightsError, body_layers, load_backbone
from cvmodels.finetune import backbone_of
from search.tfenv import import_keras

keras = import_keras()


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_headless_with_the_table_s_layer_count(name) -> None:
    model = cvmodels.create_model(name, (32, 32, 1), 3, weights=None, image_size=32,
                                  head_units=8, dropout=0.1)
    backbone = backbone_of(model)
    assert len(body_layers(backbone)) == BACKBONES[name].layers
    assert backbone.input.shape[1:] == (32, 32, 3)  # gray turned into three channels
    assert not any(layer.name == "predictions" for layer in backbone.layers)  # top dropped
    probabilities = model.predict(np.random.rand(2, 32, 32, 1).astype("float32"), verbose=0)
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_inputs_are_resized_to_a_size_the_backbone_accepts() -> None:
    model = cvmodels.create_model("mobilenetv2", (20, 20, 3), 2, weights=None, alpha=0.35)
    assert backbone_of(model).input.shape[1:3] == (96, 96)  # its smallest imagenet size
    small = cvmodels.create_model("vgg16", (20, 20, 1), 2, weights=None)
    assert backbone_of(small).input.shape[1:3] == (32, 32)  # VGG16's minimum


def test_the_backbone_s_own_preprocessing_is_applied_inside_the_model() -> None:
    from cvmodels.backbones import backbone_input

    white = np.ones((1, 8, 8, 1), "float32")
    layer = backbone_input(size=8, module="mobilenet_v2")
    np.testing.assert_allclose(np.asarray(layer(white)), 1.0, atol=1e-6)  # [-1, 1] scaling
    vgg = np.asarray(backbone_input(size=8, module="vgg16")(white))
    np.testing.assert_allclose(vgg[0, 0, 0], [255 - 103.939, 255 - 116.779, 255 - 123.68],
                               atol=1e-3)  # caffe: BGR, ImageNet means subtracted


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_a_local_weights_file_is_loaded_and_a_mismatched_one_is_one_line(tmp_path) -> None:
    source = load_backbone("mobilenetv2", 32, None, alpha=0.35)
    path = tmp_path / "mobilenetv2.weights.h5"
    source.save_weights(path)
    model = cvmodels.create_model("mobilenetv2", (32, 32, 3), 2, weights=str(path),
                                  image_size=32, alpha=0.35)
    for expected, loaded in zip(source.get_weights(), backbone_of(model).get_weights()):
        np.testing.assert_array_equal(expected, loaded)
    with pytest.raises(WeightsError, match="does not fit headless MobileNetV2") as error:
        cvmodels.create_model("mobilenetv2", (32, 32, 3), 2, weights=str(path),
                              image_size=32, alpha=1.0)
    assert "\n" not in str(error.value)
    with pytest.raises(WeightsError, match="does not exist"):
        load_backbone("vgg16", 32, str(tmp_path / "missing.weights.h5"))


def test_a_saved_classifier_is_fine_tuned_with_its_layers_counted_the_same_way(tmp_path) -> None:
    lenet = cvmodels.create_model("lenet", (28, 28, 1), 10, width=0.5, batch_norm=True)
    path = tmp_path / "lenet.keras"
    lenet.save(path)
    model = cvmodels.create_model("saved", (32, 32, 3), 2, weights=str(path),
                                  freeze_by="count", freeze_layers=4, head_units=8)
    backbone = backbone_of(model)
    layers = body_layers(backbone)
    assert len(layers) == len(lenet.layers) - 2  # no input layer, no softmax
    assert backbone.input.shape[1:] == (28, 28, 1)  # resized and made gray by the model
    assert [layer.trainable for layer in layers] == [False] * 4 + [True] * (len(layers) - 4)
    for original, reused in zip(lenet.layers[1:-1], layers):
        for a, b in zip(original.get_weights(), reused.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert model.predict(np.random.rand(2, 32, 32, 3).astype("float32"), verbose=0).shape == (2, 2)
    reloaded = keras.models.load_model(_saved(model, tmp_path / "tuned.keras"))
    assert reloaded.output.shape[-1] == 2


def _saved(model, path):
    model.save(path)
    return path


def test_a_trained_model_s_backbone_exports_to_a_weights_file(tmp_path, capsys) -> None:
    from search.cli import main

    model = cvmodels.create_model("mobilenetv2", (32, 32, 1), 2, weights=None, image_size=32,
                                  alpha=0.35)
    model.save(tmp_path / "model.keras")
    out = tmp_path / "smiles.weights.h5"
    assert main(["weights", "export", str(tmp_path / "model.keras"), str(out)]) == 0
    assert "153 layers" in capsys.readouterr().out
    again = load_backbone("mobilenetv2", 32, str(out), alpha=0.35)
    for expected, loaded in zip(backbone_of(model).get_weights(), again.get_weights()):
        np.testing.assert_array_equal(expected, loaded)
    lenet = cvmodels.create_model("lenet", (32, 32, 1), 2)
    lenet.save(tmp_path / "lenet.keras")
    assert main(["weights", "export", str(tmp_path / "lenet.keras"), str(out)]) == 2
    assert "has no backbone" in capsys.readouterr().err


def test_from_scratch_batch_norm_settles_within_a_trial() -> None:
    from cvmodels._blocks import BN_MOMENTUM

    scratch = load_backbone("mobilenetv2", 32, None, alpha=0.35)
    momenta = {layer.momentum for layer in scratch.layers
               if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta == {BN_MOMENTUM}


def test_a_saved_backbone_model_loads_in_a_fresh_process(tmp_path) -> None:
    import json
    import subprocess
    import sys

    import cv2

    model = cvmodels.create_model("mobilenetv2", (32, 32, 1), 2, weights=None, image_size=32,
                                  alpha=0.35)
    model.save(tmp_path / "model.keras")
    (tmp_path / "model.json").write_text(json.dumps({
        "class_names": ["no", "yes"], "image_size": [32, 32], "color": "gray",
        "resize": "stretch"}))
    cv2.imwrite(str(tmp_path / "face.png"), np.full((40, 40), 128, np.uint8))
    done = subprocess.run([sys.executable, "-m", "search.cli", "predict",
                           str(tmp_path / "model.keras"), str(tmp_path / "face.png"), "--json"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    top = json.loads(done.stdout)[0]["top"]
    assert {row["class"] for row in top} == {"no", "yes"}
