"""Box overlap and the matching of detections to ground truth, as the ILSVRC and PASCAL VOC
development kits define them.

Boxes are ``xyxy`` pixels. Two conventions for what a box covers:

- ``"continuous"`` (ours, the default): a box is the region ``[x1, x2) x [y1, y2)`` of the
  image plane; width ``x2 - x1``. The project's boxes are in this convention.
- ``"inclusive"`` (the devkits'): corners are integer pixel indices and both ends are inside
  the box; width ``x2 - x1 + 1``. The ILSVRC and VOC devkits compute every width, area and
  intersection this way.

The two give the same overlaps once a box is converted (``inclusive [a, b]`` covers the
continuous ``[a, b + 1)``), so metrics computed on our boxes equal the devkit's on the files
``overfeat.evaluation.submission`` writes (see NOTES.md, "Evaluation").
"""

from __future__ import annotations

from typing import Literal

import numpy as np

BoxConvention = Literal["continuous", "inclusive"]
Matching = Literal["ilsvrc", "voc"]

# ILSVRC detection: an object of w x h pixels is found at IoU >= min(0.5, wh / ((w+10)(h+10))),
# i.e. a box may be off by about 5 pixels on each side of a small object (devkit readme, 2.3).
ILSVRC_DEFAULT_IOU = 0.5
ILSVRC_PIXEL_TOLERANCE = 10.0

# Per-detection outcome of matching.
TRUE_POSITIVE, FALSE_POSITIVE, IGNORED = 1, 0, -1


def _width_offset(box_convention: BoxConvention) -> float:
    if box_convention == "continuous":
        return 0.0
    if box_convention == "inclusive":
        return 1.0
    raise ValueError(f"box_convention must be 'continuous' or 'inclusive', got {box_convention!r}")


def as_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """``boxes`` as float64 [N, 4] xyxy, checked: finite, ``x2 >= x1`` and ``y2 >= y1``."""
    array = np.asarray(boxes, dtype=np.float64)
    if array.size == 0:
        return array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{name} must have shape [N, 4] (xyxy), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds a non-finite coordinate")
    inverted = (array[:, 2] < array[:, 0]) | (array[:, 3] < array[:, 1])
    if np.any(inverted):
        index = int(np.flatnonzero(inverted)[0])
        raise ValueError(
            f"{name}[{index}] = {array[index].tolist()} has x2 < x1 or y2 < y1 (expected xyxy)"
        )
    return array


def box_sizes(boxes, box_convention: BoxConvention = "continuous") -> np.ndarray:
    """Widths and heights [N, 2] of xyxy ``boxes`` [N, 4] in the given convention."""
    boxes = as_boxes(boxes)
    offset = _width_offset(box_convention)
    return np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1) + offset


def intersection_xyxy(
    boxes_a, boxes_b, box_convention: BoxConvention = "continuous"
) -> tuple[np.ndarray, np.ndarray]:
    """Intersection widths and heights [N, M] (negative or zero where the boxes are apart)."""
    a, b = as_boxes(boxes_a, "boxes_a"), as_boxes(boxes_b, "boxes_b")
    offset = _width_offset(box_convention)
    widths = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    heights = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return widths + offset, heights + offset  # [N, M] each


def iou_xyxy(boxes_a, boxes_b, box_convention: BoxConvention = "continuous") -> np.ndarray:
    """Intersection over union [N, M] of ``boxes_a`` [N, 4] and ``boxes_b`` [M, 4], float64.

    Pairs that do not overlap with a positive area (intersection width or height <= 0) get 0,
    as in the devkits, which count an overlap only when both are positive. Two boxes of zero
    area therefore never overlap.
    """
    a, b = as_boxes(boxes_a, "boxes_a"), as_boxes(boxes_b, "boxes_b")
    widths, heights = intersection_xyxy(a, b, box_convention)
    overlaps = (widths > 0) & (heights > 0)  # [N, M]
    intersection = np.where(overlaps, widths * heights, 0.0)
    size_a, size_b = box_sizes(a, box_convention), box_sizes(b, box_convention)
    area_a, area_b = size_a[:, 0] * size_a[:, 1], size_b[:, 0] * size_b[:, 1]
    union = area_a[:, None] + area_b[None, :] - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlaps, intersection / np.where(overlaps, union, 1.0), 0.0)


def ilsvrc_iou_threshold(gt_boxes, box_convention: BoxConvention = "continuous") -> np.ndarray:
    """The ILSVRC detection threshold per ground-truth box [M]: ``min(0.5, wh/((w+10)(h+10)))``.

    Equals 0.5 for objects larger than about 24x24 pixels, and less for smaller ones: a
    10x10 object inside a 20x20 detection (IoU 0.25) is found.
    """
    sizes = box_sizes(gt_boxes, box_convention)
    width, height = sizes[:, 0], sizes[:, 1]
    relaxed = (width * height) / (
        (width + ILSVRC_PIXEL_TOLERANCE) * (height + ILSVRC_PIXEL_TOLERANCE)
    )
    return np.minimum(ILSVRC_DEFAULT_IOU, relaxed)


def iou_thresholds(
    gt_boxes, iou_threshold: float | Literal["ilsvrc"], box_convention: BoxConvention
) -> np.ndarray:
    """The IoU each ground-truth box [M] must reach: ILSVRC's per-object rule or a constant."""
    gt_boxes = as_boxes(gt_boxes, "gt_boxes")
    if isinstance(iou_threshold, str):
        if iou_threshold != "ilsvrc":
            raise ValueError(f"iou_threshold must be a number or 'ilsvrc', got {iou_threshold!r}")
        return ilsvrc_iou_threshold(gt_boxes, box_convention)
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    return np.full(len(gt_boxes), float(iou_threshold))


def descending_order(scores) -> np.ndarray:
    """Indices sorting ``scores`` high to low; equal scores keep their input order (stable),
    as MATLAB's ``sort(..., 'descend')`` in the devkits and COCO's mergesort do."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def match_detections(
    boxes,
    scores,
    gt_boxes,
    gt_ignore=None,
    *,
    iou_threshold: float | Literal["ilsvrc"] = "ilsvrc",
    matching: Matching = "ilsvrc",
    box_convention: BoxConvention = "continuous",
) -> tuple[np.ndarray, np.ndarray]:
    """Match one image's detections of ONE class to its ground truth of that class.

    Detections are visited by descending score (ties in input order). ``matching``:

    - ``"ilsvrc"`` (ILSVRC ``eval_detection.m``; also COCO): a detection takes the
      best-overlapping ground truth that is not yet matched and that it overlaps at least at
      that object's threshold -> true positive. A detection whose objects are all taken is a
      false positive (a duplicate) unless it reaches an unmatched one.
    - ``"voc"`` (PASCAL ``VOCevaldet.m``): a detection looks only at the ground truth it
      overlaps most; below threshold -> false positive; already matched -> false positive
      (duplicate), even if another object would have been free.

    Ignored ground truth (``gt_ignore``: crowd/difficult) is never a miss and never makes a
    false positive: a detection that reaches no free non-ignored object but reaches an ignored
    one (``"ilsvrc"``), or whose best overlap is an ignored one (``"voc"``), is left out
    (``IGNORED``), however many detections land on it (the VOC convention).

    Args:
      boxes: [K, 4] xyxy detections; scores: [K].
      gt_boxes: [M, 4] xyxy ground truth; gt_ignore: [M] bool or None (none ignored).
    Returns:
      status int8 [K] in input order: TRUE_POSITIVE (1), FALSE_POSITIVE (0) or IGNORED (-1);
      matched int64 [K]: the ground truth that made a detection a true positive or ignored it,
        -1 for false positives.
    """
    if matching not in ("ilsvrc", "voc"):
        raise ValueError(f"matching must be 'ilsvrc' or 'voc', got {matching!r}")
    boxes, gt_boxes = as_boxes(boxes, "boxes"), as_boxes(gt_boxes, "gt_boxes")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    num_gt = len(gt_boxes)
    ignore = np.zeros(num_gt, bool) if gt_ignore is None else np.asarray(gt_ignore, bool)
    if ignore.shape != (num_gt,):
        raise ValueError(f"gt_ignore has shape {ignore.shape}, expected ({num_gt},)")

    status = np.full(len(boxes), FALSE_POSITIVE, np.int8)
    matched = np.full(len(boxes), -1, np.int64)
    if len(boxes) == 0 or num_gt == 0:
        return status, matched
    overlap = iou_xyxy(boxes, gt_boxes, box_convention)  # [K, M]; 0 where apart
    widths, heights = intersection_xyxy(boxes, gt_boxes, box_convention)
    touches = (widths > 0) & (heights > 0)  # [K, M]
    reaches = touches & (overlap >= iou_thresholds(gt_boxes, iou_threshold, box_convention))
    taken = np.zeros(num_gt, bool)
    for k in descending_order(scores):
        if matching == "ilsvrc":
            free = reaches[k] & ~taken & ~ignore
            if free.any():  # argmax takes the first of equal overlaps, like `ov > ovmax`
                j = int(np.argmax(np.where(free, overlap[k], -np.inf)))
                status[k], matched[k], taken[j] = TRUE_POSITIVE, j, True
            elif (reaches[k] & ignore).any():
                status[k] = IGNORED
                matched[k] = int(np.argmax(np.where(reaches[k] & ignore, overlap[k], -np.inf)))
        else:
            if not touches[k].any():
                continue
            j = int(np.argmax(np.where(touches[k], overlap[k], -np.inf)))
            if not reaches[k, j]:
                continue
            if ignore[j]:
                status[k], matched[k] = IGNORED, j
            elif not taken[j]:
                status[k], matched[k], taken[j] = TRUE_POSITIVE, j, True
    return status, matched
