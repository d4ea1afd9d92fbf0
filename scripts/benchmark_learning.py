"""Held-out metrics against CPU seconds: the demo (quick, full), the own-data walk-through.

What the small nets learn and what it costs, with each detector's output quality (issue 13,
point 6).

    python scripts/benchmark_learning.py                        # all: budgets 2+10+10 min, 2 cores
    python scripts/benchmark_learning.py --only quick,own --out runs/learning
    python scripts/benchmark_learning.py --only own --count 40 --own-steps 3 \\
        --own-config batch_size=8 --own-config eval_batches=1 --own-eval-limit 4   # seconds

Runs (``--only``, any of them, in this order):

- ``quick``, ``full``: ``overfeat.demo.run_demo(OUT/quick|full, quick=...)``, the code of
  ``overfeat demo [--quick]``: its held-out metrics (classification top-1 error, localization
  top-5 error, detection mAP) and its wall seconds per stage (its report's included).
- ``own``: the README's walk-through ("From a folder to `overfeat detect`") on a COCO folder
  exported from ``--source`` (default: 256x256 images with 1-4 objects of 11-50% of the side,
  like photos with small objects): ``overfeat data export``, ``data prepare coco-folder``
  (into a TFDS data directory under OUT, so that nothing lands in ~/tensorflow_datasets),
  ``train --config configs/custom.py:dataset=NAME,task=T`` for classify, localize, detect
  (each from the one before) and ``evaluate --task detect`` on the prepared val split.

Every step runs in this process (``overfeat.cli.main``, ``run_demo``), so its CPU seconds are
measured; one process also means JAX starts once and not once per command, as separate
``overfeat`` commands would. Then, for each run's detector, the output quality at
``overfeat.predict.DEFAULT_SCORE_THRESHOLD`` (``overfeat.evaluation.output_quality``): false
boxes per empty image (noise, flat colours, gradients, crops of a photograph, at the held-out
images' size), the duplicate rate and the objects found, on the held-out images the metrics
were measured on.
A table goes to stdout, then, last, one JSON object with every figure; the commands' own
output goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import resource
import sys
import tempfile
import time

import jax

import overfeat  # noqa: F401  (CPU XLA flags before the backend starts)
from overfeat import cli, demo
from overfeat.data.sources import open_source
from overfeat.evaluation.output_quality import empty_images, output_quality
from overfeat.predict import DEFAULT_SCORE_THRESHOLD, Predictor

REPO = pathlib.Path(__file__).resolve().parents[1]
RUNS = ("quick", "full", "own")
# Photos with small objects: 256 px, 1-4 objects of 28-128 px (11-50% of the side), the
# demo's clutter and rotation.
OWN_SOURCE = ("synthetic/detect?size=256&min_scale=0.11&max_scale=0.5&objects=4&clutter=0.25"
              "&rotation=15")
OWN_NAME = "benchmark_photos"  # the prepared dataset, in OUT/own/tensorflow_datasets
TASKS = ("classify", "localize", "detect")  # each trains from the one before


def cpu_seconds() -> float:
    """CPU seconds this process has used, every thread of it (``time.process_time`` counts
    XLA's compute threads, which run in-process), plus those of its finished child processes
    (grain's input workers, where a config asks for them)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@contextlib.contextmanager
def measured(record: dict):
    """Adds ``wall_s`` and ``cpu_s`` of the block to ``record``. The block's stdout goes to
    stderr: stdout is the table and the JSON."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    with contextlib.redirect_stdout(sys.stderr):
        yield record
    record["wall_s"] = time.perf_counter() - wall
    record["cpu_s"] = cpu_seconds() - cpu


def overfeat_command(*argv: str) -> None:
    """``overfeat ARGV`` in this process; a failure stops the benchmark."""
    status = cli.main(list(argv))
    if status != 0:
        raise RuntimeError(f"overfeat {' '.join(argv)} exited with status {status}")


def detector_quality(checkpoint: pathlib.Path, source, count: int) -> dict:
    """``output_quality`` of the detector at the default threshold on ``source``'s first
    ``count`` examples, the empty images at their size."""
    examples = [source[index] for index in range(min(count, len(source)))]
    record = {}
    with measured(record):
        predictor = Predictor.from_checkpoint(checkpoint)
        size = examples[0]["image"].shape[:2]
        record |= output_quality(predictor, examples, DEFAULT_SCORE_THRESHOLD,
                                 empty=empty_images(size=size))
    return record


def measure_demo(out: pathlib.Path, quick: bool) -> dict:
    """``overfeat demo [--quick]`` in ``out``: metrics, wall seconds per stage, CPU seconds,
    and its detector's output quality on the held-out images it was evaluated on."""
    record = {}
    with measured(record):
        result = demo.run_demo(out, quick=quick)
    settings = demo.DemoSettings.make(quick)
    record |= {
        "metrics": result.metrics,
        "stage_seconds": result.seconds,
        "checkpoint": str(result.checkpoints["detect"]),
        "quality": detector_quality(result.checkpoints["detect"],
                                    demo.held_out_source("detect", settings),
                                    settings.eval_images),
    }
    return record


def measure_own_data(out: pathlib.Path, source: str, count: int, overrides: list[str],
                     eval_limit: int | None) -> dict:
    """The README's walk-through on ``count`` images of ``source``, in ``out``."""
    # prepare writes there and the custom config and evaluate read from there (os.environ is
    # what overfeat.data.tfds_sources reads, at each call).
    os.environ["TFDS_DATA_DIR"] = str(out / "tensorflow_datasets")
    steps: dict[str, dict] = {}
    record = {"source": source, "count": count, "overrides": overrides, "steps": steps}
    with measured(record):
        with measured(steps.setdefault("export", {})):
            overfeat_command("data", "export", source, "--count", str(count),
                             "--out", str(out / "photos"))
        with measured(steps.setdefault("prepare", {})):
            overfeat_command("data", "prepare", "coco-folder", "--images",
                             str(out / "photos" / "images"), "--annotations",
                             str(out / "photos" / "annotations.json"), "--name", OWN_NAME)
        for previous, task in zip((None, *TASKS), TASKS, strict=False):
            # configs/custom.py starts from runs/NAME/<previous task>, relative to the working
            # directory: name the previous workdir instead.
            start = [f"--config.model.init_from={out / previous}"] if previous else []
            with measured(steps.setdefault(f"train {task}", {})):
                overfeat_command("train", "--config",
                                 f"{REPO / 'configs' / 'custom.py'}:dataset={OWN_NAME},task={task}",
                                 "--workdir", str(out / task), *start, *overrides)
        limit = ["--limit", str(eval_limit)] if eval_limit else []
        with measured(steps.setdefault("evaluate detect", {})):
            overfeat_command("evaluate", "--task", "detect", "--checkpoint",
                             str(out / "detect" / "model"), "--data", f"{OWN_NAME}:val",
                             "--out", str(out / "eval"), "--quiet", *limit)
    written = json.loads((out / "eval" / "metrics.json").read_text())
    record |= {
        "metrics": {"detect": written["metrics"]},
        "checkpoint": str(out / "detect" / "model"),
        "quality": detector_quality(out / "detect" / "model",
                                    open_source(OWN_NAME, "val"),
                                    written["metrics"]["num_images"]),
    }
    return record


def figure(record: dict, task: str, key: str) -> str:
    value = record["metrics"].get(task, {}).get(key)
    return "-" if value is None else f"{value:.3f}"


def print_table(runs: dict[str, dict]) -> None:
    print(f"held-out metrics; output quality at score threshold {DEFAULT_SCORE_THRESHOLD} "
          "(false boxes per empty image, duplicate rate, objects found); seconds of the run "
          "(output quality not included)")
    header = (f"{'run':<6} {'cls top-1':>9} {'loc top-5':>9} {'det mAP':>8} {'false/empty':>11} "
              f"{'duplicates':>10} {'recall':>7} {'wall s':>8} {'CPU s':>8}")
    print(header)
    for name, record in runs.items():
        quality = record["quality"]
        print(f"{name:<6} {figure(record, 'classify', 'top1_error'):>9} "
              f"{figure(record, 'localize', 'top5_error'):>9} "
              f"{figure(record, 'detect', 'mAP'):>8} "
              f"{quality['false_boxes_per_empty_image']['overall']:>11.2f} "
              f"{quality['duplicates']['rate']:>10.3f} {quality['objects']['recall']:>7.3f} "
              f"{record['wall_s']:>8.0f} {record['cpu_s']:>8.0f}")
        for step, seconds in {**record.get("stage_seconds", {}), **record.get("steps", {})}.items():
            wall = seconds["wall_s"] if isinstance(seconds, dict) else seconds
            cpu = f"{seconds['cpu_s']:>8.0f}" if isinstance(seconds, dict) else f"{'-':>8}"
            print(f"{'':<7}{step:<59} {wall:>8.0f} {cpu}")


def parse_runs(text: str) -> list[str]:
    runs = [name for name in text.split(",") if name]
    unknown = set(runs) - set(RUNS)
    if unknown or not runs:
        raise argparse.ArgumentTypeError(f"--only: a comma-separated subset of {','.join(RUNS)}")
    return [name for name in RUNS if name in runs]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path,
                        help="where the runs go (default: a new temporary folder, kept)")
    parser.add_argument("--only", type=parse_runs, default=list(RUNS),
                        help=f"runs, comma-separated: {','.join(RUNS)} (default all)")
    parser.add_argument("--source", default=OWN_SOURCE,
                        help=f"own: the synthetic dataset exported as photos ({OWN_SOURCE})")
    parser.add_argument("--count", type=int, default=2000, help="own: images exported (2000)")
    parser.add_argument("--own-steps", type=int, metavar="N",
                        help="own: at most N steps per training job (default: the config's)")
    parser.add_argument("--own-config", action="append", default=[], metavar="KEY=VALUE",
                        help="own: a --config.KEY=VALUE override of every training job "
                             "(repeatable), e.g. batch_size=8")
    parser.add_argument("--own-eval-limit", type=int, metavar="N",
                        help="own: evaluate the first N val images (default all)")
    args = parser.parse_args(argv)

    out = args.out or pathlib.Path(tempfile.mkdtemp(prefix="benchmark_learning_"))
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    overrides = [f"--config.{item}" for item in args.own_config]
    if args.own_steps:
        overrides.append(f"--config.num_train_steps={args.own_steps}")
    print(f"runs in {out}", file=sys.stderr)
    runs = {}
    for name in args.only:
        if name == "own":
            runs[name] = measure_own_data(out / "own", args.source, args.count, overrides,
                                 args.own_eval_limit)
        else:
            runs[name] = measure_demo(out / name, quick=name == "quick")
    print_table(runs)
    print(json.dumps({
        "benchmark": "learning",
        "backend": jax.default_backend(),
        "cpus": os.cpu_count(),
        "score_threshold": DEFAULT_SCORE_THRESHOLD,
        "out": str(out),
        "runs": runs,
    }))


if __name__ == "__main__":
    main()
