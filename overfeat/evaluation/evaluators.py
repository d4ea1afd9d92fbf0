"""Evaluators for the three ILSVRC tasks: feed them one image at a time, read the metrics.

Each evaluator has ``add(prediction, ground_truth)`` for one image and ``compute()`` -> a dict
of ``{name: value}``; iterating an evaluator yields the same ``(name, value)`` pairs, so
``dict(evaluator)`` and ``for name, value in evaluator`` both work.

Ground truth is the project's example dict (``label`` int, ``boxes`` [N, 4] xyxy pixels,
``labels`` [N], optional ``ignore`` [N] bool, optional ``num_boxes`` when padded). Predictions:

- classification: a score vector [C] (float), ranked labels [k] (int), or a dict with
  ``labels`` [K] and optional ``scores`` [K];
- localization and detection: the inference API's dict ``{"boxes": [K, 4] xyxy pixels,
  "scores": [K], "labels": [K]}``; without ``scores`` the given order is the ranking.

Evaluators keep only what the metrics need (a rank per image; a score and a match outcome per
detection), matching each image as it is added: the devkits match within an image, so the
result does not depend on the other images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

import numpy as np

from overfeat.evaluation.average_precision import (
    INTERPOLATIONS,
    Interpolation,
    average_precision,
    precision_recall,
)
from overfeat.evaluation.matching import (
    IGNORED,
    TRUE_POSITIVE,
    BoxConvention,
    Matching,
    as_boxes,
    descending_order,
    iou_xyxy,
    match_detections,
)

ILSVRC_GUESSES = 5  # ILSVRC allows 5 guesses per image for classification and localization
LOCALIZATION_IOU = 0.5  # "at least 50%" overlap with a ground-truth box of the true class


def _scalar_label(value, what: str) -> int:
    array = np.asarray(value)
    if array.ndim != 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must be one integer class index, got {value!r}")
    if int(array) < 0:
        raise ValueError(f"{what} must be >= 0, got {int(array)}")
    return int(array)


def _label_array(values, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must be a 1-D array of integer class indices, got {array!r}")
    if np.any(array < 0):
        raise ValueError(f"{what} holds a negative class index: {array.tolist()}")
    return array.astype(np.int64)


def _scores(values, count: int, what: str) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(scores) != count:
        raise ValueError(f"{what} has {len(scores)} scores for {count} boxes/labels")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{what} holds a non-finite score")
    return scores


def true_label(ground_truth) -> int:
    """The image's class: ``ground_truth["label"]``, or ``ground_truth`` itself if an int."""
    if isinstance(ground_truth, Mapping):
        if "label" not in ground_truth:
            raise ValueError("ground truth has no 'label' field")
        return _scalar_label(ground_truth["label"], "ground truth 'label'")
    return _scalar_label(ground_truth, "ground truth label")


def ground_truth_objects(ground_truth: Mapping) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``(boxes [N, 4] float64, labels [N] or None, ignore [N] bool)`` of an example dict,
    cut to ``num_boxes`` when the dict is padded."""
    if "boxes" not in ground_truth:
        raise ValueError("ground truth has no 'boxes' field")
    boxes = np.asarray(ground_truth["boxes"], dtype=np.float64).reshape(-1, 4)
    count = int(ground_truth["num_boxes"]) if "num_boxes" in ground_truth else len(boxes)
    if not 0 <= count <= len(boxes):
        raise ValueError(f"ground truth 'num_boxes' = {count} but it holds {len(boxes)} boxes")
    boxes = as_boxes(boxes[:count], "ground truth 'boxes'")
    labels = None
    if "labels" in ground_truth:
        labels = _label_array(np.asarray(ground_truth["labels"])[:count], "ground truth 'labels'")
        if len(labels) != count:
            raise ValueError(f"ground truth has {count} boxes but {len(labels)} labels")
    ignore = np.zeros(count, bool)
    if ground_truth.get("ignore") is not None:
        ignore = np.asarray(ground_truth["ignore"], dtype=bool).reshape(-1)[:count]
        if len(ignore) != count:
            raise ValueError(f"ground truth has {count} boxes but {len(ignore)} ignore flags")
    return boxes, labels, ignore


def ranked_guesses(prediction, max_guesses: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``max_guesses`` guesses of a prediction, best first.

    Returns ``(labels [k], boxes [k, 4] or None)``. A score vector [C] ranks classes by
    descending score, equal scores in class order (the labels a submission file would hold);
    a dict is ranked by its ``scores`` when it has them (ties in input order), else taken in
    the order given; an integer array is already a ranking.
    """
    if isinstance(prediction, Mapping):
        if "labels" not in prediction:
            raise ValueError("prediction has no 'labels' field")
        labels = _label_array(prediction["labels"], "prediction 'labels'")
        boxes = None
        if "boxes" in prediction:
            boxes = as_boxes(prediction["boxes"], "prediction 'boxes'")
            if len(boxes) != len(labels):
                raise ValueError(f"prediction has {len(boxes)} boxes but {len(labels)} labels")
        order = np.arange(len(labels))
        if prediction.get("scores") is not None:
            order = descending_order(_scores(prediction["scores"], len(labels), "prediction"))
        order = order[:max_guesses]
        return labels[order], None if boxes is None else boxes[order]
    array = np.asarray(prediction)
    if array.ndim == 1 and np.issubdtype(array.dtype, np.floating):
        return descending_order(_scores(array, len(array), "score vector"))[:max_guesses], None
    if array.ndim == 1 and np.issubdtype(array.dtype, np.integer):
        return _label_array(array, "ranked labels")[:max_guesses], None
    raise ValueError(
        "a classification prediction is a float score vector [C], integer ranked labels [k] or "
        f"a dict with 'labels'; got an array of dtype {array.dtype} and shape {array.shape}"
    )


def _check_top_k(top_k: Sequence[int]) -> tuple[int, ...]:
    top_k = tuple(int(k) for k in top_k)
    if not top_k or any(k < 1 for k in top_k):
        raise ValueError(f"top_k must be positive integers, got {top_k}")
    return top_k


MISSED = np.iinfo(np.int32).max  # the rank of an image that no guess got right


def _first_hit(hits: np.ndarray) -> int:
    """0-based position of the first correct guess, or ``MISSED``."""
    found = np.flatnonzero(hits)
    return int(found[0]) if len(found) else MISSED


class _Evaluator:
    def compute(self) -> dict[str, float]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[tuple[str, float]]:
        yield from self.compute().items()


class ClassificationEvaluator(_Evaluator):
    """ILSVRC classification error: an image counts as correct at k when one of its first k
    guesses is the true label. Yields ``top{k}_error`` for each k in ``top_k`` and
    ``num_images``."""

    def __init__(self, top_k: Sequence[int] = (1, ILSVRC_GUESSES)):
        self.top_k = _check_top_k(top_k)
        self._ranks: list[int] = []  # per image: 0-based first correct guess, or MISSED

    def add(self, prediction, ground_truth) -> None:
        labels, _ = ranked_guesses(prediction, max(self.top_k))
        self._ranks.append(_first_hit(labels == true_label(ground_truth)))

    def compute(self) -> dict[str, float]:
        if not self._ranks:
            raise ValueError("no images added: the error is undefined")
        ranks = np.asarray(self._ranks)
        metrics = {f"top{k}_error": float(np.mean(ranks >= k)) for k in self.top_k}
        return metrics | {"num_images": len(ranks)}


class LocalizationEvaluator(_Evaluator):
    """ILSVRC localization error (CLS-LOC): an image counts as correct at k when one of its
    first k guesses has the true label AND overlaps some ground-truth box of that class at
    IoU >= ``iou_threshold`` (0.5). Every box of the true class counts, ``ignore`` flags
    included (ILSVRC has none; a difficult object is still the object).

    Yields ``top{k}_error`` (localization), ``classification_top{k}_error`` (the same guesses'
    labels alone) and ``num_images``.
    """

    def __init__(
        self,
        top_k: Sequence[int] = (1, ILSVRC_GUESSES),
        iou_threshold: float = LOCALIZATION_IOU,
        box_convention: BoxConvention = "continuous",
    ):
        self.top_k = _check_top_k(top_k)
        if not 0.0 < float(iou_threshold) <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        self.iou_threshold = float(iou_threshold)
        self.box_convention = box_convention
        self._ranks: list[tuple[int, int]] = []  # per image: (localization, classification)

    def add(self, prediction: Mapping, ground_truth: Mapping) -> None:
        labels, boxes = ranked_guesses(prediction, max(self.top_k))
        if boxes is None:
            raise ValueError("a localization prediction needs 'boxes' beside its 'labels'")
        label = true_label(ground_truth)
        gt_boxes, gt_labels, _ = ground_truth_objects(ground_truth)
        if gt_labels is not None:
            gt_boxes = gt_boxes[gt_labels == label]
        right_label = labels == label  # [k]
        overlap = iou_xyxy(boxes, gt_boxes, self.box_convention)  # [k, M]
        right_box = np.any(overlap >= self.iou_threshold, axis=1)  # IoU 0 where apart
        self._ranks.append((_first_hit(right_label & right_box), _first_hit(right_label)))

    def compute(self) -> dict[str, float]:
        if not self._ranks:
            raise ValueError("no images added: the error is undefined")
        ranks = np.asarray(self._ranks)  # [images, 2]
        metrics = {f"top{k}_error": float(np.mean(ranks[:, 0] >= k)) for k in self.top_k}
        for k in self.top_k:
            metrics[f"classification_top{k}_error"] = float(np.mean(ranks[:, 1] >= k))
        return metrics | {"num_images": len(ranks)}


@dataclasses.dataclass(frozen=True)
class DetectionProtocol:
    """How detections are judged: the IoU an object needs, the matching rule, and the AP
    interpolation (see ``matching.match_detections`` and ``average_precision``)."""

    iou_threshold: float | Literal["ilsvrc"] = "ilsvrc"
    matching: Matching = "ilsvrc"
    interpolation: Interpolation = "all_points"

    def __post_init__(self):
        if isinstance(self.iou_threshold, str):
            if self.iou_threshold != "ilsvrc":
                raise ValueError(f"iou_threshold: a number or 'ilsvrc', not {self.iou_threshold!r}")
        elif not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.matching not in ("ilsvrc", "voc"):
            raise ValueError(f"matching must be 'ilsvrc' or 'voc', got {self.matching!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation: one of {INTERPOLATIONS}, not {self.interpolation!r}")


DETECTION_PROTOCOLS = {
    # ILSVRC 2013-2017 eval_detection.m: per-object threshold, best free match, VOCap.
    "ilsvrc": DetectionProtocol("ilsvrc", "ilsvrc", "all_points"),
    # PASCAL VOC 2007 VOCevaldet.m: IoU 0.5, best overlap only, 11-point AP.
    "voc07": DetectionProtocol(0.5, "voc", "11_point"),
    # PASCAL VOC 2010-2012: as 2007 with all-point AP.
    "voc": DetectionProtocol(0.5, "voc", "all_points"),
}


class DetectionEvaluator(_Evaluator):
    """Detection average precision per class and its mean (mAP).

    Args:
      class_names: names for the ``AP/<name>`` keys (and the number of classes, checked);
        without them the keys use the class index.
      protocol: a name in ``DETECTION_PROTOCOLS`` ("ilsvrc", "voc07", "voc") or a
        ``DetectionProtocol``.
      box_convention: "continuous" (our boxes) or "inclusive" (devkit pixel indices).

    Yields ``mAP`` (mean over the classes that have at least one non-ignored ground-truth
    object; AP is undefined for the others, whose detections are all false positives),
    ``AP/<class>`` for those classes, ``num_images`` and ``num_classes`` (classes averaged).
    """

    def __init__(
        self,
        class_names: Sequence[str] | None = None,
        protocol: str | DetectionProtocol = "ilsvrc",
        box_convention: BoxConvention = "continuous",
    ):
        if isinstance(protocol, str):
            if protocol not in DETECTION_PROTOCOLS:
                known = ", ".join(DETECTION_PROTOCOLS)
                raise ValueError(f"unknown detection protocol {protocol!r} (known: {known})")
            protocol = DETECTION_PROTOCOLS[protocol]
        self.protocol = protocol
        self.class_names = None if class_names is None else list(class_names)
        self.box_convention = box_convention
        self._scores: dict[int, list[np.ndarray]] = {}  # class -> counted detections' scores
        self._hits: dict[int, list[np.ndarray]] = {}  # class -> their true-positive flags
        self._positives: dict[int, int] = {}  # class -> non-ignored ground-truth objects
        self._num_images = 0

    def _check_classes(self, labels: np.ndarray, what: str) -> None:
        if self.class_names is not None and len(labels) and labels.max() >= len(self.class_names):
            raise ValueError(
                f"{what} holds class {int(labels.max())} but there are "
                f"{len(self.class_names)} class names"
            )

    def add(
        self, prediction: Mapping, ground_truth: Mapping, *, excluded_classes: Sequence[int] = ()
    ) -> None:
        """Match one image's detections to its ground truth and keep the outcomes.

        ``excluded_classes``: classes this image is not judged on (the ILSVRC DET blacklist
        of ambiguous image/class pairs): their detections and objects are left out.
        """
        missing = [field for field in ("boxes", "scores", "labels") if field not in prediction]
        if missing:
            raise ValueError(f"a detection prediction needs boxes, scores and labels: no {missing}")
        labels = _label_array(prediction["labels"], "prediction 'labels'")
        boxes = as_boxes(prediction["boxes"], "prediction 'boxes'")
        if len(boxes) != len(labels):
            raise ValueError(f"prediction has {len(boxes)} boxes but {len(labels)} labels")
        scores = _scores(prediction["scores"], len(labels), "prediction")
        gt_boxes, gt_labels, gt_ignore = ground_truth_objects(ground_truth)
        if gt_labels is None:
            raise ValueError("detection ground truth needs 'labels' beside its 'boxes'")
        self._check_classes(labels, "prediction 'labels'")
        self._check_classes(gt_labels, "ground truth 'labels'")
        excluded = {int(label) for label in excluded_classes}
        for label in np.union1d(labels, gt_labels):
            label = int(label)
            if label in excluded:
                continue
            mine, theirs = labels == label, gt_labels == label
            status, _ = match_detections(
                boxes[mine],
                scores[mine],
                gt_boxes[theirs],
                gt_ignore[theirs],
                iou_threshold=self.protocol.iou_threshold,
                matching=self.protocol.matching,
                box_convention=self.box_convention,
            )
            counted = status != IGNORED
            self._scores.setdefault(label, []).append(scores[mine][counted])
            self._hits.setdefault(label, []).append(status[counted] == TRUE_POSITIVE)
            positives = int(np.sum(theirs & ~gt_ignore))
            self._positives[label] = self._positives.get(label, 0) + positives
        self._num_images += 1

    def class_name(self, label: int) -> str:
        return str(label) if self.class_names is None else self.class_names[label]

    def precision_recall_curves(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``{class: (recall [D], precision [D])}`` for every class with ground truth."""
        curves = {}
        for label in sorted(self._positives):
            if self._positives[label] == 0:
                continue
            scores = np.concatenate(self._scores.get(label, [np.zeros(0)]))
            hits = np.concatenate(self._hits.get(label, [np.zeros(0, bool)]))
            curves[label] = precision_recall(scores, hits, self._positives[label])
        return curves

    def compute(self) -> dict[str, float]:
        curves = self.precision_recall_curves()
        if not curves:
            raise ValueError("no ground-truth objects added: mAP is undefined")
        per_class = {
            label: average_precision(recall, precision, self.protocol.interpolation)
            for label, (recall, precision) in curves.items()
        }
        metrics = {"mAP": float(np.mean(list(per_class.values())))}
        metrics |= {f"AP/{self.class_name(label)}": ap for label, ap in per_class.items()}
        return metrics | {"num_images": self._num_images, "num_classes": len(per_class)}
