"""What ``overfeat classify``, ``localize`` and ``detect`` share (not a sub-command): their
options, running the ``Predictor`` over the images in batches, and writing the results as
text, JSON and pictures."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from overfeat import draw
from overfeat.cli import UserError
from overfeat.commands.model_source import add_model_arguments, load_predictor
from overfeat.images import load_image
from overfeat.predict import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DUPLICATE_IOU,
    DEFAULT_SCORE_THRESHOLD,
    to_json,
)
from overfeat.scales import ALL_SCALES, DEFAULT_ASPECT_BUCKETS

TASKS = ("classify", "localize", "detect")
# Per task: boxes kept (printed, drawn, written) unless --max-boxes says otherwise.
DEFAULT_MAX_BOXES = {"localize": 5, "detect": 100}
MIN_DRAWN_SIDE = 384  # --draw enlarges smaller images to this longer side


def parse_scales(text: str):
    """``"1-6"``, ``"1,2,4,6"``, ``"2"``, ``"1-3,6"`` -> a tuple of scales; ``"center"`` kept."""
    if text == "center":
        return text
    chosen: list[int] = []
    try:
        for part in text.split(","):
            low, dash, high = part.partition("-")
            chosen += range(int(low), int(high if dash else low) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give scales as 1-6, 1,2,4,6 or center"
        ) from None
    if not chosen or any(s not in ALL_SCALES for s in chosen) or len(set(chosen)) < len(chosen):
        raise argparse.ArgumentTypeError(f"{text!r}: scales are distinct numbers in 1..6")
    return tuple(sorted(chosen))


def add_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG, PNG or PPM files")
    add_model_arguments(parser)
    scales_help = "scales of Table 5: 1-6 (default), 1,2,4,6, 2, ..."
    if task == "classify":
        scales_help += "; center: the original release's single central view"
    parser.add_argument("--scales", type=parse_scales, default=ALL_SCALES, help=scales_help)
    parser.add_argument("--stride", choices=("fine", "coarse"), default="fine",
                        help="output stride: fine (every offset of the last pool, default) or "
                             "coarse")
    parser.add_argument("--no-flips", dest="flips", action="store_false",
                        help="skip the horizontally mirrored pass")
    if task == "classify":
        parser.add_argument("--top", type=int, default=5, help="classes to report (5)")
    else:
        parser.add_argument("--top", type=int, default=5,
                            help="classes per scale whose boxes are merged (the paper's k; 5)")
        parser.add_argument("--merge", choices=("greedy", "nms", "nmm"), default="greedy",
                            help="greedy: the paper's accumulator (default); nms; nmm")
        parser.add_argument("--merge-threshold", type=float, metavar="T",
                            help="greedy: match_score threshold t (0.5); nms: IoU (0.5); "
                                 "nmm: overlap (0.5)")
        parser.add_argument("--distance-weight", type=float, metavar="W",
                            help="greedy: weight of the centre distance in match_score (1)")
        parser.add_argument("--min-confidence", type=float, metavar="C",
                            help="cells below this confidence give no box "
                                 f"({'0' if task == 'localize' else '0.01'})")
        parser.add_argument("--max-boxes", type=int, default=DEFAULT_MAX_BOXES[task],
                            metavar="N", help=f"boxes kept per image ({DEFAULT_MAX_BOXES[task]})")
        if task == "detect":
            parser.add_argument("--score-threshold", type=float,
                                default=DEFAULT_SCORE_THRESHOLD, metavar="S",
                                help="merged boxes whose score (in [0, 1]) is below S are "
                                     f"dropped ({DEFAULT_SCORE_THRESHOLD})")
            parser.add_argument("--duplicate-iou", type=float,
                                default=DEFAULT_DUPLICATE_IOU, metavar="U",
                                help="a merged box overlapping a better one of its class by "
                                     f"IoU > U is dropped ({DEFAULT_DUPLICATE_IOU}; 1 keeps "
                                     "every box)")
    parser.add_argument("--rule", choices=("nearest", "table5"), default="nearest",
                        help="how each scale's size is chosen (overfeat.scales; default nearest)")
    parser.add_argument("--exact-aspect", action="store_true",
                        help="keep each image's aspect instead of snapping it to a few buckets "
                             "(one compiled program per new shape)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                        help=f"images run together ({DEFAULT_BATCH_SIZE})")
    parser.add_argument("--json", metavar="OUT", help="write the results to OUT as JSON")
    parser.add_argument("--draw", metavar="DIR",
                        help="write DIR/<image name>.png with the result drawn")
    parser.add_argument("--heatmaps", action="store_true",
                        help="with --draw: also <name>_heatmaps.png, the best class's "
                             "probability map at every scale and flip")
    if task != "classify":
        parser.add_argument("--per-scale", action="store_true",
                            help="with --draw: also <name>_scales.png, the boxes of every scale "
                                 "before merging and the merged ones")


def _picture_stems(images: list[str]) -> dict[str, str]:
    stems = {image: Path(image).stem for image in images}
    values = list(stems.values())
    clashes = sorted({stem for stem in values if values.count(stem) > 1})
    if clashes:
        raise UserError(f"several images are named {', '.join(clashes)}; their pictures would "
                        "overwrite each other: draw them in separate runs")
    return stems


def _task_options(args: argparse.Namespace, task: str) -> dict:
    options = dict(scales=args.scales, stride=args.stride, flips=args.flips)
    if task == "classify":
        return options | dict(top=args.top, return_maps=args.heatmaps)
    if args.scales == "center":
        raise UserError(f"{task} runs on scales 1..6; the central view is for classify")
    params = {}
    if args.merge_threshold is not None:
        name = {"greedy": "threshold", "nms": "iou_threshold", "nmm": "match_threshold"}
        params[name[args.merge]] = args.merge_threshold
    if args.distance_weight is not None:
        if args.merge != "greedy":
            raise UserError("--distance-weight is an option of --merge greedy")
        params["distance_weight"] = args.distance_weight
    options |= dict(top_k=args.top, merge=args.merge, merge_params=params,
                    max_boxes=args.max_boxes, return_maps=args.heatmaps or args.per_scale)
    if args.min_confidence is not None:
        options["min_confidence"] = args.min_confidence
    if task == "detect":
        options["score_threshold"] = args.score_threshold
        options["duplicate_iou"] = None if args.duplicate_iou >= 1 else args.duplicate_iou
    return options


def _print(task: str, image: str, size, result) -> None:
    names = result["class_names"]
    if task == "classify":
        print(image)
    else:
        print(f"{image} ({size[0]}x{size[1]}): {len(result['labels'])} boxes")
    for rank, (label, score) in enumerate(zip(result["labels"], result["scores"], strict=True)):
        name = names[rank] if names is not None else f"class {label}"
        line = f"  {rank + 1}. {score:.4f}  {name}"
        if task != "classify":
            line += "  [" + ", ".join(f"{v:.1f}" for v in result["boxes"][rank]) + "]"
        print(line)


def _draw(task: str, args, directory: Path, stem: str, image, result, class_names) -> None:
    if task == "classify":
        picture = draw.draw_classification(image, result["labels"], result["scores"],
                                           class_names=class_names)
    else:
        # The picture shows at most 10 of the boxes above --score-threshold (all of them a
        # list may hold), on the image enlarged to be readable when it is small.
        boxes, labels, scores = (draw.confident(result, args.score_threshold, most=10)
                                 if task == "detect" else
                                 (result["boxes"], result["labels"], result["scores"]))
        base = draw.as_pil(image)
        base, factor = draw.fit(base, max(max(base.size), MIN_DRAWN_SIDE))
        picture = draw.draw_boxes(base, boxes, labels, scores, class_names=class_names,
                                  factor=factor)
    picture.save(directory / f"{stem}.png")
    if args.heatmaps:
        best = int(result["labels"][0]) if len(result["labels"]) else None
        if best is not None:
            draw.heatmap_figure(image, result["maps"], best, class_names=class_names).save(
                directory / f"{stem}_heatmaps.png")
    if task != "classify" and args.per_scale:
        draw.scales_figure(image, result, class_names=class_names).save(
            directory / f"{stem}_scales.png")


def _say_no_regressor(predictor) -> None:
    """One line on stderr: the boxes are windows, not regressed (the sliding-window flow)."""
    index = predictor.background_index
    if index is None:  # the predictor refuses it, naming why
        return
    name = predictor.class_names[index] if predictor.class_names else f"class {index}"
    print(f"note: no box regressor in this model: each box is a merge of the windows of "
          f"confident cells ({name!r} is the background)", file=sys.stderr)


def run(args: argparse.Namespace, task: str) -> int:
    wants_pictures = args.heatmaps or getattr(args, "per_scale", False)
    if wants_pictures and args.draw is None:
        raise UserError("--heatmaps and --per-scale write pictures: give --draw DIR")
    if args.heatmaps and args.scales == "center":
        raise UserError("--heatmaps needs scales 1..6 (the central view has one cell)")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    options = _task_options(args, task)
    stems = _picture_stems(args.images) if args.draw is not None else {}
    predictor = load_predictor(
        args,
        rule=args.rule,
        aspect_buckets=None if args.exact_aspect else DEFAULT_ASPECT_BUCKETS,
        batch_size=args.batch_size,
    )
    method = getattr(predictor, task)
    if task != "classify" and predictor.model.regressor is None:
        _say_no_regressor(predictor)
    directory = None
    if args.draw is not None:
        directory = Path(args.draw)
        directory.mkdir(parents=True, exist_ok=True)
    records = []
    for start in range(0, len(args.images), args.batch_size):
        paths = args.images[start : start + args.batch_size]
        arrays = [load_image(path) for path in paths]  # a bad file names itself
        for path, array, result in zip(paths, arrays, method(arrays, **options), strict=True):
            _print(task, path, array.shape[:2], result)
            records.append({"image": path, "height": array.shape[0], "width": array.shape[1],
                            **to_json(result)})
            if directory is not None:
                _draw(task, args, directory, stems[path], array, result, predictor.class_names)
    if args.json is not None:
        document = {
            "task": task,
            "model": args.checkpoint or os.fspath(args.weights),
            "options": {name: (list(value) if isinstance(value, tuple) else value)
                        for name, value in options.items() if name != "return_maps"},
            "images": records,
        }
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return 0
