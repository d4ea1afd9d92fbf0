"""``overfeat data prepare|show|stats|export``: build datasets, look at them, write them out.

``show NAME[:split] [--count N] --out DIR`` draws examples with their boxes and class names
into PNGs (``--train-view TASK`` shows them as a training pipeline crops and flips them);
``stats NAME[:split]`` prints counts, the class histogram, the box-size histogram and how many
images have no object. ``prepare NAME --manual-dir DIR`` builds a real dataset from downloaded
archives (or your own folders) as array_record, read by training and evaluation without
TensorFlow; its logic lives in ``overfeat.data.prepare``. ``export NAME[:split] --count N
--out DIR`` writes examples as a COCO-format folder (``overfeat.data.export_coco``).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from overfeat.architectures import ARCHITECTURES
from overfeat.data import pipelines
from overfeat.data.prepare import add_prepare_arguments, run_prepare
from overfeat.data.sources import open_source, parse_name

# Box side (sqrt of area) as a fraction of the image's shorter side: histogram bin edges.
BOX_SIZE_BINS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0001)
PALETTE = ((255, 64, 64), (64, 200, 255), (255, 220, 0), (80, 255, 120), (255, 120, 255),
           (255, 160, 40), (160, 120, 255), (0, 255, 220), (255, 255, 255), (180, 255, 60))


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="datasets: prepare, show, stats, export",
                                   description=__doc__)
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    _add_show(commands)
    _add_stats(commands)
    _add_prepare(commands)
    _add_export(commands)


def _add_prepare(commands) -> None:
    parser = commands.add_parser(
        "prepare",
        help="build a dataset (ImageNet, ILSVRC boxes, VOC, COCO, your folders) as array_record",
        description="Builds a dataset from the archives in --manual-dir (nothing is "
        "downloaded) into TFDS's array_record format, read by training and evaluation without "
        "TensorFlow. `overfeat data prepare NAME --help` lists the files NAME needs.",
    )
    add_prepare_arguments(parser)
    parser.set_defaults(data_run=run_prepare)


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME[:split]",
                        help="synthetic/classify|localize|detect[?options] or a prepared TFDS "
                             "dataset (imagenet2012, voc/2007, ...); split defaults to train")
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")


def _add_show(commands) -> None:
    parser = commands.add_parser("show", help="draw examples with their boxes into PNGs")
    _add_dataset_arguments(parser)
    parser.add_argument("--count", type=int, default=16, help="examples to draw (16)")
    parser.add_argument("--start", type=int, default=0, help="first example index (0)")
    parser.add_argument("--out", required=True, help="directory for the PNGs")
    parser.add_argument("--zoom", type=int, default=0,
                        help="enlarge by this factor (default: small images to >= 256 px)")
    parser.add_argument("--train-view", choices=pipelines.TASKS, default=None,
                        help="show the examples as this task's training pipeline sees them")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="accurate_small",
                        help="architecture whose sizes --train-view uses")
    parser.set_defaults(data_run=run_show)


def _add_stats(commands) -> None:
    parser = commands.add_parser("stats", help="counts and histograms of a dataset split")
    _add_dataset_arguments(parser)
    parser.add_argument("--limit", type=int, default=None,
                        help="look at the first N examples only (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(data_run=run_stats)


def _add_export(commands) -> None:
    parser = commands.add_parser(
        "export", help="write examples as a COCO-format folder (images/ + annotations.json)",
        description="Writes examples of a dataset as JPEGs and one COCO-format JSON, the "
        "folder `overfeat data prepare coco-folder` reads: e.g. synthetic shapes to try the "
        "custom-data walk-through without photos of your own.")
    _add_dataset_arguments(parser)
    parser.add_argument("--count", type=int, required=True, help="examples to write")
    parser.add_argument("--start", type=int, default=0, help="first example index (0)")
    parser.add_argument("--out", required=True, help="the folder to write")
    parser.set_defaults(data_run=run_export)


def run(args) -> int:
    return args.data_run(args)


def run_export(args) -> int:
    from overfeat.data.export_coco import export_coco_folder

    source, name, split = _open(args)
    written = export_coco_folder(source, args.out, count=args.count, start=args.start)
    print(f"{name}:{split}: {written['images']} images, {written['objects']} objects of "
          f"{written['classes']} classes")
    print(f"images: {written['images_dir']}\nannotations: {written['annotations']}")
    return 0


def _open(args):
    name, split = parse_name(args.name)
    return open_source(name, split=split, data_dir=args.data_dir), name, split


def class_name(source, label: int) -> str:
    names = getattr(source, "class_names", None)
    return names[label] if names is not None and 0 <= label < len(names) else str(label)


def draw_example(example: dict, names, zoom: int = 1) -> Image.Image:
    """The example's image (enlarged ``zoom`` times) with its boxes and class names."""
    image = Image.fromarray(example["image"])
    if zoom > 1:
        image = image.resize((image.width * zoom, image.height * zoom), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    boxes = np.asarray(example.get("boxes", np.zeros((0, 4))), np.float32).reshape(-1, 4)
    labels = np.asarray(example.get("labels", np.zeros(0)), np.int64)
    for box, label in zip(boxes, labels, strict=True):
        colour = PALETTE[int(label) % len(PALETTE)]
        x0, y0, x1, y1 = (float(v) * zoom for v in box)
        # Pixel-edge box: the outline's last row/column is x1 - 1 in pixel indices.
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=colour, width=1)
        text = names(int(label))
        left, top, right, bottom = draw.textbbox((x0 + 2, y0 + 1), text)
        draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=(0, 0, 0))
        draw.text((x0 + 2, y0 + 1), text, fill=colour)
    if "label" in example:
        text = f"label: {names(int(example['label']))}"
        left, top, right, bottom = draw.textbbox((2, image.height - 12), text)
        draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=(0, 0, 0))
        draw.text((2, image.height - 12), text, fill=(255, 255, 255))
    return image


def run_show(args) -> int:
    source, name, split = _open(args)
    if args.count < 1:
        raise ValueError(f"--count must be >= 1, got {args.count}")
    stop = min(args.start + args.count, len(source))
    if args.start < 0 or args.start >= stop:
        raise ValueError(f"{name}:{split} has {len(source)} examples; nothing at "
                         f"--start {args.start}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    preprocess = None
    if args.train_view:
        sizes = pipelines.input_sizes(args.arch)
        preprocess = pipelines.Preprocess(args.train_view, train=True, sizes=sizes)
    stem = name.replace("/", "_").split("?")[0]
    written = []
    for index in range(args.start, stop):
        example = source[index]
        if preprocess is not None:
            example = preprocess(example, np.random.default_rng([index]))
        zoom = args.zoom or max(1, math.ceil(256 / max(example["image"].shape[:2])))
        path = out / f"{stem}_{split}_{index:06d}.png"
        draw_example(example, lambda label: class_name(source, label), zoom).save(path)
        written.append(path)
    print(f"wrote {len(written)} images of {name}:{split} to {out}")
    return 0


def collect_stats(source, limit: int | None = None) -> dict:
    """Counts, class histograms (images by ``label``, boxes by ``labels``), box sizes
    (sqrt(area) over the image's shorter side, binned by ``BOX_SIZE_BINS``), image sizes."""
    count = len(source) if limit is None else min(limit, len(source))
    image_labels, box_labels = collections.Counter(), collections.Counter()
    sizes, shapes, box_counts = [], collections.Counter(), []
    for index in range(count):
        example = source[index]
        height, width = example["image"].shape[:2]
        shapes[f"{width}x{height}"] += 1
        if "label" in example:
            image_labels[int(example["label"])] += 1
        boxes = np.asarray(example.get("boxes", np.zeros((0, 4))), np.float64).reshape(-1, 4)
        box_counts.append(len(boxes))
        box_labels.update(int(label) for label in example.get("labels", []))
        sides = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        sizes.extend((sides / min(height, width)).tolist())
    histogram, _ = np.histogram(np.clip(sizes, 0, 1), bins=BOX_SIZE_BINS)
    names = getattr(source, "class_names", None)
    return {
        "examples": count,
        "of": len(source),
        "boxes": int(sum(box_counts)),
        "images_without_boxes": int(sum(1 for c in box_counts if c == 0)),
        "most_boxes_in_an_image": int(max(box_counts, default=0)),
        "image_sizes": dict(shapes.most_common(5)),
        "classes": list(names) if names is not None else None,
        "images_per_class": {class_name(source, k): v for k, v in sorted(image_labels.items())},
        "boxes_per_class": {class_name(source, k): v for k, v in sorted(box_labels.items())},
        "box_size_bins": list(BOX_SIZE_BINS[:-1]) + [1.0],
        "box_size_histogram": histogram.tolist(),
    }


def run_stats(args) -> int:
    source, name, split = _open(args)
    stats = collect_stats(source, args.limit)
    if args.json:
        print(json.dumps({"dataset": name, "split": split, **stats}))
        return 0
    print(f"{name}:{split}: {stats['examples']} examples"
          + (f" (first {stats['examples']} of {stats['of']})"
             if stats["examples"] < stats["of"] else ""))
    print(f"  boxes {stats['boxes']}, images without boxes {stats['images_without_boxes']}, "
          f"most boxes in one image {stats['most_boxes_in_an_image']}")
    print("  image sizes  " + ", ".join(f"{k} ({v})" for k, v in stats["image_sizes"].items()))
    for title, key in (("images per class", "images_per_class"),
                       ("boxes per class", "boxes_per_class")):
        if stats[key]:
            print(f"  {title}:")
            _print_bars(stats[key])
    edges = stats["box_size_bins"]
    print("  box size (sqrt(area) / shorter image side):")
    _print_bars({f"{edges[i]:.2f}-{edges[i + 1]:.2f}": value
                 for i, value in enumerate(stats["box_size_histogram"])})
    return 0


def _print_bars(counts: dict) -> None:
    top = max(counts.values(), default=0) or 1
    width = max(len(str(key)) for key in counts)
    for key, value in counts.items():
        print(f"    {str(key).ljust(width)} {value:8d} {'#' * round(40 * value / top)}")
