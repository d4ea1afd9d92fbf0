"""The paper's experiments in miniature (``scripts/reproduce_paper.py``): what is trained, what
is evaluated, and the report (markdown tables with the spread over seeds, matplotlib PNGs).

- ``training_jobs(seed, quick)``: the ``overfeat train`` jobs one seed needs (the classifier,
  a shared and a per-class regressor on it, the detector on the shared one).
- ``evaluations(quick)``: every evaluation of one seed, an ``EvaluationSpec`` each:
  Table 2 (stride x number of scales, classification error), Fig. 9 (shared vs per-class
  regressor x number of scales, localization error), greedy accumulator vs NMS
  (localization error and detection mAP).
- ``summarize(records)``: mean, sample standard deviation, min and max over seeds per row.
- ``write_report(records, out_dir)``: ``report.md`` and the PNG plots.

A record is ``{"experiment", "row", "seed", "setting": {...}, "metrics": {...}}``; the
script keeps them in ``results.jsonl`` (one per line), so a rerun skips what is done.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# The number of scales -> which of Table 5's scales. 1, 4 and 6 are Table 2's rows ("scale 1",
# "4 scales (1,2,4,6)", "6 scales (1-6)"); the paper has no 2-scale row: we take (1, 2).
SCALE_SETS = {1: (1,), 2: (1, 2), 4: (1, 2, 4, 6), 6: (1, 2, 3, 4, 5, 6)}
CONFIG = "synthetic"  # the packaged configs/synthetic.py

EXPERIMENTS = {
    "table2": ("Table 2: classification error, coarse vs fine stride and the number of scales",
               "classify", ("top1_error", "top5_error")),
    "fig9": ("Fig. 9: localization error, shared vs per-class regressor and the number of "
             "scales (fine stride, greedy merge)", "localize", ("top1_error", "top5_error")),
    "merge_localize": ("Greedy accumulator (section 4.3) vs NMS: localization error (shared "
                       "regressor, 6 scales, fine stride)", "localize",
                       ("top1_error", "top5_error")),
    "merge_detect": ("Greedy accumulator vs NMS: detection mAP (6 scales, fine stride)",
                     "detect", ("mAP",)),
}


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """One ``overfeat train`` run: ``name`` is its workdir under the seed's folder;
    ``init_from`` names the job whose exported model it starts from."""

    name: str
    variant: str  # configs/synthetic.py's variant: classify | localize | detect
    overrides: tuple[str, ...] = ()
    init_from: str | None = None

    def command(self, seed: int, seed_dir: Path, quick: bool, config: str = CONFIG,
                extra: Sequence[str] = ()) -> list[str]:
        """``overfeat train`` arguments; ``extra``: more ``--config.KEY=VALUE`` overrides."""
        spec = f"{config}:{self.variant}{',quick' if quick else ''}"
        arguments = ["train", "--config", spec, "--workdir", str(seed_dir / self.name),
                     f"--config.seed={seed}", "--config.progress_bar=False", *self.overrides,
                     *extra]
        if self.init_from is not None:
            arguments.append(f"--config.model.init_from={seed_dir / self.init_from}")
        return arguments


def training_jobs() -> list[TrainingJob]:
    """The jobs of one seed, in dependency order."""
    return [
        TrainingJob("classify", "classify"),
        TrainingJob("localize_shared", "localize", ("--config.model.regressor=shared",),
                    "classify"),
        TrainingJob("localize_per_class", "localize", ("--config.model.regressor=per_class",),
                    "classify"),
        TrainingJob("detect", "detect", (), "localize_shared"),
    ]


@dataclasses.dataclass(frozen=True)
class EvaluationSpec:
    """One evaluation: the experiment and row it belongs to, the model (a training job's
    name), the task, and the inference options (``overfeat.evaluation.run.InferenceOptions``
    fields)."""

    experiment: str
    row: str
    job: str
    task: str
    options: Mapping[str, Any]

    def key(self, seed: int) -> tuple[str, str, int]:
        return (self.experiment, self.row, seed)


def evaluations() -> list[EvaluationSpec]:
    """Every evaluation of one seed."""
    specs = []
    for stride in ("coarse", "fine"):
        for count, scales in SCALE_SETS.items():
            specs.append(EvaluationSpec(
                "table2", f"{stride} stride, {_scales_label(count, scales)}", "classify",
                "classify", {"scales": scales, "stride": stride}))
    for regressor in ("shared", "per_class"):
        for count, scales in SCALE_SETS.items():
            specs.append(EvaluationSpec(
                "fig9", f"{regressor.replace('_', '-')} regressor, "
                f"{_scales_label(count, scales)}", f"localize_{regressor}", "localize",
                {"scales": scales, "stride": "fine", "merge": "greedy"}))
    for merge in ("greedy", "nms"):
        specs.append(EvaluationSpec("merge_localize", merge, "localize_shared", "localize",
                                    {"scales": SCALE_SETS[6], "stride": "fine", "merge": merge}))
        specs.append(EvaluationSpec("merge_detect", merge, "detect", "detect",
                                    {"scales": SCALE_SETS[6], "stride": "fine", "merge": merge}))
    return specs


def _scales_label(count: int, scales: Sequence[int]) -> str:
    if count == 1:
        return f"scale {scales[0]}"
    return f"{count} scales ({','.join(map(str, scales))})"


# --- Results ---------------------------------------------------------------------------------

def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``results.jsonl`` (none if it does not exist); of records of the same
    experiment, row and seed (processes that ran a seed twice) the first."""
    path = Path(path)
    if not path.exists():
        return []
    records, seen = [], set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not a JSON record ({error})") from None
            key = (record["experiment"], record["row"], record["seed"])
            if key not in seen:
                seen.add(key)
                records.append(record)
    return records


def append_record(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    with open(path, "a") as file:
        file.write(json.dumps(record) + "\n")


@dataclasses.dataclass(frozen=True)
class Spread:
    """A metric over seeds: mean, sample standard deviation (0 for one seed), min, max."""

    mean: float
    std: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        array = np.asarray(values, dtype=np.float64)
        std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
        return cls(float(array.mean()), std, float(array.min()), float(array.max()), len(array))

    def percent(self) -> str:
        """``mean ± std [min-max]`` in percent, one decimal."""
        return (f"{100 * self.mean:.1f} ± {100 * self.std:.1f} "
                f"[{100 * self.low:.1f}-{100 * self.high:.1f}]")


def summarize(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Spread]]]:
    """``{experiment: {row: {metric: Spread over seeds}}}``, rows in first-seen order."""
    values: dict[str, dict[str, dict[str, list[float]]]] = {}
    for record in records:
        row = values.setdefault(record["experiment"], {}).setdefault(record["row"], {})
        for metric, value in record["metrics"].items():
            if isinstance(value, (int, float)) and not metric.startswith("num_"):
                row.setdefault(metric, []).append(float(value))
    return {
        experiment: {row: {m: Spread.of(v) for m, v in metrics.items()}
                     for row, metrics in rows.items()}
        for experiment, rows in values.items()
    }


def markdown_tables(summary: Mapping[str, Mapping[str, Mapping[str, Spread]]]) -> str:
    """One markdown table per experiment: a row per setting, a column per metric
    (percent: mean ± std [min-max] over seeds)."""
    parts = []
    for experiment, (title, _, metrics) in EXPERIMENTS.items():
        rows = summary.get(experiment)
        if not rows:
            continue
        seeds = max(spread.count for row in rows.values() for spread in row.values())
        names = [name.replace("_", " ") for name in metrics]
        parts.append(f"### {title}\n\n{seeds} seeds; % mean ± std [min-max]\n")
        parts.append("| setting | " + " | ".join(names) + " |")
        parts.append("|---|" + "---|" * len(metrics))
        for row, spreads in rows.items():
            cells = [spreads[m].percent() if m in spreads else "-" for m in metrics]
            parts.append(f"| {row} | " + " | ".join(cells) + " |")
        parts.append("")
    return "\n".join(parts)


# --- Plots -----------------------------------------------------------------------------------

def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the report's plots need matplotlib: pip install 'overfeat[report]'") from None
    matplotlib.use("Agg")  # files only; no display
    import matplotlib.pyplot as pyplot

    return pyplot


def _by_scale_count(rows: Mapping[str, Mapping[str, Spread]], prefix: str, metric: str):
    """``(counts, spreads)`` of the rows ``"{prefix}, ..."`` in SCALE_SETS order."""
    counts, spreads = [], []
    for count, scales in SCALE_SETS.items():
        row = rows.get(f"{prefix}, {_scales_label(count, scales)}")
        if row is not None and metric in row:
            counts.append(count)
            spreads.append(row[metric])
    return counts, spreads


def plot_scale_curves(
    rows: Mapping[str, Mapping[str, Spread]],
    series: Sequence[str],
    metric: str,
    title: str,
    path: Path,
) -> Path:
    """The metric (percent) against the number of scales, a line per series, error bars one
    standard deviation, the seeds' min-max as a band."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(5, 3.6), dpi=120)
    for name in series:
        counts, spreads = _by_scale_count(rows, name, metric)
        if not counts:
            continue
        mean = np.array([100 * s.mean for s in spreads])
        std = np.array([100 * s.std for s in spreads])
        line = axes.errorbar(counts, mean, yerr=std, marker="o", capsize=3, label=name)
        axes.fill_between(counts, [100 * s.low for s in spreads],
                          [100 * s.high for s in spreads], alpha=0.15,
                          color=line[0].get_color())
    axes.set_xticks(list(SCALE_SETS))
    axes.set_xlabel("number of scales")
    axes.set_ylabel(f"{metric.replace('_', ' ')} (%)")
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
    return path


def plot_merge_bars(summary, path: Path) -> Path:
    """Greedy vs NMS: localization top-5 error and detection mAP, bars with std error bars."""
    pyplot = _pyplot()
    panels = [("merge_localize", "top5_error", "localization top-5 error (%)"),
              ("merge_detect", "mAP", "detection mAP (%)")]
    panels = [p for p in panels if summary.get(p[0])]
    figure, all_axes = pyplot.subplots(1, max(len(panels), 1), figsize=(5, 3.2), dpi=120,
                                       squeeze=False)
    for axes, (experiment, metric, label) in zip(all_axes[0], panels, strict=False):
        rows = summary[experiment]
        names = [row for row in rows if metric in rows[row]]
        means = [100 * rows[row][metric].mean for row in names]
        stds = [100 * rows[row][metric].std for row in names]
        axes.bar(names, means, yerr=stds, capsize=4, color=["tab:blue", "tab:orange"][:len(names)])
        axes.set_ylabel(label, fontsize=8)
        axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
    return path


def write_plots(summary, out_dir: Path) -> list[Path]:
    paths = []
    if summary.get("table2"):
        paths.append(plot_scale_curves(
            summary["table2"], ["coarse stride", "fine stride"], "top5_error",
            "Table 2: classification top-5 error", out_dir / "table2_classification.png"))
    if summary.get("fig9"):
        paths.append(plot_scale_curves(
            summary["fig9"], ["shared regressor", "per-class regressor"], "top5_error",
            "Fig. 9: localization top-5 error", out_dir / "fig9_localization.png"))
    if summary.get("merge_localize") or summary.get("merge_detect"):
        paths.append(plot_merge_bars(summary, out_dir / "merge_greedy_vs_nms.png"))
    return paths


# --- The paper's directions ------------------------------------------------------------------

def _spread(summary, experiment: str, row: str, metric: str) -> Spread | None:
    return summary.get(experiment, {}).get(row, {}).get(metric)


def paper_directions(summary) -> list[tuple[str, str, str]]:
    """``(claim, verdict, figures)`` for each direction the paper reports. The verdict
    compares the means over seeds: "yes" / "no" / "tie" (equal means) / "n/a" (a side not
    measured), with "(within spread)" when the means differ by less than the two rows'
    standard deviations added: the seeds do not separate them."""
    checks = []

    def compare(claim, experiment, better, worse, metric, lower_is_better=True):
        a, b = (_spread(summary, experiment, better, metric),
                _spread(summary, experiment, worse, metric))
        if a is None or b is None or math.isnan(a.mean) or math.isnan(b.mean):
            checks.append((claim, "n/a", "not measured"))
            return
        gain = (b.mean - a.mean) if lower_is_better else (a.mean - b.mean)
        verdict = "tie" if gain == 0 else ("yes" if gain > 0 else "no")
        if verdict != "tie" and abs(gain) <= a.std + b.std:
            verdict += " (within spread)"
        checks.append((claim, verdict, f"{metric} {100 * a.mean:.1f}% vs {100 * b.mean:.1f}% "
                                       f"(std {100 * a.std:.1f}, {100 * b.std:.1f})"))

    one, four, six = (_scales_label(n, SCALE_SETS[n]) for n in (1, 4, 6))
    compare("fine stride beats coarse at one scale (Table 2)", "table2",
            f"fine stride, {one}", f"coarse stride, {one}", "top5_error")
    compare("4 scales beat 1 scale, fine stride (Table 2)", "table2",
            f"fine stride, {four}", f"fine stride, {one}", "top5_error")
    compare("6 scales beat 4 scales, fine stride (Table 2)", "table2",
            f"fine stride, {six}", f"fine stride, {four}", "top5_error")
    compare("more scales lower localization error, shared regressor (Fig. 9)", "fig9",
            f"shared regressor, {six}", f"shared regressor, {one}", "top5_error")
    compare("the per-class regressor does NOT beat the shared one (Fig. 9: PCR worse than "
            "SCR)", "fig9", f"shared regressor, {six}", f"per-class regressor, {six}",
            "top5_error")
    compare("greedy merge beats NMS on localization (section 4.3's motivation)",
            "merge_localize", "greedy", "nms", "top5_error")
    compare("greedy merge beats NMS on detection mAP", "merge_detect", "greedy", "nms", "mAP",
            lower_is_better=False)
    return checks


def write_report(
    records: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    header: str = "",
    plots: bool = True,
) -> Path:
    """``report.md`` (tables, the paper's directions, the plots) in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(records)
    lines = ["# OverFeat's experiments in miniature (synthetic shapes, a small network)", ""]
    if header:
        lines += [header, ""]
    lines += [markdown_tables(summary), "### The paper's directions here", "",
              "| paper | holds here | means over seeds |", "|---|---|---|"]
    for claim, verdict, figures in paper_directions(summary):
        lines.append(f"| {claim} | {verdict} | {figures} |")
    lines.append("")
    if plots:
        for path in write_plots(summary, out):
            lines.append(f"![{path.stem}]({path.name})")
        lines.append("")
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report
