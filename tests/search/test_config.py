from __future__ import annotations

from pathlib import Path

import pytest

from search.config import load_spec
from search.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_digits_spec_loads_with_its_storage_next_to_it() -> None:
    spec = load_spec(ROOT / "studies" / "digits.toml")
    assert spec.name == "digits"
    assert spec.storage == f"sqlite:///{ROOT / 'studies' / 'digits.db'}"
    assert spec.objective.direction == "minimize"
    assert spec.pruner.kind == "hyperband"
    assert spec.search_space()["augment"].describe() == "fixed = 0"


def test_defaults_fill_a_minimal_spec(write_spec) -> None:
    spec = load_spec(write_spec('[model]\nname = "lenet"\n'))
    assert spec.name == "spec" and spec.data.kind == "digits"
    assert spec.sampler.kind == "tpe" and spec.budget.max_epochs == 10
    assert spec.search_space().names[0] == "learning_rate"


def test_relative_sqlite_storage_is_relative_to_the_spec(write_spec, tmp_path: Path) -> None:
    spec = load_spec(write_spec('storage = "sqlite:///runs/x.db"\n'))
    assert spec.storage == f"sqlite:///{tmp_path / 'runs' / 'x.db'}"


def test_environment_storage_is_used_when_the_spec_has_none(write_spec, monkeypatch) -> None:
    monkeypatch.setenv("CVSEARCH_STORAGE", "postgresql://u@127.0.0.1/db")
    assert load_spec(write_spec("")).storage == "postgresql://u@127.0.0.1/db"


def test_command_line_overrides_replace_spec_values(write_spec) -> None:
    spec = load_spec(write_spec()).with_overrides(
        name="other", storage="sqlite:////tmp/o.db", n_trials=7, timeout=5.0
    )
    assert (spec.name, spec.storage, spec.budget.n_trials, spec.budget.timeout) == (
        "other", "sqlite:////tmp/o.db", 7, 5.0,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n", "colour: unknown key"),
        ("[budget]\nmax_epoch = 3\n", "budget.max_epoch: unknown key"),
        ('[budget]\nmax_epochs = "ten"\n', "budget.max_epochs: expected an integer, got 'ten'"),
        ("[budget]\nn_trials = 0\n", "budget.n_trials: must be at least 1"),
        ("[budget]\ntimeout = true\n", "budget.timeout: expected a number"),
        ('[model]\nname = "resnet9000"\n', "model.name: unknown model 'resnet9000'"),
        ('[space]\nname = "huge"\n', "space.name: unknown space 'huge'"),
        ("[space.override]\nlearning_rate = { low = 0.1, high = 0.01 }\n",
         "space.override.learning_rate: empty range"),
        ("[space.override]\nwarp = 9\n", "space.override.warp: unknown parameter"),
        ('[objective]\nmetric = "accuracy"\n', "objective.metric: expected one of"),
        ('[pruner]\nkind = "sometimes"\n', "pruner.kind: expected one of"),
        ('[sampler]\nkind = "grid"\n', "sampler.kind: expected one of"),
        ('[data]\nkind = "imagenet"\n', "data.kind: unknown data set kind 'imagenet'"),
        ("[data]\nval_fraction = 1.5\n", "data.val_fraction: must be between 0 and 1"),
        ("budget = 3\n", "budget: expected a table"),
        ("[train]\nbatch_size = 32\n[space.override]\nbatch_size = 64\n", "given? |give it once"),
        ("name = = 1\n", "not valid TOML"),
        ('[model]\nname = "lenet"\nweights = "imagenet"\n', "model.weights: model 'lenet' takes no weights"),
        ('[model]\nname = "vgg16"\n[model.options]\ndepth = 3\n', "model.options.depth: model 'vgg16' takes no such option"),
        ('[model]\nname = "vgg16"\n[model.options]\nfreeze = 0.5\n', "model.options.freeze: also a parameter of the search space"),
        ('[model]\nname = "vgg16"\nweights = "nowhere.h5"\n', "model.weights: no such file .*nowhere.h5"),
        ('[model]\nname = "saved"\n', 'model.weights: model "saved" needs the .keras file'),
        ('[model]\nname = "lenet"\nkind = "features"\n', "model.kind: feature extraction needs a backbone, not 'lenet'"),
        ('[model]\nname = "vgg16"\nkind = "finetune"\n', "model.kind: expected one of 'network', 'features'"),
    ],
)
def test_bad_specs_name_the_file_and_the_key_path(write_spec, text: str, message: str) -> None:
    path = write_spec(text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    text_of_error = str(caught.value)
    assert text_of_error.startswith(f"{path}: ")
    assert "\n" not in text_of_error
    import re

    assert re.search(message.replace("(", r"\(").replace(")", r"\)"), text_of_error)


def test_a_missing_spec_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "absent.toml")


def test_the_resolved_configuration_is_plain_data(write_spec) -> None:
    import json

    resolved = load_spec(write_spec()).to_dict()
    json.dumps(resolved)
    assert resolved["space"]["override"]["batch_size"] == 128
    assert {r["name"] for r in resolved["space"]["resolved"]} >= {"learning_rate", "dropout"}
    assert "storage" not in resolved


@pytest.mark.parametrize(("model", "space"), [
    ('name = "lenet"', "default"),
    ('name = "mobilenetv2"\nweights = "none"', "backbone"),
    ('name = "efficientnetb0"\nkind = "features"', "features"),
])
def test_each_kind_of_model_gets_its_own_default_space(write_spec, model, space) -> None:
    spec = load_spec(write_spec(f"[model]\n{model}\n"))
    assert spec.space.name == space
    assert spec.to_dict()["space"]["name"] == space


def test_a_weights_file_is_relative_to_the_spec(write_spec, tmp_path: Path) -> None:
    (tmp_path / "w.weights.h5").write_bytes(b"")
    spec = load_spec(write_spec('[model]\nname = "vgg16"\nweights = "w.weights.h5"\n'
                                "[model.options]\nimage_size = 48\n"))
    assert spec.model.weights == str(tmp_path / "w.weights.h5")
    assert spec.model.arguments() == {"image_size": 48, "weights": str(tmp_path / "w.weights.h5")}
