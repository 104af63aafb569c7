"""The retraining report: Markdown, JSON, a confusion-matrix PNG and a terminal table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table


def confusion_table(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> Table:
    table = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("")
    for name in class_names:
        table.add_column(str(name)[:10], justify="right")
    for name, row in zip(class_names, matrix):
        table.add_row(str(name)[:14], *[str(v) for v in row])
    return table


def plot_confusion(matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: Path) -> Path:
    from matplotlib.figure import Figure

    size = 2.5 + 0.45 * len(class_names)
    figure = Figure(figsize=(size, size), dpi=90)
    axis = figure.subplots()
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046)
    ticks = range(len(class_names))
    axis.set_xticks(list(ticks), [str(n) for n in class_names], rotation=45, ha="right")
    axis.set_yticks(list(ticks), [str(n) for n in class_names])
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            axis.text(j, i, str(value), ha="center", va="center",
                      color="white" if value > peak / 2 else "black", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    return path


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown, for ``report.md`` and the study note."""
    test = report["test"]
    lines = [f"## {report['title']}", ""]
    lines.append(f"Test set: {test['n']} images, evaluated once.")
    lines.append("")
    lines += ["| metric | value |", "|---|---|", f"| loss | {test['loss']:.4f} |",
              f"| rank-1 accuracy | {test['rank1']:.4f} |"]
    if "rank5" in test:
        lines.append(f"| rank-5 accuracy | {test['rank5']:.4f} |")
    lines += ["", "### Per class", "", "| class | precision | recall | F1 | support |",
              "|---|---|---|---|---|"]
    for name in report["class_names"]:
        row = test["per_class"][name]
        lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | "
                     f"{row['f1-score']:.3f} | {int(row['support'])} |")
    lines += ["", "### Confusion matrix (rows: true, columns: predicted)", "",
              "| | " + " | ".join(report["class_names"]) + " |",
              "|---" * (len(report["class_names"]) + 1) + "|"]
    for name, row in zip(report["class_names"], test["confusion"]):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "### How it was made", ""]
    for key in ("study", "trials", "mode", "epochs", "seed", "deterministic_ops", "seconds"):
        if key in report:
            lines.append(f"- {key.replace('_', ' ')}: {report[key]}")
    lines.append(f"- data: {json.dumps(report['data'])}")
    lines.append(f"- versions: {json.dumps(report['versions'])}")
    lines += ["", "### Configuration", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report["params"].items()]
    if report.get("files"):
        lines += ["", "### Files", ""] + [f"- {k}: `{v}`" for k, v in report["files"].items()]
    return "\n".join(lines) + "\n"
