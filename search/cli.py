"""The ``cvsearch`` command line: one function per subcommand, ``main()`` returns the exit code.

Commands that only read (``show``, ``list``, ``space show``, ``notes``) never import TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from search.errors import CvsearchError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _spec(args: argparse.Namespace) -> Any:
    from search.config import load_spec

    spec = load_spec(args.spec)
    return spec.with_overrides(
        name=args.study,
        storage=args.storage,
        n_trials=getattr(args, "n_trials", None),
        timeout=getattr(args, "timeout", None),
        data_path=_data_path(getattr(args, "data", None)),
    )


def _data_path(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def _console() -> Any:
    from rich.console import Console

    return Console()


def cmd_run(args: argparse.Namespace) -> int:
    """Run (or resume) the study until it has n_trials finished trials."""
    from search import tfenv

    tfenv.set_verbose(args.verbose)
    spec = _spec(args)
    from search.progress import RichProgress, SilentProgress
    from search.runner import run_study

    if getattr(args, "workers", None):
        spec = spec.with_overrides(workers=args.workers)
    gpus = [g.strip() for g in args.gpus.split(",") if g.strip()] if args.gpus else None
    quiet = args.quiet or args.json
    progress = SilentProgress() if quiet else RichProgress(spec.objective.metric, spec.budget.max_epochs)
    join = args.command == "worker"
    result = run_study(spec, progress, verbose=args.verbose, gpus=gpus, join=join).to_dict()
    if args.json:
        print(json.dumps(result, indent=2))
    elif not args.quiet:
        from search.tables import run_table

        _console().print(run_table(result))
    return EXIT_OK if result["best"] is not None else EXIT_FAILURE


def cmd_show(args: argparse.Namespace) -> int:
    """Print the best trial and a table of the top-k trials."""
    from search.storage import load_study
    from search.tables import ranked_trials, states_line, trial_summary, trials_table

    spec = _spec(args)
    study = load_study(spec.storage, spec.name)
    ranked = ranked_trials(study, args.top)
    if args.json:
        print(json.dumps({
            "study": study.study_name,
            "direction": study.direction.name.lower(),
            "states": states_line(study),
            "top": [trial_summary(t) for t in ranked],
        }, indent=2))
        return EXIT_OK
    console = _console()
    console.print(f"[bold]study '{study.study_name}'[/]: {states_line(study)}")
    if not ranked:
        console.print("no completed trial yet")
        return EXIT_OK
    console.print(trials_table(ranked, spec.objective.metric, f"top {len(ranked)} trials"))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    """List the studies in a storage (the spec's, or --storage)."""
    import optuna

    from search.storage import open_storage, redact
    from search.tables import studies_table

    if args.storage:
        url = args.storage
    elif args.spec:
        url = _spec(args).storage
    else:
        raise CvsearchError("give a SPEC or --storage URL")
    storage = open_storage(url, must_exist=True)
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=True):
        best = summary.best_trial.value if summary.best_trial is not None else None
        rows.append({
            "study": summary.study_name,
            "direction": summary.direction.name.lower(),
            "trials": summary.n_trials,
            "best": best,
            "started": summary.datetime_start.isoformat(" ", "seconds") if summary.datetime_start else None,
        })
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _console().print(studies_table(rows, f"studies in {redact(url)}"))
    return EXIT_OK


def cmd_space_show(args: argparse.Namespace) -> int:
    """Print the spec's resolved search space."""
    from search.tables import space_table

    spec = _spec(args)
    space = spec.search_space()
    if args.json:
        print(json.dumps(space.rows(), indent=2))
    else:
        _console().print(space_table(space, f"space '{space.name}' of study '{spec.name}'"))
    return EXIT_OK


def cmd_retrain(args: argparse.Namespace) -> int:
    """Retrain the best (or --trial N) trial on train + validation; evaluate once on test."""
    from search import tfenv

    tfenv.set_verbose(args.verbose)
    spec = _spec(args)
    from search.retrain import RetrainOptions, retrain

    if args.reuse and args.ensemble:
        raise CvsearchError("--reuse and --ensemble are two different modes; give one")
    report = retrain(spec, RetrainOptions(
        trial=args.trial, epochs=args.epochs, out=Path(args.out) if args.out else None,
        reuse=args.reuse, ensemble=args.ensemble, early_stopping=args.early_stopping,
        scale_epochs=args.scale_epochs,
    ))
    _print_report(report, args)
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a saved model on another data set, with the same report."""
    from search import tfenv

    tfenv.set_verbose(False)
    from search.retrain import evaluate_model

    report = evaluate_model(Path(args.model), Path(args.data).expanduser(),
                            Path(args.out) if args.out else None)
    _print_report(report, args)
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    """Print the top-k classes, with probabilities, for each image."""
    from search import tfenv

    tfenv.set_verbose(False)
    from search.retrain import predict_images

    results = predict_images(Path(args.model), [Path(p) for p in args.images], args.top)
    if args.json:
        print(json.dumps(results, indent=2))
        return EXIT_OK
    for result in results:
        ranked = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in result["top"])
        print(f"{result['image']}: {ranked}")
    return EXIT_OK


def cmd_weights_fetch(args: argparse.Namespace) -> int:
    """Put the spec's imagenet weights into the Keras cache (~/.keras/models), downloading
    them on a machine that is online; runs on that machine can then work offline."""
    from search import tfenv

    tfenv.set_verbose(args.verbose)
    from cvmodels.backbones import BACKBONES, backbone_size, load_backbone

    spec = _spec(args)
    if spec.model.name not in BACKBONES:
        raise CvsearchError(f"model '{spec.model.name}' has no imagenet weights to fetch "
                            f"(backbones: {', '.join(BACKBONES)})")
    size = spec.model.options.get("image_size") or spec.data.image_size or 224
    side = size if isinstance(size, int) else max(size)
    side = backbone_size(spec.model.name, side, (side, side, 3))
    tfenv.import_keras()
    load_backbone(spec.model.name, side, "imagenet", alpha=spec.model.options.get("alpha"))
    print(f"imagenet weights of {BACKBONES[spec.model.name].constructor} ({side}px) are in the "
          "Keras cache")
    return EXIT_OK


def cmd_weights_export(args: argparse.Namespace) -> int:
    """Save the backbone of a model that cvsearch trained (e.g. retrain's model.keras) as a
    weights file, for ``model.weights`` in another study."""
    from search import tfenv

    tfenv.set_verbose(False)
    from cvmodels.backbones import export_backbone

    tfenv.import_keras()
    layers = export_backbone(Path(args.model), Path(args.out))
    print(f"{args.out}: backbone weights of {args.model} ({layers} layers)")
    return EXIT_OK


def _print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(report, indent=2))
        return
    from search.report import confusion_table

    test = report["test"]
    console = _console()
    console.print(f"[bold]{report['title']}[/]")
    line = f"test loss {test['loss']:.4f}   rank-1 {test['rank1']:.4f}"
    if "rank5" in test:
        line += f"   rank-5 {test['rank5']:.4f}"
    console.print(line + f"   ({test['n']} images)")
    console.print(confusion_table(test["confusion"], report["class_names"]))
    console.print(f"report: {report['files']['report']}")


def _trial_of(study: Any, number: int | None) -> Any:
    if number is None:
        return None
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            return trial
    raise CvsearchError(f"study '{study.study_name}' has no trial {number}")


def cmd_note(args: argparse.Namespace) -> int:
    """Append a dated note to a trial (--trial N) or to the study; the automatic part stays."""
    from search.notes import append_user_note
    from search.storage import load_study

    spec = _spec(args)
    if not args.text.strip():
        raise CvsearchError("the note is empty")
    study = load_study(spec.storage, spec.name)
    body = append_user_note(study, _trial_of(study, args.trial), args.text)
    if args.json:
        print(json.dumps({"study": study.study_name, "trial": args.trial, "note": body}))
    elif not args.quiet:
        where = f"trial {args.trial}" if args.trial is not None else f"study '{study.study_name}'"
        print(f"note added to {where}")
    return EXIT_OK


def cmd_notes(args: argparse.Namespace) -> int:
    """Print the note of a trial (--trial N) or of the study."""
    from search.notes import read_note
    from search.storage import load_study

    spec = _spec(args)
    study = load_study(spec.storage, spec.name)
    body = read_note(study, _trial_of(study, args.trial))
    if args.json:
        print(json.dumps({"study": study.study_name, "trial": args.trial, "note": body}))
    else:
        from rich.markdown import Markdown

        _console().print(Markdown(body) if body else "no note yet")
    return EXIT_OK


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve optuna-dashboard on the study's storage and artifact store."""
    import optuna_dashboard

    from search.artifacts import artifact_path, open_artifact_store
    from search.storage import open_storage

    if args.spec:
        spec = _spec(args)
        url, artifacts = spec.storage, artifact_path(spec.storage, spec.artifacts)
    elif args.storage:
        url, artifacts = args.storage, artifact_path(args.storage, args.artifacts)
    else:
        raise CvsearchError("give a SPEC or --storage URL")
    if args.artifacts:
        artifacts = Path(args.artifacts)
    storage = open_storage(url, must_exist=True)
    _check_port_free(args.host, args.port)
    print(f"optuna-dashboard on http://{args.host}:{args.port}/dashboard/ (Ctrl-C to stop)",
          flush=True)
    optuna_dashboard.run_server(storage, host=args.host, port=args.port,
                                artifact_store=open_artifact_store(artifacts))
    return EXIT_OK


def _check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise CvsearchError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def _common(parser: argparse.ArgumentParser, spec_required: bool = True) -> None:
    if spec_required:
        parser.add_argument("spec", metavar="SPEC", help="study spec file (TOML)")
    else:
        parser.add_argument("spec", metavar="SPEC", nargs="?", help="study spec file (TOML)")
    parser.add_argument("--storage", metavar="URL", help="Optuna storage URL (overrides the spec)")
    parser.add_argument("--study", metavar="NAME", help="study name (overrides the spec)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cvsearch",
        description="Hyperparameter search for Keras image classifiers, on Optuna.",
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run or resume a study", description=cmd_run.__doc__)
    _common(run)
    run.add_argument("--n-trials", type=_positive_int, metavar="N",
                     help="total finished trials wanted (overrides budget.n_trials)")
    run.add_argument("--timeout", type=_positive_float, metavar="S",
                     help="stop starting trials after S seconds (overrides budget.timeout)")
    run.add_argument("--data", metavar="PATH", help="data set path (overrides data.path)")
    run.add_argument("--workers", type=_positive_int, metavar="N",
                     help="worker processes side by side (overrides execution.workers)")
    run.add_argument("--gpus", metavar="IDS", help="GPU ids for the workers, round-robin: 0,1")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    run.add_argument("--verbose", action="store_true", help="show TensorFlow's own log")
    run.set_defaults(handler=cmd_run)

    worker = commands.add_parser(
        "worker", help="join a running study (from another machine)",
        description="Join an existing study on a shared storage and run its trials until "
                    "its budget is spent.")
    _common(worker)
    for action in run._actions:
        if action.dest in ("n_trials", "timeout", "data", "workers", "gpus", "quiet", "verbose"):
            worker._add_action(action)
    worker.set_defaults(handler=cmd_run)

    show = commands.add_parser("show", help="best trial and top-k table", description=cmd_show.__doc__)
    _common(show)
    show.add_argument("--top", type=_positive_int, default=10, metavar="K", help="rows (default 10)")
    show.set_defaults(handler=cmd_show)

    listing = commands.add_parser("list", help="studies in a storage", description=cmd_list.__doc__)
    _common(listing, spec_required=False)
    listing.set_defaults(handler=cmd_list)

    note = commands.add_parser("note", help="append a note to a trial or the study",
                               description=cmd_note.__doc__)
    _common(note)
    note.add_argument("text", metavar="TEXT", help="the note (Markdown)")
    note.add_argument("--trial", type=_non_negative_int, metavar="N", help="trial number")
    note.add_argument("--quiet", action="store_true", help="print nothing but errors")
    note.set_defaults(handler=cmd_note)

    notes = commands.add_parser("notes", help="print a trial's or the study's note",
                                description=cmd_notes.__doc__)
    _common(notes)
    notes.add_argument("--trial", type=_non_negative_int, metavar="N", help="trial number")
    notes.set_defaults(handler=cmd_notes)

    dashboard = commands.add_parser("dashboard", help="browse studies in optuna-dashboard",
                                    description=cmd_dashboard.__doc__)
    _common(dashboard, spec_required=False)
    dashboard.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    dashboard.add_argument("--port", type=_positive_int, default=8080, help="port (default 8080)")
    dashboard.add_argument("--artifacts", metavar="DIR", help="artifact folder (overrides the spec)")
    dashboard.set_defaults(handler=cmd_dashboard)

    retrain = commands.add_parser("retrain", help="retrain the best trial; evaluate it on test",
                                  description=cmd_retrain.__doc__)
    _common(retrain)
    retrain.add_argument("--trial", type=_non_negative_int, metavar="N", help="trial number")
    retrain.add_argument("--epochs", type=_positive_int, metavar="E",
                         help="epochs (default: the trial's best epoch)")
    retrain.add_argument("--scale-epochs", action="store_true",
                         help="scale the best epoch to the larger training set")
    retrain.add_argument("--early-stopping", action="store_true",
                         help="stop on a 10%% slice instead, keeping the best weights")
    retrain.add_argument("--reuse", action="store_true",
                         help="evaluate the trial's kept checkpoint without training")
    retrain.add_argument("--ensemble", type=_positive_int, metavar="K",
                         help="average the predictions of the K best kept checkpoints")
    retrain.add_argument("--out", metavar="DIR", help="output folder")
    retrain.add_argument("--data", metavar="PATH", help="data set path (overrides data.path)")
    retrain.add_argument("--verbose", action="store_true", help="show TensorFlow's own log")
    retrain.set_defaults(handler=cmd_retrain)

    evaluate = commands.add_parser("evaluate", help="evaluate a saved model on a data set",
                                   description=cmd_evaluate.__doc__)
    evaluate.add_argument("model", metavar="MODEL", help="a model.keras written by retrain")
    evaluate.add_argument("--data", metavar="PATH", required=True, help="folder or .npz")
    evaluate.add_argument("--out", metavar="DIR", help="output folder")
    evaluate.add_argument("--json", action="store_true", help="print JSON for scripts")
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help="top-k classes for images",
                                  description=cmd_predict.__doc__)
    predict.add_argument("model", metavar="MODEL", help="a model.keras written by retrain")
    predict.add_argument("images", metavar="IMAGE", nargs="+")
    predict.add_argument("--top", type=_positive_int, default=3, metavar="K")
    predict.add_argument("--json", action="store_true", help="print JSON for scripts")
    predict.set_defaults(handler=cmd_predict)

    weights = commands.add_parser("weights", help="backbone weights: fetch or export")
    weights_commands = weights.add_subparsers(dest="weights_command", metavar="COMMAND",
                                              required=True)
    fetch = weights_commands.add_parser("fetch", help="cache a spec's imagenet weights",
                                        description=cmd_weights_fetch.__doc__)
    _common(fetch)
    fetch.add_argument("--verbose", action="store_true", help="show TensorFlow's messages")
    fetch.set_defaults(handler=cmd_weights_fetch)
    export = weights_commands.add_parser("export", help="a trained model's backbone to a file",
                                         description=cmd_weights_export.__doc__)
    export.add_argument("model", metavar="MODEL", help="a model.keras with a backbone")
    export.add_argument("out", metavar="FILE", help="where to write (*.weights.h5)")
    export.set_defaults(handler=cmd_weights_export)

    space = commands.add_parser("space", help="search-space commands")
    space_commands = space.add_subparsers(dest="space_command", metavar="COMMAND", required=True)
    space_show = space_commands.add_parser("show", help="print the resolved space",
                                           description=cmd_space_show.__doc__)
    _common(space_show)
    space_show.set_defaults(handler=cmd_space_show)
    return parser


def _bounded(kind: type, check: Callable[[Any], bool], what: str) -> Callable[[str], Any]:
    """An argparse type: ``kind(text)`` that passes ``check``, else a usage error."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not check(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _bounded(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _bounded(int, lambda v: v >= 0, "a trial number")
_positive_float = _bounded(float, lambda v: v > 0, "a positive number")


def _version() -> str:
    from search import __version__

    return f"cvsearch {__version__}"


def _log_to_stderr(quiet: bool) -> None:
    """cvsearch's own warnings (skipped files, notes that could not be written): one line each."""
    import logging

    logger = logging.getLogger("cvsearch")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("cvsearch: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.ERROR if quiet else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cvsearch`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _log_to_stderr(quiet=getattr(args, "quiet", False) or getattr(args, "json", False))
    handler: Callable[[argparse.Namespace], int] = args.handler
    from cvmodels.backbones import WeightsError

    try:
        return handler(args)
    except (CvsearchError, WeightsError) as error:
        print(f"cvsearch: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cvsearch: interrupted; finished trials are stored", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
