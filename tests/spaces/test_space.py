from __future__ import annotations

import optuna
import pytest

from spaces import Bool, Categorical, Fixed, Float, Int, SearchSpace, SpaceError, When, get_space

BASE = {
    "learning_rate": 0.01,
    "optimizer": "adam",
    "lr_schedule": "none",
    "dropout": 0.3,
    "batch_norm": True,
    "width": 1.0,
    "augment": 0.5,
    "batch_size": 64,
}


def test_conditional_parameters_exist_only_for_their_parent_value() -> None:
    space = get_space("default")
    adam = space.sample(optuna.trial.FixedTrial(BASE))
    assert "momentum" not in adam and "nesterov" not in adam
    sgd = space.sample(
        optuna.trial.FixedTrial(BASE | {"optimizer": "sgd", "momentum": 0.9, "nesterov": True})
    )
    assert sgd["momentum"] == 0.9 and sgd["nesterov"] is True


@pytest.mark.parametrize(
    ("schedule", "extra"),
    [
        ("none", {}),
        ("step", {"step_factor": 0.5, "step_epochs": 3}),
        ("exponential", {"exp_decay": 0.9}),
        ("polynomial", {"poly_power": 2.0}),
        ("cosine", {"cosine_floor": 0.05}),
    ],
)
def test_each_schedule_brings_only_its_own_parameters(schedule: str, extra: dict) -> None:
    space = get_space("default")
    sampled = space.sample(optuna.trial.FixedTrial(BASE | {"lr_schedule": schedule} | extra))
    decay_keys = {"step_factor", "step_epochs", "exp_decay", "poly_power", "cosine_floor"}
    assert decay_keys & set(sampled) == set(extra)


def test_sampling_with_a_real_trial_stays_in_range_and_is_recorded() -> None:
    space = get_space("default")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        trial = study.ask()
        values = space.sample(trial)
        assert 1e-4 <= values["learning_rate"] <= 3e-1
        assert 0.0 <= values["augment"] <= 1.0
        assert values["batch_size"] in (32, 64, 128)
        assert set(trial.params) == set(values)
        study.tell(trial, 0.0)


def test_overrides_narrow_ranges_restrict_choices_and_fix_values() -> None:
    space = get_space("default").with_overrides(
        {
            "learning_rate": {"low": 1e-3, "high": 1e-2},
            "optimizer": {"choices": ["sgd"]},
            "batch_size": 256,
        }
    )
    lr = space["learning_rate"]
    assert isinstance(lr, Float) and (lr.low, lr.high, lr.log) == (1e-3, 1e-2, True)
    assert space["optimizer"].describe() == "one of {sgd}"
    assert isinstance(space["batch_size"], Fixed)
    trial = optuna.create_study().ask()
    values = space.sample(trial)
    assert values["batch_size"] == 256 and "batch_size" not in trial.params
    assert values["optimizer"] == "sgd" and "momentum" in values


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"nope": 1}, "space.override.nope: unknown parameter"),
        ({"learning_rate": {"low": 0.1, "high": 0.01}}, "space.override.learning_rate: empty range"),
        ({"learning_rate": {"low": "a"}}, "space.override.learning_rate.low: expected a number"),
        ({"learning_rate": {"lo": 0.1}}, "space.override.learning_rate.lo: unknown key"),
        ({"step_epochs": {"low": 1.5}}, "space.override.step_epochs.low: expected an integer"),
        ({"optimizer": {"choices": ["rmsprop"]}}, "unknown choice 'rmsprop'"),
        ({"optimizer": "rmsprop"}, "space.override.optimizer: unknown choice"),
        ({"batch_norm": "yes"}, "space.override.batch_norm: expected true or false"),
        ({"optimizer": {"choices": []}}, "expected a non-empty list"),
    ],
)
def test_bad_overrides_name_the_key_path(override: dict, message: str) -> None:
    with pytest.raises(SpaceError, match=message.replace("(", r"\(")):
        get_space("default").with_overrides(override)


def test_a_condition_must_refer_to_an_earlier_parameter() -> None:
    with pytest.raises(SpaceError, match="not defined before it"):
        SearchSpace("bad", (Float("a", 0, 1, when=When("b", (True,))), Bool("b")))


def test_unknown_space_lists_known_names() -> None:
    with pytest.raises(SpaceError, match=r"unknown space 'huge' \(known: backbone, default, "
                                         r"features, hypermodel\)"):
        get_space("huge")


def test_rows_describe_distributions_and_conditions() -> None:
    space = SearchSpace(
        "s",
        (
            Categorical("opt", ("sgd", "adam")),
            Int("k", 1, 8, log=True, when=When("opt", ("sgd",))),
        ),
    )
    rows = {r["name"]: r for r in space.rows()}
    assert rows["k"]["distribution"] == "log-int [1, 8]"
    assert rows["k"]["condition"] == "opt = sgd"
