"""End to end on tiny studies: pruning, resuming, failures that do not end a study."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

import cvmodels
from search.config import load_spec
from search.errors import CvsearchError
from search.records import BEST_EPOCH, FAIL_REASON, HISTORY, PARAMS, PRUNE_REASON
from search.runner import run_study
from search.storage import load_study
from search.study import make_pruner, open_study


@cvmodels.register_model("test_exploding")
def _exploding(input_shape, num_classes, *, dropout: float = 0.0):
    """A test double whose builder fails for large dropout values."""
    if dropout > 0.5:
        raise RuntimeError("boom: this configuration cannot be built")
    return cvmodels.create_model("shallownet", input_shape, num_classes, width=0.5)


@cvmodels.register_model("test_out_of_memory")
def _out_of_memory(input_shape, num_classes, *, dropout: float = 0.0):
    """A test double that runs out of memory for large dropout values, as TensorFlow says it."""
    import tensorflow as tf

    if dropout > 0.5:
        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[4096,4096,512] on CPU")
    return cvmodels.create_model("shallownet", input_shape, num_classes, width=0.5)


def _trials(spec):
    return load_study(spec.storage, spec.name).get_trials()


def test_a_tiny_study_records_every_trial(write_spec) -> None:
    spec = load_spec(write_spec(n_trials=2, max_epochs=2))
    result = run_study(spec)
    assert result.ran == 2 and result.states == {"complete": 2}
    trials = _trials(spec)
    for trial in trials:
        attrs = trial.user_attrs
        assert len(attrs[HISTORY]["val_loss"]) == 2
        assert set(attrs[HISTORY]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
        assert trial.value == pytest.approx(min(attrs[HISTORY]["val_loss"]))
        assert attrs[BEST_EPOCH] in (1, 2)
        assert attrs["n_params"] > 0 and attrs["seconds"] > 0
        assert attrs[PARAMS]["batch_size"] == 128 and attrs[PARAMS]["optimizer"] == "adam"
        assert sorted(trial.intermediate_values) == [1, 2]
    stored = load_study(spec.storage, spec.name).user_attrs
    assert stored["config"]["model"]["name"] == "shallownet"
    assert stored["data"]["train"] + stored["data"]["val"] + stored["data"]["test"] == 1797
    assert result.best is not None and result.best["number"] in (0, 1)


def test_running_again_resumes_up_to_the_requested_total(write_spec) -> None:
    path = write_spec(n_trials=1, max_epochs=1)
    spec = load_spec(path)
    assert run_study(spec).ran == 1
    more = spec.with_overrides(n_trials=3)
    assert run_study(more).ran == 2
    assert run_study(more).ran == 0
    assert [t.number for t in _trials(spec)] == [0, 1, 2]


def test_resuming_with_a_different_search_is_refused(write_spec) -> None:
    spec = load_spec(write_spec(n_trials=1, max_epochs=1))
    run_study(spec)
    changed = load_spec(write_spec(n_trials=1, max_epochs=2))
    with pytest.raises(CvsearchError, match="budget.max_epochs = 1"):
        run_study(changed)


def test_hopeless_trials_are_pruned_on_validation_loss(write_spec) -> None:
    text = write_spec().read_text().replace(
        "learning_rate = { low = 3e-3, high = 3e-2 }", "learning_rate = { low = 1e-6, high = 3e-2 }"
    )
    spec = load_spec(write_spec(text, name="prune.toml")).with_overrides(n_trials=4)
    study = open_study(spec)
    for rate in (0.02, 0.02, 1e-6, 1e-6):  # two sound trials, then two that cannot learn
        study.enqueue_trial({"learning_rate": rate})
    result = run_study(spec)
    trials = _trials(spec)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED] * 2
    for trial in trials[2:]:
        assert trial.user_attrs[PRUNE_REASON].startswith("pruned at epoch 1: val_loss")
        assert len(trial.user_attrs[HISTORY]["val_loss"]) == 1
    assert result.states == {"complete": 2, "pruned": 2}


def test_a_diverging_trial_fails_and_the_study_goes_on(write_spec) -> None:
    text = (
        write_spec(n_trials=3, max_epochs=2).read_text()
        .replace('optimizer = "adam"', 'optimizer = "sgd"\nmomentum = 0.9\nnesterov = false')
        .replace("learning_rate = { low = 3e-3, high = 3e-2 }",
                 "learning_rate = { low = 1e-2, high = 1e20, log = true }")
    )
    spec = load_spec(write_spec(text, name="diverge.toml"))
    study = open_study(spec)
    study.enqueue_trial({"learning_rate": 1e20})
    study.enqueue_trial({"learning_rate": 0.05})
    study.enqueue_trial({"learning_rate": 1e20})
    result = run_study(spec)
    trials = _trials(spec)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.FAIL]
    assert "loss became nan" in trials[0].user_attrs[FAIL_REASON].lower() or \
        "loss became inf" in trials[0].user_attrs[FAIL_REASON].lower()
    assert result.best is not None and result.best["number"] == 1
    assert not any(v is not None and math.isnan(v) for v in trials[0].user_attrs[HISTORY]["loss"])


@pytest.mark.parametrize(("model", "reason"), [
    ("test_exploding", "RuntimeError: boom: this configuration cannot be built"),
    ("test_out_of_memory", "out of memory (ResourceExhaustedError): try a smaller batch size, "
                           "input size or model; OOM when allocating tensor"),
])
def test_a_failing_trial_fails_alone_with_its_reason(write_spec, model, reason) -> None:
    text = write_spec().read_text().replace('name = "shallownet"', f'name = "{model}"') \
        .replace("dropout = 0.0", "dropout = { low = 0.0, high = 1.0 }")
    spec = load_spec(write_spec(text, name="explode.toml"))
    study = open_study(spec)
    study.enqueue_trial({"dropout": 0.9})
    study.enqueue_trial({"dropout": 0.1})
    run_study(spec.with_overrides(n_trials=2))
    first, second = _trials(spec)
    assert first.state == TrialState.FAIL
    assert first.user_attrs[FAIL_REASON].startswith(reason)
    assert second.state == TrialState.COMPLETE


def test_pruners_follow_the_spec(write_spec) -> None:
    spec = load_spec(write_spec(pruner="hyperband", max_epochs=9))
    pruner = make_pruner(spec)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert pruner._max_resource == 9 and pruner._min_resource == 1
    assert isinstance(make_pruner(load_spec(write_spec(pruner="none"))), optuna.pruners.NopPruner)
    halving = make_pruner(load_spec(write_spec(pruner="successive_halving")))
    assert isinstance(halving, optuna.pruners.SuccessiveHalvingPruner)
    assert halving._min_resource == 1 and halving._reduction_factor == 3


def test_the_last_epoch_is_reported_but_never_pruned(write_spec) -> None:
    text = write_spec(max_epochs=1).read_text().replace(
        "learning_rate = { low = 3e-3, high = 3e-2 }", "learning_rate = { low = 1e-6, high = 3e-2 }"
    )
    spec = load_spec(write_spec(text, name="last.toml")).with_overrides(n_trials=3)
    study = open_study(spec)
    for rate in (0.02, 0.02, 1e-6):  # the third would be pruned at epoch 1 if it were not last
        study.enqueue_trial({"learning_rate": rate})
    run_study(spec)
    trials = _trials(spec)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert trials[2].intermediate_values == {1: trials[2].value}
    assert trials[2].value > 2 * trials[0].value
