"""The demo's report: ``OUT/report.html`` and the PNGs beside it.

- ``detections.png``: held-out images with the detector's merged boxes (ground truth in thin
  white);
- ``heatmaps.png``: one class's probability at every output cell, every scale and flip
  (Fig. 6's first diagrams);
- ``scales_detect.png`` / ``scales_localize.png``: each scale's boxes before merging, all
  scales together, and the merged boxes (Fig. 7 and Fig. 6's last diagrams);
- ``curves.png``: the three training jobs' losses and evaluation metrics from their
  ``metrics.jsonl`` (matplotlib when installed, the ``report`` extra; Pillow otherwise).
"""

from __future__ import annotations

import html
import pathlib
import sys
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from overfeat import draw
from overfeat.predict import DEFAULT_SCORE_THRESHOLD

METRIC_ROWS = (  # (task, metric key, title, better)
    ("classify", "top1_error", "classification top-1 error", "lower"),
    ("classify", "top5_error", "classification top-5 error", "lower"),
    ("localize", "top1_error", "localization top-1 error (IoU >= 0.5)", "lower"),
    ("localize", "top5_error", "localization top-5 error (IoU >= 0.5)", "lower"),
    ("detect", "mAP", "detection mAP (ILSVRC AP per class, mean)", "higher"),
)
CURVE_SKIP = {"step", "split", "time", "learning_rate", "images_per_s"}


def detections_figure(source, predictions: Sequence[Mapping], count: int,
                      panel_side: int = 256) -> Image.Image:
    """The first ``count`` held-out images, merged detections drawn over the ground truth."""
    names = tuple(source.class_names)
    panels = []
    for index in range(min(count, len(predictions))):
        example = source[index]
        base, factor = draw.fit(draw.as_pil(example["image"]), panel_side)
        canvas = base.copy()
        outline = ImageDraw.Draw(canvas)
        for box in np.asarray(example["boxes"], np.float64).reshape(-1, 4) * factor:
            outline.rectangle(tuple(box), outline=(255, 255, 255), width=1)
        boxes, labels, scores = draw.confident(predictions[index], DEFAULT_SCORE_THRESHOLD)
        picture = draw.draw_boxes(canvas, boxes, labels, scores, class_names=names,
                                  factor=factor)
        truth = ", ".join(names[label] for label in np.asarray(example["labels"]).tolist())
        panels.append((f"#{index}: {truth or 'no object'}", picture))
    return draw.grid(panels, 4, title="held-out images: detections (coloured, merged score) "
                                      "over the ground truth (white)")


def heatmap_page(predictor, source, index: int = 0) -> Image.Image:
    example = source[index]
    result = predictor.classify(example["image"], return_maps=True)
    label = int(example["label"])
    return draw.heatmap_figure(example["image"], result["maps"], label,
                               class_names=predictor.class_names, panel_side=192)


def scales_page(predictor, source, task: str, index: int = 0) -> Image.Image:
    example = source[index]
    run = getattr(predictor, task)
    result = run(example["image"], return_maps=True)
    return draw.scales_figure(example["image"], result, class_names=predictor.class_names,
                              panel_side=192, final_boxes=len(np.asarray(example["labels"]))
                              if task == "detect" else 1)


# --- Training curves ---------------------------------------------------------------------


def curve_series(workdir: pathlib.Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``"train loss"``, ``"eval top1_error"`` ... -> (steps, values) from metrics.jsonl."""
    from overfeat.train.metrics_log import read_metrics

    series: dict[str, list[tuple[int, float]]] = {}
    for row in read_metrics(workdir):
        for key, value in row.items():
            if key in CURVE_SKIP or value is None or not isinstance(value, int | float):
                continue
            series.setdefault(f"{row['split']} {key}", []).append((row["step"], float(value)))
    return {name: (np.array([s for s, _ in points]), np.array([v for _, v in points]))
            for name, points in series.items()}


def curve_kind(name: str) -> str | None:
    """``"loss"``, ``"metric"`` (an error, accuracy or IoU: within 0..1) or ``None`` (counts
    such as ``examples`` or ``cells``, which only crowd the plot)."""
    if "loss" in name:
        return "loss"
    if any(word in name for word in ("error", "accuracy", "iou")):
        return "metric"
    return None


def curves_figure(workdirs: Mapping[str, pathlib.Path], path: pathlib.Path) -> pathlib.Path:
    """Per job, its losses above its evaluation metrics (0..1)."""
    curves = {stage: curve_series(workdir) for stage, workdir in workdirs.items()}
    try:
        import matplotlib
    except ModuleNotFoundError:
        return _curves_pillow(curves, path)
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(2, len(curves), figsize=(4.4 * len(curves), 5.6),
                                   squeeze=False, sharex="col")
    for column, (stage, series) in enumerate(curves.items()):
        for row, kind in enumerate(("loss", "metric")):
            axis = axes[row][column]
            chosen = {name: points for name, points in sorted(series.items())
                      if curve_kind(name) == kind}
            for name, (steps, values) in chosen.items():
                style = "-" if name.startswith("train") else "o--"
                axis.plot(steps, values, style, label=name, markersize=3)
            if kind == "loss":
                axis.set_title(f"{stage} job")
            else:
                axis.set_ylim(-0.02, 1.02)
                axis.set_xlabel("step")
            axis.grid(alpha=0.3)
            if chosen:
                axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def _curves_pillow(curves, path: pathlib.Path, side: int = 320) -> pathlib.Path:
    """One panel per job, each series scaled to the panel's height (its range written)."""
    panels = []
    for stage, series in curves.items():
        panel = Image.new("RGB", (side, side), "white")
        pen = ImageDraw.Draw(panel)
        pen.rectangle((30, 10, side - 10, side - 30), outline=(180, 180, 180))
        for number, (name, (steps, values)) in enumerate(sorted(series.items())):
            if len(steps) < 1 or curve_kind(name) is None:
                continue
            color = draw.label_color(number)
            x = 30 + (steps - steps.min()) / max(np.ptp(steps), 1) * (side - 40)
            y = side - 30 - (values - values.min()) / max(np.ptp(values), 1e-12) * (side - 40)
            pen.line(list(zip(x.tolist(), y.tolist(), strict=True)), fill=color, width=2)
            pen.text((34, 14 + 12 * number),
                     f"{name} {values.min():.3g}..{values.max():.3g}", fill=color)
        panels.append((f"{stage} job", panel))
    draw.grid(panels, len(panels), title="training curves (each series scaled to the panel)"
              ).save(path)
    return path


# --- The page ------------------------------------------------------------------------------


def metrics_table(evaluations) -> str:
    rows = []
    for task, key, title, better in METRIC_ROWS:
        evaluation = evaluations.get(task)
        if evaluation is None or key not in evaluation.metrics:
            continue
        rows.append(f"<tr><td>{html.escape(title)}</td><td class=num>"
                    f"{evaluation.metrics[key]:.3f}</td><td>{better} is better</td><td>"
                    f"{len(evaluation.predictions)}</td></tr>")
    return ("<table><tr><th>metric</th><th>value</th><th></th><th>held-out images</th></tr>"
            + "".join(rows) + "</table>")


def ap_table(evaluation) -> str:
    cells = [(name[3:], value) for name, value in evaluation.metrics.items()
             if name.startswith("AP/")]
    if not cells:
        return ""
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in cells)
    body = "".join(f"<td class=num>{value:.2f}</td>" for _, value in cells)
    return f"<p>AP per class:</p><table><tr>{head}</tr><tr>{body}</tr></table>"


def seconds_table(seconds: Mapping[str, float]) -> str:
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td class=num>{value:.0f} s</td></tr>"
                   for name, value in seconds.items())
    return f"<table><tr><th>stage</th><th>wall time</th></tr>{rows}</table>"


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222;
       line-height: 1.45; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #ddd; }
.muted { color: #666; font-size: 0.92em; } code { background: #f4f4f4; padding: 0 0.2em; }
"""


def _figure(name: str, caption: str) -> str:
    return (f"<figure><img src='{name}' alt='{html.escape(caption)}'>"
            f"<figcaption class=muted>{caption}</figcaption></figure>")


def write_report(out_dir: pathlib.Path, *, settings, evaluations, predictors, sources,
                 workdirs, seconds) -> pathlib.Path:
    """Draw the figures into ``out_dir`` and write ``report.html``; returns its path."""
    detect = evaluations["detect"]
    figures = {
        "detections.png": lambda: detections_figure(
            sources["detect"], detect.predictions, settings.figure_images),
        "heatmaps.png": lambda: heatmap_page(predictors["classify"], sources["classify"]),
        "scales_detect.png": lambda: scales_page(predictors["detect"], sources["detect"],
                                                 "detect"),
        "scales_localize.png": lambda: scales_page(predictors["localize"],
                                                   sources["localize"], "localize"),
    }
    with tqdm(total=len(figures) + 1, desc="report", unit="figure", file=sys.stderr) as bar:
        for name, make in figures.items():
            make().save(out_dir / name)
            bar.update(1)
        curves_figure(workdirs, out_dir / "curves.png")
        bar.update(1)
    detector = workdirs["detect"] / "model"
    mode = "--quick" if settings.quick else "full"
    arch = html.escape(predictors["detect"].arch.name)
    page = f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>overfeat demo report</title>
<style>{STYLE}</style></head><body>
<h1>overfeat demo</h1>
<p class=muted>{mode} run. The small network (<code>{arch}</code>) trained on
synthetic shapes by the three training jobs of <code>configs/synthetic.py</code>
(classifier, then box regressor on its frozen trunk, then detector with a background class),
then run on held-out images at six scales with fine stride, flips and the greedy merge of
boxes (paper sections 3 to 5), scored with the ILSVRC metrics.</p>
<h2>Results on held-out images</h2>
{metrics_table(evaluations)}
{ap_table(detect)}
<p class=muted>Try the detector on any image:
<code>overfeat detect IMAGE --checkpoint {html.escape(str(detector))}</code></p>
<h2>Detections</h2>
{_figure("detections.png", "Merged detections (what overfeat detect returns: scores of at "
         f"least {DEFAULT_SCORE_THRESHOLD}, at most 6 boxes) on held-out images; ground "
         "truth in white.")}
<h2>Class heat maps (Fig. 6)</h2>
{_figure("heatmaps.png", "The true class's probability at each output cell of each scale "
         "(columns) and its mirror image (second row): the dense, fine-stride sliding "
         "window of section 3.3.")}
<h2>Boxes of every scale, before and after merging (Fig. 6 and 7)</h2>
{_figure("scales_detect.png", "Detector: every box each scale's regressor predicts (faded "
         "by confidence), all scales together, then the greedy accumulator's merged boxes "
         "(section 4.3).")}
{_figure("scales_localize.png", "Localization network on a one-object image: the same, "
         "keeping the single best merged box.")}
<h2>Training curves</h2>
{_figure("curves.png", "Loss per step and the evaluation metrics on the validation split, "
         "from each job's metrics.jsonl.")}
<h2>Time</h2>
{seconds_table(seconds)}
</body></html>
"""
    path = out_dir / "report.html"
    path.write_text(page)
    return path
