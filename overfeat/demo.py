"""``overfeat demo``: the whole system on data it makes, on a CPU, in minutes.

1. the synthetic shapes (``overfeat.data.synthetic``, made on the fly: nothing to download);
2. the three training jobs of ``configs/synthetic.py`` run through ``overfeat.train.loop.train``
   (the code ``overfeat train`` runs): the small network's classifier, then its box regressor
   on the frozen trunk, then the detector with a background class, each starting from the
   one before;
3. classification, localization and detection of held-out (``test`` split) images at six
   scales, fine stride, with flips and the greedy accumulator, scored with the ILSVRC metrics
   (``overfeat.evaluation.run.evaluate``, the code ``overfeat evaluate`` runs);
4. a report, ``OUT/report.html`` with its pictures beside it (``overfeat.demo_report``).

``run_demo(out_dir, quick=False)`` is the entry point; ``overfeat/commands/demo.py`` its
command line. The checkpoints it leaves (``OUT/detect/model`` ...) work with
``overfeat classify|localize|detect --checkpoint``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

STAGES = ("classify", "localize", "detect")  # each trains from the one before
# The checkpoint each evaluation uses: the classifier is scored on the localization images
# (one main object each), the regressor's network localizes them, the detector detects.
EVALUATIONS = (("classify", "classify"), ("localize", "localize"), ("detect", "detect"))


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """What ``quick`` changes: the training variants' sizes and how many held-out images."""

    quick: bool = False
    eval_images: int = 200  # held-out images per task
    figure_images: int = 8  # detections drawn in the report

    @classmethod
    def make(cls, quick: bool) -> DemoSettings:
        return cls(quick=True, eval_images=48, figure_images=8) if quick else cls()

    def variant(self, stage: str) -> str:
        return f"{stage},quick" if self.quick else stage


@dataclasses.dataclass
class DemoResult:
    out_dir: pathlib.Path
    report: pathlib.Path
    metrics: dict[str, dict[str, float]]  # task -> its ILSVRC metrics on held-out images
    seconds: dict[str, float]  # stage -> wall time
    checkpoints: dict[str, pathlib.Path]  # stage -> exported model directory


CONFIG = "synthetic"  # the packaged configs/synthetic.py (overfeat.train.config)


def train_stage(stage: str, out_dir: pathlib.Path, settings: DemoSettings) -> pathlib.Path:
    """Run (or resume: the job continues from its last checkpoint) one training job in
    ``OUT/stage``; returns its exported model directory."""
    from overfeat.train import config as config_lib
    from overfeat.train import loop

    overrides = []
    previous = STAGES.index(stage) - 1
    if previous >= 0:
        overrides.append(f"--config.model.init_from={out_dir / STAGES[previous]}")
    config = config_lib.load_config(f"{CONFIG}:{settings.variant(stage)}", overrides)
    workdir = out_dir / stage
    result = loop.train(config, workdir)
    if result.preempted:
        raise RuntimeError(f"training {stage} was interrupted; rerun the demo to resume")
    return workdir / "model"


def held_out_source(stage: str, settings: DemoSettings):
    """The ``test`` split of the dataset the stage's job trained on (never seen in training,
    which reads ``train`` and evaluates on ``validation``)."""
    from overfeat.data.sources import open_source
    from overfeat.train import config as config_lib

    config = config_lib.load_config(f"{CONFIG}:{settings.variant(stage)}")
    return open_source(config.dataset, split="test")


def evaluate_stage(task: str, checkpoint: pathlib.Path, source, settings: DemoSettings):
    """Six scales, fine stride, flips, greedy merge: ``overfeat evaluate``'s defaults."""
    from overfeat.evaluation.run import InferenceOptions, evaluate
    from overfeat.predict import Predictor

    predictor = Predictor.from_checkpoint(checkpoint)
    count = min(settings.eval_images, len(source))
    with tqdm(total=count, desc=f"evaluate {task}", unit="img", file=sys.stderr) as bar:
        evaluation = evaluate(predictor, source, task, InferenceOptions(), limit=count,
                              progress=bar.update)
    return predictor, evaluation


def _timed(seconds: dict[str, float], name: str, work: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = work()
    seconds[name] = time.perf_counter() - start
    return value


def run_demo(out_dir: str | pathlib.Path = "demo", *, quick: bool = False) -> DemoResult:
    """Train, evaluate and report (see the module docstring); ``OUT/summary.json`` holds the
    metrics and timings."""
    from overfeat import demo_report

    out_dir = pathlib.Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = DemoSettings.make(quick)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    checkpoints = {}
    for number, stage in enumerate(STAGES, 1):
        print(f"overfeat demo: [{number}/6] training the {stage} job in {out_dir / stage}",
              file=sys.stderr, flush=True)
        checkpoints[stage] = _timed(seconds, f"train {stage}",
                                    lambda stage=stage: train_stage(stage, out_dir, settings))
    evaluations, predictors, sources = {}, {}, {}
    for number, (task, stage) in enumerate(EVALUATIONS, 4):
        print(f"overfeat demo: [{number}/6] {task} on held-out images", file=sys.stderr,
              flush=True)
        sources[task] = held_out_source(stage, settings)
        predictors[task], evaluations[task] = _timed(
            seconds, f"evaluate {task}",
            lambda task=task, stage=stage: evaluate_stage(
                task, checkpoints[stage], sources[task], settings))
    print("overfeat demo: writing the report", file=sys.stderr, flush=True)
    metrics = {task: evaluation.metrics for task, evaluation in evaluations.items()}
    seconds["total before report"] = time.perf_counter() - start
    report = _timed(seconds, "report", lambda: demo_report.write_report(
        out_dir, settings=settings, evaluations=evaluations, predictors=predictors,
        sources=sources, workdirs={stage: out_dir / stage for stage in STAGES},
        seconds=seconds))
    seconds["total"] = time.perf_counter() - start
    result = DemoResult(out_dir, report, metrics, seconds, checkpoints)
    (out_dir / "summary.json").write_text(json.dumps({
        "quick": quick,
        "metrics": metrics,
        "seconds": {key: round(value, 1) for key, value in seconds.items()},
        "checkpoints": {key: str(value) for key, value in checkpoints.items()},
        "report": str(report),
    }, indent=2) + "\n")
    return result


def headline(result: DemoResult) -> str:
    """The lines ``overfeat demo`` ends with."""
    metrics = result.metrics
    lines = [
        f"report: {result.report}",
        f"held-out images: classification top-1 error "
        f"{metrics['classify']['top1_error']:.3f}, localization top-5 error "
        f"{metrics['localize']['top5_error']:.3f}, detection mAP {metrics['detect']['mAP']:.3f}",
        f"time: {result.seconds['total']:.0f} s; try: overfeat detect IMAGE --checkpoint "
        f"{result.checkpoints['detect']}",
    ]
    return "\n".join(lines)

