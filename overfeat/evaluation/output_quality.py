"""How clean a detector's output is at a score threshold: what a person sees before any metric
(issue 13, point 4). AP ranks every box and never asks where to stop; a user does.

- ``empty_images(per_kind, size, seed)``: images with no object: uniform noise, flat colours
  and smooth gradients, made here, deterministic for a seed, and crops of a natural
  photograph (matplotlib's sample portrait, where matplotlib is installed: the project ships
  no photograph of its own).
- ``false_boxes_per_empty_image(predictor, score_threshold)``: the boxes ``detect`` returns
  on them, per image, overall and per kind. Every one is false.
- ``duplicate_rate(predictions)``: the fraction of returned boxes that overlap another
  returned box of the same class with IoU > 0.5 (the greedy merge left two boxes on one
  object).
- ``object_recall(predictions, examples)``: the fraction of ground-truth objects that a
  returned box of their class overlaps with IoU >= 0.5: what the threshold costs (a threshold
  of 1 has no false boxes and no duplicates, and finds nothing).
- ``output_quality(predictor, examples, score_threshold)``: all of them in one dict.

``predictor`` is anything with ``detect(images, score_threshold=..., **options)`` taking a
list of images and returning the ``Predictor``'s dicts (``boxes`` [K, 4] xyxy, ``labels``
[K]).
Examples are the project's example dicts (``image``, ``boxes`` [N, 4] xyxy pixels, ``labels``
[N], optional ``ignore`` [N] and ``num_boxes``), as a dataset source yields them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from overfeat.boxes import iou_xyxy
from overfeat.evaluation.evaluators import ground_truth_objects

EMPTY_KINDS = ("noise", "flat", "gradient", "photo")
DUPLICATE_IOU = 0.5  # above this, two boxes of one class are one object found twice
FOUND_IOU = 0.5  # ILSVRC's and PASCAL's bar for a box to count as the object


def empty_images(
    per_kind: int = 4, size: tuple[int, int] = (128, 128), seed: int = 0
) -> dict[str, list[np.ndarray]]:
    """``{kind: [per_kind images [H, W, 3] uint8]}`` with nothing in them: ``noise`` (every
    pixel uniform in 0..255), ``flat`` (one random colour), ``gradient`` (a linear ramp
    between two random colours in a random direction) and ``photo`` (random crops of a
    natural photograph resized to ``size``; left out without matplotlib). The same for the
    same arguments."""
    if per_kind < 1:
        raise ValueError(f"per_kind must be at least 1, got {per_kind}")
    height, width = size
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    images: dict[str, list[np.ndarray]] = {kind: [] for kind in EMPTY_KINDS}
    for _ in range(per_kind):
        images["noise"].append(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        colour = rng.integers(0, 256, 3).astype(np.uint8)
        images["flat"].append(np.broadcast_to(colour, (height, width, 3)).copy())
        start, end = rng.integers(0, 256, (2, 3)).astype(np.float64)
        angle = rng.uniform(0, 2 * np.pi)
        along = cols * np.cos(angle) + rows * np.sin(angle)  # [H, W]
        ramp = (along - along.min()) / max(np.ptp(along), 1e-9)  # 0..1 across the image
        gradient = start + ramp[..., None] * (end - start)  # [H, W, 3]
        images["gradient"].append(np.round(gradient).astype(np.uint8))
    photo = _sample_photograph()
    if photo is None:
        del images["photo"]
        return images
    for _ in range(per_kind):
        side = int(rng.integers(min(photo.shape[:2]) // 3, min(photo.shape[:2]) + 1))
        top = int(rng.integers(photo.shape[0] - side + 1))
        left = int(rng.integers(photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[top : top + side, left : left + side])
        images["photo"].append(np.asarray(crop.resize((width, height), Image.BILINEAR)))
    return images


def _sample_photograph() -> np.ndarray | None:
    """matplotlib's sample photograph (a portrait, 512x600) as RGB uint8, or None."""
    try:
        import matplotlib.cbook
    except ImportError:
        return None
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file, Image.open(file) as image:
        return np.asarray(image.convert("RGB"))


def _detect_all(predictor, images: Sequence[np.ndarray], score_threshold: float, options):
    """``predictor.detect`` over ``images`` (it batches them itself); ``[]`` for none."""
    if not len(images):
        return []
    return predictor.detect(list(images), score_threshold=score_threshold, **options)


def false_boxes_per_empty_image(
    predictor,
    score_threshold: float,
    *,
    images: Mapping[str, Sequence[np.ndarray]] | None = None,
    **detect_options,
) -> dict[str, Any]:
    """Boxes ``predictor.detect`` returns per image with no object, at ``score_threshold``.

    ``images``: ``{kind: [images]}``, default ``empty_images()``. Returns ``{"overall":
    boxes per image over all of them, "by_kind": {kind: boxes per image}, "images": count,
    "images_with_boxes": count}``."""
    images = empty_images() if images is None else images
    by_kind, total, images_with_boxes, count = {}, 0, 0, 0
    for kind, group in images.items():
        counts = [len(p["boxes"]) for p in _detect_all(predictor, group, score_threshold,
                                                       detect_options)]
        by_kind[kind] = float(np.mean(counts)) if counts else 0.0
        total += sum(counts)
        images_with_boxes += sum(c > 0 for c in counts)
        count += len(counts)
    return {
        "overall": total / count if count else 0.0,
        "by_kind": by_kind,
        "images": count,
        "images_with_boxes": images_with_boxes,
    }


def duplicate_rate(predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"rate", "duplicates", "boxes"}``: of all returned boxes, those overlapping another
    box of the same class in the same image with IoU > ``DUPLICATE_IOU``. No boxes: rate 0
    (no two boxes overlap)."""
    duplicates = boxes_seen = 0
    for prediction in predictions:
        boxes = np.asarray(prediction["boxes"], np.float64).reshape(-1, 4)  # [K, 4]
        labels = np.asarray(prediction["labels"]).reshape(-1)  # [K]
        boxes_seen += len(boxes)
        for label in np.unique(labels):
            same = boxes[labels == label]
            overlap = iou_xyxy(same, same)  # [k, k]
            np.fill_diagonal(overlap, 0.0)  # a box is no duplicate of itself
            duplicates += int(np.sum(overlap.max(axis=1) > DUPLICATE_IOU))
    return {
        "rate": duplicates / boxes_seen if boxes_seen else 0.0,
        "duplicates": duplicates,
        "boxes": boxes_seen,
    }


def _objects(example: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The example's counted objects: ``boxes [N, 4]``, ``labels [N]`` (padding and ignored
    objects left out)."""
    boxes, labels, ignore = ground_truth_objects(example)
    return boxes[~ignore], labels[~ignore]


def object_recall(
    predictions: Sequence[Mapping[str, Any]], examples: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """``{"recall", "found", "objects"}``: the ground-truth objects some returned box of their
    class overlaps with IoU >= ``FOUND_IOU``. No objects: recall 0."""
    found = objects = 0
    for prediction, example in zip(predictions, examples, strict=True):
        truth, truth_labels = _objects(example)
        boxes = np.asarray(prediction["boxes"], np.float64).reshape(-1, 4)
        labels = np.asarray(prediction["labels"]).reshape(-1)
        objects += len(truth)
        if len(truth) and len(boxes):
            overlap = iou_xyxy(truth, boxes)  # [N, K]
            same_class = truth_labels[:, None] == labels[None, :]
            found += int(np.sum(np.any((overlap >= FOUND_IOU) & same_class, axis=1)))
    return {"recall": found / objects if objects else 0.0, "found": found, "objects": objects}


def output_quality(
    predictor,
    examples: Sequence[Mapping[str, Any]],
    score_threshold: float,
    *,
    empty: Mapping[str, Sequence[np.ndarray]] | None = None,
    **detect_options,
) -> dict[str, Any]:
    """At ``score_threshold``: false boxes on images with no object (``empty``, default
    ``empty_images()``), and on ``examples`` the duplicate rate and the objects found.
    ``detect_options`` go to ``predictor.detect`` (scales, merge, ...)."""
    predictions = _detect_all(
        predictor, [example["image"] for example in examples], score_threshold, detect_options
    )
    return {
        "score_threshold": score_threshold,
        "false_boxes_per_empty_image": false_boxes_per_empty_image(
            predictor, score_threshold, images=empty, **detect_options
        ),
        "duplicates": duplicate_rate(predictions),
        "objects": object_recall(predictions, examples),
    }
