"""The paper's experiments in miniature: synthetic shapes, a small network (``fast_small`` in
``configs/synthetic.py``), several seeds, side by side (Table 2, Fig. 9, greedy accumulator vs
NMS).

    python scripts/reproduce_paper.py --out runs/paper --seeds 3 --quick   # minutes
    python scripts/reproduce_paper.py --out runs/paper --seeds 3           # full budgets

Per seed it trains, through ``overfeat train --config configs/synthetic.py:VARIANT``, the
classifier, a shared and a per-class box regressor on it, and the detector on the shared one
(``overfeat.evaluation.experiments.training_jobs``), then evaluates them on the validation
split with ``overfeat.evaluation.run.evaluate`` (what ``overfeat evaluate`` runs). It writes
``OUT/results.jsonl`` (one record per evaluation; a rerun skips what is there and training
jobs already exported), ``OUT/report.md`` and the PNG plots. The last line printed is one JSON
object: the report's path, the records and the seconds spent.

``--report-only`` rewrites the report from ``results.jsonl`` without training or evaluating.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from overfeat.data.sources import open_source
from overfeat.evaluation.experiments import (
    CONFIG,
    append_record,
    evaluations,
    read_records,
    training_jobs,
    write_report,
)
from overfeat.evaluation.run import InferenceOptions, evaluate
from overfeat.predict import Predictor
from overfeat.train.config import load_config

REPO = Path(__file__).resolve().parents[1]
QUICK_IMAGES, FULL_IMAGES = 60, 1000  # validation images per evaluation


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/paper"))
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (3)")
    parser.add_argument("--only", type=int, nargs="+", metavar="SEED",
                        help="train and evaluate only these of the seeds (e.g. one seed per "
                             "process); the report still covers 0..N-1")
    parser.add_argument("--quick", action="store_true",
                        help="the configs' quick budgets and 60 validation images")
    parser.add_argument("--images", type=int,
                        help=f"validation images per evaluation ({QUICK_IMAGES} quick, "
                             f"{FULL_IMAGES} full)")
    parser.add_argument("--config", default=CONFIG, help="the training config file")
    parser.add_argument("--train-steps", type=int,
                        help="override every job's step count (smoke tests; not a result)")
    parser.add_argument("--report-only", action="store_true")
    return parser.parse_args(argv)


def train(job, seed: int, seed_dir: Path, args) -> Path:
    """Run one training job unless its model is exported already; its exported model."""
    model = seed_dir / job.name / "model"
    if (model / "overfeat.json").exists():
        return model
    extra = [] if args.train_steps is None else [f"--config.num_train_steps={args.train_steps}"]
    command = [sys.executable, "-m", "overfeat.cli",
               *job.command(seed, seed_dir, args.quick, args.config, extra)]
    print("$ " + " ".join(command[1:]), flush=True)
    completed = subprocess.run(command, cwd=REPO)
    if completed.returncode != 0:
        raise SystemExit(f"training job {job.name} (seed {seed}) failed with status "
                         f"{completed.returncode}")
    if not (model / "overfeat.json").exists():
        raise SystemExit(f"training job {job.name} exported no model at {model}")
    return model


def dataset_of(workdir: Path) -> str:
    """The dataset a training job used (its ``config.json``)."""
    config = json.loads((workdir / "config.json").read_text())
    return config["dataset"]


def run_seed(seed: int, args, done: set, results: Path, images: int) -> None:
    seed_dir = args.out / f"seed{seed}"
    models = {job.name: train(job, seed, seed_dir, args)
              for job in training_jobs()}
    predictors: dict[str, Predictor] = {}
    for spec in evaluations():
        if spec.key(seed) in done:
            continue
        if spec.job not in predictors:
            predictors[spec.job] = Predictor.from_checkpoint(models[spec.job])
        source = open_source(dataset_of(seed_dir / spec.job), "validation")
        start = time.perf_counter()
        evaluation = evaluate(predictors[spec.job], source, spec.task,
                              InferenceOptions(**spec.options), limit=images)
        record = {"experiment": spec.experiment, "row": spec.row, "seed": seed,
                  "setting": {"job": spec.job, "task": spec.task,
                              **evaluation.options.to_json()},
                  "metrics": evaluation.metrics,
                  "seconds": round(time.perf_counter() - start, 2)}
        append_record(results, record)
        done.add(spec.key(seed))
        shown = {k: round(v, 4) for k, v in evaluation.metrics.items()
                 if k in ("top1_error", "top5_error", "mAP")}
        print(f"seed {seed} {spec.experiment} / {spec.row}: {shown} "
              f"({record['seconds']} s)", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    images = args.images or (QUICK_IMAGES if args.quick else FULL_IMAGES)
    start = time.perf_counter()
    if not args.report_only:
        done = {(r["experiment"], r["row"], r["seed"]) for r in read_records(results)}
        for seed in args.only if args.only is not None else range(args.seeds):
            run_seed(seed, args, done, results, images)
    records = [r for r in read_records(results) if r["seed"] < args.seeds]
    arch = load_config(f"{args.config}:classify").arch
    header = (f"`python scripts/reproduce_paper.py --seeds {args.seeds}"
              f"{' --quick' if args.quick else ''}`: the `{arch}` network, {images} validation "
              f"images per evaluation, training budgets of `{args.config}`"
              f"{' (quick variants)' if args.quick else ''}.")
    report = write_report(records, args.out, header=header)
    print(report.read_text())
    print(json.dumps({"report": str(report), "records": len(records),
                      "seconds": round(time.perf_counter() - start, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
