"""Markdown notes on trials and studies, through optuna-dashboard's note API.

A note has an automatic part, rewritten by cvsearch, and a part below a marker that is
the user's: notes added with ``cvsearch note`` or typed in the dashboard. Rewriting the
automatic part never loses the user's part.
"""

from __future__ import annotations

import datetime as _dt
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from optuna_dashboard import get_note, save_note

from search.diagnosis import diagnose, generalization_gap

MARKER = "---\n*Notes below this line are yours: cvsearch keeps them when it rewrites the part above.*"
USER_HEADING = "## Notes"


def _handle(study: optuna.Study, trial: FrozenTrial | optuna.trial.Trial | None) -> Any:
    """What optuna-dashboard's note functions take: the study, or a Trial for ``trial``."""
    if trial is None or isinstance(trial, optuna.trial.Trial):
        return study if trial is None else trial
    return optuna.trial.Trial(study, trial._trial_id)


def user_part(body: str) -> str:
    """The user's part of a note: everything below the marker (or all of it if none)."""
    if MARKER in body:
        return body.split(MARKER, 1)[1].strip()
    return body.strip()


def write_note(
    study: optuna.Study, trial: FrozenTrial | optuna.trial.Trial | None, automatic: str
) -> None:
    """Rewrite the automatic part of a note, keeping the user's part."""
    handle = _handle(study, trial)
    kept = user_part(get_note(handle))
    body = automatic.rstrip() + "\n\n" + MARKER + "\n"
    if kept:
        body += "\n" + kept + "\n"
    save_note(handle, body)


def append_user_note(study: optuna.Study, trial: FrozenTrial | None, text: str) -> str:
    """Append a dated entry to the user's part; returns the new note."""
    handle = _handle(study, trial)
    body = get_note(handle)
    automatic = body.split(MARKER, 1)[0].rstrip() if MARKER in body else ""
    kept = user_part(body) if MARKER in body else body.strip()
    if USER_HEADING not in kept:
        kept = (USER_HEADING + "\n\n" + kept).strip()
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    kept += f"\n\n- **{stamp}** — {text.strip()}"
    new = (automatic + "\n\n" if automatic else "") + MARKER + "\n\n" + kept.strip() + "\n"
    save_note(handle, new)
    return new


def read_note(study: optuna.Study, trial: FrozenTrial | None) -> str:
    return get_note(_handle(study, trial))


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def trial_note(
    *,
    number: int,
    state: str,
    reason: str | None,
    params: Mapping[str, Any],
    history: Mapping[str, Sequence[float | None]],
    best_epoch: int | None,
    metric: str,
    num_classes: int,
    n_params: int,
    seconds: float,
    layers: Sequence[tuple[str, str, int]],
    curves: str | None,
) -> str:
    """The automatic note of a finished trial, in Markdown."""
    lines = [f"## Trial {number}: {state}", ""]
    if reason:
        lines += [f"**Why:** {reason}", ""]
    lines += ["### Hyperparameters", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in params.items()]
    epochs = len(history.get("loss", []))
    lines += ["", "### Outcome", ""]
    if best_epoch:
        i = best_epoch - 1
        lines.append(
            f"Best epoch **{best_epoch}** of {epochs} (by {metric}): "
            f"val_loss {_fmt(history['val_loss'][i])}, val_accuracy "
            f"{_fmt(history.get('val_accuracy', [None] * epochs)[i])}, training loss "
            f"{_fmt(history['loss'][i])}, training accuracy "
            f"{_fmt(history.get('accuracy', [None] * epochs)[i])}."
        )
    else:
        lines.append(f"{epochs} epoch(s) ran; no finite {metric}.")
    gap = generalization_gap(history)
    if gap:
        lines.append(f"Generalization gap (val − train loss) at the last epoch: {_fmt(gap[-1])}.")
    lines.append(f"{n_params:,} parameters, {seconds:.1f} s.")
    lines += ["", "### Diagnosis", ""]
    lines += [f"- **{f.kind}**: {f.message}" for f in diagnose(history, num_classes)]
    if epochs:
        lines += ["", "### Epochs", "", "| epoch | loss | val_loss | accuracy | val_accuracy | lr |",
                  "|---|---|---|---|---|---|"]
        for i in range(epochs):
            row = [history.get(k, [None] * epochs)[i]
                   for k in ("loss", "val_loss", "accuracy", "val_accuracy", "lr")]
            lines.append(f"| {i + 1} | " + " | ".join(_fmt(v) for v in row) + " |")
    if layers:
        lines += ["", "### Layers", "", "| layer | output shape | parameters |", "|---|---|---|"]
        lines += [f"| {name} | {shape} | {count:,} |" for name, shape, count in layers]
    lines += ["", "### Curves", ""]
    lines.append(
        f"Training curves: artifact `{curves}` (trial-{number}-curves.png), under "
        "this trial's artifacts." if curves else "No curves: no epoch finished."
    )
    return "\n".join(lines)


LATEST_RUN = "latest_run"  # study attribute: one line on what the latest run added
RETRAIN_NOTE = "cvsearch:retrain_note"  # study system attribute: the latest retrain report


def latest_run_line(study: optuna.Study, ran: int, best_before: int | None) -> str:
    """``2026-12-04 16:49: 3 trial(s) added and found a new best trial.``"""
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    improved = ""
    if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        improved = (" and found a new best trial" if study.best_trial.number != best_before
                    else " without improving on the best trial")
    return f"{stamp}: {ran} trial(s) added{improved}."


def study_note(study: optuna.Study, metric: str) -> str:
    """The automatic study note: best trial, counts by state, importances, the latest run."""
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    lines = [f"## Study {study.study_name}", ""]
    lines.append("Trials: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    lines.append("")
    if complete:
        best = study.best_trial
        lines += [
            f"**Best trial: {best.number}** — {metric} {_fmt(best.value)}, val_accuracy "
            f"{_fmt(best.user_attrs.get('best_val_accuracy'))} at epoch "
            f"{_fmt(best.user_attrs.get('best_epoch'))}.",
            "",
            "| parameter | value |",
            "|---|---|",
        ]
        params = best.user_attrs.get("params") or best.params
        lines += [f"| {k} | {_fmt(v)} |" for k, v in params.items()]
    lines += ["", "### Most important parameters", ""]
    if len(complete) >= 5:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importances = optuna.importance.get_param_importances(study)
            lines += [f"- {name}: {value:.2f}" for name, value in list(importances.items())[:6]]
        except Exception as error:  # noqa: BLE001 - importance is a nicety, never a failure
            lines.append(f"Not computed: {error}")
    else:
        lines.append(f"Computed once 5 trials are complete ({len(complete)} so far).")
    attrs = study.user_attrs
    if attrs.get(LATEST_RUN):
        lines += ["", "### Latest run", "", attrs[LATEST_RUN]]
    retrained = study._storage.get_study_system_attrs(study._study_id).get(RETRAIN_NOTE)
    if retrained:
        lines += ["", "### Retrained", "", retrained.replace("## ", "#### ", 1)]
    return "\n".join(lines)
