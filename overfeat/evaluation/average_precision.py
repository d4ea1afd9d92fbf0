"""Precision/recall curves and average precision (AP), as the ILSVRC, PASCAL VOC and COCO
evaluation code computes them.

- ``"all_points"``: ILSVRC (``VOCap`` in ``eval_detection.m``) and PASCAL VOC 2010+: the
  area under the monotone precision envelope, summed at every recall the curve reaches.
- ``"11_point"``: PASCAL VOC 2007: the mean over recall thresholds 0, 0.1, ..., 1 of the
  highest precision reached at a recall >= the threshold (0 where none is).
- ``"101_point"``: the same with thresholds 0, 0.01, ..., 1 (COCO's interpolation).

Thresholds are the exact fractions ``i/10`` and ``i/100`` (see NOTES.md: the VOC code's
``0:0.1:1`` and COCO's ``np.linspace`` produce a few values a hair above, e.g.
0.30000000000000004, so a recall of exactly 3/10 falls on the other side there).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from overfeat.evaluation.matching import descending_order

Interpolation = Literal["all_points", "11_point", "101_point"]
INTERPOLATIONS = ("all_points", "11_point", "101_point")

VOC07_RECALL_THRESHOLDS = np.arange(11) / 10  # [11] exactly i/10
COCO_RECALL_THRESHOLDS = np.arange(101) / 100  # [101] exactly i/100


def precision_recall(scores, true_positive, num_positives: int) -> tuple[np.ndarray, np.ndarray]:
    """The precision/recall curve of detections ranked by descending score.

    Args:
      scores: [D] confidences of the counted detections (ignored ones left out);
        ties keep their input order.
      true_positive: [D] bool, whether each detection matched a ground truth.
      num_positives: how many (non-ignored) ground-truth objects there are; > 0.
    Returns:
      recall [D] and precision [D] after each detection in ranked order, float64.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    true_positive = np.asarray(true_positive, dtype=bool).reshape(-1)
    if scores.shape != true_positive.shape:
        raise ValueError(f"{len(scores)} scores but {len(true_positive)} true_positive flags")
    if num_positives <= 0:
        raise ValueError("average precision is undefined without ground-truth objects")
    ranked = true_positive[descending_order(scores)]
    true_positives = np.cumsum(ranked, dtype=np.float64)  # [D]
    false_positives = np.cumsum(~ranked, dtype=np.float64)  # [D]
    recall = true_positives / num_positives
    precision = true_positives / (true_positives + false_positives)
    return recall, precision


def precision_envelope(precision) -> np.ndarray:
    """Monotone (non-increasing) envelope: at each point, the best precision at or after it."""
    precision = np.asarray(precision, dtype=np.float64)
    return np.maximum.accumulate(precision[::-1])[::-1]


def all_point_ap(recall, precision) -> float:
    """ILSVRC/VOC2010+ AP: ``sum_i (r_i - r_{i-1}) * max_{j >= i} p_j`` over recall steps.

    Exactly the devkits' ``VOCap``: the curve is padded with (0, 0) in front and (1, 0) at the
    end, the precision envelope taken, and the area summed where the recall changes.
    """
    recall = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    precision = precision_envelope(np.concatenate([[0.0], precision, [0.0]]))
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def interpolated_ap(recall, precision, recall_thresholds) -> float:
    """Mean over ``recall_thresholds`` t of ``max(precision[recall >= t])`` (0 where empty)."""
    recall = np.asarray(recall, dtype=np.float64)
    if len(recall) == 0:
        return 0.0
    envelope = precision_envelope(precision)  # envelope[i] = max(precision[i:])
    thresholds = np.asarray(recall_thresholds, dtype=np.float64)
    # recall is non-decreasing: the first point at recall >= t carries max(precision[recall >= t])
    first = np.searchsorted(recall, thresholds, side="left")
    values = np.where(first < len(recall), envelope[np.minimum(first, len(recall) - 1)], 0.0)
    return float(np.mean(values))


def average_precision(recall, precision, interpolation: Interpolation = "all_points") -> float:
    """AP of one precision/recall curve under the named interpolation (module docstring)."""
    if interpolation == "all_points":
        return all_point_ap(recall, precision)
    if interpolation == "11_point":
        return interpolated_ap(recall, precision, VOC07_RECALL_THRESHOLDS)
    if interpolation == "101_point":
        return interpolated_ap(recall, precision, COCO_RECALL_THRESHOLDS)
    raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
