"""``overfeat evaluate``: a checkpoint's ILSVRC metrics on a dataset split (paper section 2).

Runs the multi-scale inference of ``overfeat classify|localize|detect`` over every example of
the split (or the first ``--limit``) and writes to ``--out``:

- ``metrics.json``: what was evaluated, the inference options and the metrics;
- ``metrics.md``: the same as a markdown table;
- the ILSVRC submission file: ``classification.txt``, ``localization.txt`` or
  ``detection.txt`` (class ids are our label + 1, image indices the example index + 1).

Classification: top-1/top-5 error; localization: top-1/top-5 error (a guess needs the right
class and IoU >= 0.5); detection: ILSVRC's AP per class and mAP. The checkpoint's classes must
be the dataset's in the same order (a detector's background class, its last, aside).
"""

from __future__ import annotations

import argparse

from tqdm import tqdm

from overfeat.cli import UserError
from overfeat.commands.prediction import parse_scales
from overfeat.data import object_crops
from overfeat.data.sources import open_source, parse_name
from overfeat.evaluation.run import TASKS, InferenceOptions, evaluate, write_outputs
from overfeat.predict import DEFAULT_BATCH_SIZE, Predictor
from overfeat.scales import ALL_SCALES, DEFAULT_ASPECT_BUCKETS

MERGE_THRESHOLD_NAMES = {"greedy": "threshold", "nms": "iou_threshold", "nmm": "match_threshold"}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="ILSVRC metrics of a checkpoint on a dataset split",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", choices=TASKS, required=True)
    parser.add_argument("--checkpoint", metavar="DIR", required=True,
                        help="a checkpoint directory (weights.save_model, overfeat train)")
    parser.add_argument("--data", metavar="NAME[:SPLIT]", required=True,
                        help="synthetic/classify|localize|detect[?options] or a prepared TFDS "
                             "dataset; split default validation")
    parser.add_argument("--data-dir", metavar="DIR", help="TFDS data directory")
    parser.add_argument("--out", metavar="DIR", required=True, help="where the files go")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N examples")
    parser.add_argument("--scales", type=parse_scales, default=ALL_SCALES,
                        help="scales of Table 5: 1-6 (default), 1,2,4,6, 2, ...")
    parser.add_argument("--stride", choices=("fine", "coarse"), default="fine")
    parser.add_argument("--no-flips", dest="flips", action="store_false",
                        help="skip the horizontally mirrored pass")
    parser.add_argument("--top", type=int, default=5, metavar="K",
                        help="localize/detect: classes per scale whose boxes are merged (5)")
    parser.add_argument("--merge", choices=("greedy", "nms", "nmm"), default="greedy",
                        help="greedy: the paper's accumulator (default); nms; nmm")
    parser.add_argument("--merge-threshold", type=float, metavar="T",
                        help="greedy: match_score threshold t (0.5); nms: IoU (0.5); nmm: overlap")
    parser.add_argument("--min-confidence", type=float, metavar="C",
                        help="cells below this confidence give no box (localize 0, detect 0.01)")
    parser.add_argument("--score-threshold", type=float, default=0.0, metavar="S",
                        help="merged boxes scoring below S are dropped (0: AP gains nothing "
                             "from dropping boxes)")
    parser.add_argument("--max-boxes", type=int, metavar="N",
                        help="boxes kept per image (localize 5, detect 100)")
    parser.add_argument("--rule", choices=("nearest", "table5"), default="nearest")
    parser.add_argument("--exact-aspect", action="store_true",
                        help="keep each image's aspect (one compiled program per new shape)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def inference_options(args: argparse.Namespace) -> InferenceOptions:
    if args.scales == "center":
        raise UserError("evaluate runs on scales 1..6; --scales center is for overfeat classify")
    params = {}
    if args.merge_threshold is not None:
        params[MERGE_THRESHOLD_NAMES[args.merge]] = args.merge_threshold
    return InferenceOptions(
        scales=args.scales, stride=args.stride, flips=args.flips, top_k=args.top,
        merge=args.merge, merge_params=params, min_confidence=args.min_confidence,
        score_threshold=args.score_threshold, max_boxes=args.max_boxes,
    )


def run(args) -> int:
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    options = inference_options(args)
    name, split = parse_name(args.data, default_split="validation")
    source = object_crops.for_task(open_source(name, split, args.data_dir), args.task)
    predictor = Predictor.from_checkpoint(
        args.checkpoint,
        rule=args.rule,
        aspect_buckets=None if args.exact_aspect else DEFAULT_ASPECT_BUCKETS,
        batch_size=args.batch_size,
    )
    if isinstance(source, object_crops.ObjectCrops):
        print(f"{name}:{split} has no image labels; {args.task} evaluates its objects as crops "
              f"({source})")
    total = len(source) if args.limit is None else min(args.limit, len(source))
    with tqdm(total=total, unit="image", desc=f"{args.task} {name}:{split}",
              disable=args.quiet) as bar:
        evaluation = evaluate(predictor, source, args.task, options, limit=args.limit,
                              progress=bar.update)
    description = {"checkpoint": str(args.checkpoint), "data": name, "split": split,
                   "num_examples": total}
    paths = write_outputs(evaluation, args.out, description)
    for key, value in evaluation.metrics.items():
        if not key.startswith("AP/"):
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    print(f"wrote {', '.join(str(path) for path in paths.values())}")
    return 0
