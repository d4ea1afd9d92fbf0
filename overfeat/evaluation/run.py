"""Evaluating a checkpoint on a dataset split: the multi-scale inference of ``Predictor`` over
every example, the task's ILSVRC metrics, and the files ``overfeat evaluate`` writes.

- ``check_task(predictor, task)``: the checkpoint can do the task (a regressor to localize,
  a detector's background class to detect).
- ``check_class_order(predictor, class_names)``: the checkpoint's outputs are the dataset's
  classes in the dataset's order (a detector's background, its last output, aside).
- ``evaluate(predictor, source, task, options)`` -> ``Evaluation`` (metrics, predictions).
- ``write_outputs(evaluation, out_dir, ...)``: ``metrics.json``, ``metrics.md`` and the
  ILSVRC submission file of the task.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from overfeat.evaluation.evaluators import (
    ClassificationEvaluator,
    DetectionEvaluator,
    LocalizationEvaluator,
)
from overfeat.evaluation.submission import (
    write_classification,
    write_detection,
    write_localization,
)
from overfeat.predict import DEFAULT_DUPLICATE_IOU
from overfeat.scales import ALL_SCALES

Task = Literal["classify", "localize", "detect"]
TASKS: tuple[Task, ...] = ("classify", "localize", "detect")
SUBMISSION_FILES = {
    "classify": "classification.txt",
    "localize": "localization.txt",
    "detect": "detection.txt",
}
LOCALIZATION_GUESSES = 5  # ILSVRC judges the first 5 guesses; more boxes change nothing


@dataclasses.dataclass(frozen=True)
class InferenceOptions:
    """How the ``Predictor`` runs (its methods' arguments of the same names).

    ``score_threshold`` defaults to 0 for detection: dropping low-scoring boxes can only
    lower recall, and AP never gains from it (it is the area under a curve those boxes
    only extend). ``max_boxes`` ``None``: 5 for localization (ILSVRC's guesses), 100 for
    detection.
    """

    scales: tuple[int, ...] = ALL_SCALES
    stride: Literal["fine", "coarse"] = "fine"
    flips: bool = True
    top_k: int = 5
    merge: Literal["greedy", "nms", "nmm"] = "greedy"
    merge_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    min_confidence: float | None = None
    score_threshold: float = 0.0
    max_boxes: int | None = None
    duplicate_iou: float | None = DEFAULT_DUPLICATE_IOU  # detection only, as ``detect``'s

    def predictor_arguments(self, task: Task) -> dict[str, Any]:
        arguments: dict[str, Any] = dict(scales=self.scales, stride=self.stride, flips=self.flips)
        if task == "classify":
            return arguments | dict(top=LOCALIZATION_GUESSES)
        arguments |= dict(
            top_k=self.top_k,
            merge=self.merge,
            merge_params=dict(self.merge_params),
            score_threshold=self.score_threshold,
            max_boxes=self.max_boxes or (LOCALIZATION_GUESSES if task == "localize" else 100),
        )
        if self.min_confidence is not None:
            arguments["min_confidence"] = self.min_confidence
        if task == "detect":
            arguments["duplicate_iou"] = self.duplicate_iou
        return arguments

    def to_json(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        return values | {"scales": list(self.scales), "merge_params": dict(self.merge_params)}


@dataclasses.dataclass
class Evaluation:
    """What ``evaluate`` returns: the metrics and, in example order, each prediction (the
    ``Predictor``'s dict; for classification with the background column removed)."""

    task: Task
    metrics: dict[str, float]
    predictions: list[dict[str, Any]]
    class_names: tuple[str, ...]
    options: InferenceOptions


def check_task(predictor, task: str) -> None:
    """Raise ``ValueError`` naming the problem when ``predictor``'s network cannot do ``task``."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if task in ("localize", "detect") and predictor.model.regressor is None:
        raise ValueError(
            f"{task} needs a checkpoint with a box regressor; this one is a classifier only "
            "(train the regressor on it first: section 4)"
        )
    if task == "detect" and not predictor.background_class:
        raise ValueError(
            "detect needs a detector checkpoint (trained with a background class, section 5); "
            "this one has none, so every location would be some object: evaluate it with "
            "--task localize"
        )


def object_class_names(predictor) -> tuple[str, ...]:
    """The checkpoint's class names without a detector's background (its last class)."""
    if predictor.class_names is None:
        raise ValueError(
            "the checkpoint has no class names, so its output order cannot be checked against "
            "the dataset's; save it with class_names= (weights.save_model)"
        )
    names = tuple(predictor.class_names)
    return names[:-1] if predictor.background_class else names


def check_class_order(predictor, class_names: Sequence[str]) -> None:
    """The checkpoint's object classes must be the dataset's, in the same order: label i of
    the data is output i of the network."""
    ours, theirs = object_class_names(predictor), tuple(class_names)
    if ours == theirs:
        return
    if sorted(ours) == sorted(theirs):
        first = next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)
        raise ValueError(
            f"the checkpoint and the dataset order their {len(ours)} classes differently "
            f"(first difference at {first}: checkpoint {ours[first]!r}, dataset "
            f"{theirs[first]!r}); labels would be compared with the wrong outputs"
        )
    missing = sorted(set(theirs) - set(ours))[:5]
    extra = sorted(set(ours) - set(theirs))[:5]
    raise ValueError(
        f"the checkpoint's {len(ours)} classes are not the dataset's {len(theirs)}: "
        f"dataset classes missing from the checkpoint {missing}, checkpoint classes not in "
        f"the dataset {extra}"
    )


def make_evaluator(task: Task, class_names: Sequence[str]):
    if task == "classify":
        return ClassificationEvaluator()
    if task == "localize":
        return LocalizationEvaluator()
    return DetectionEvaluator(class_names=class_names)


def _without_background(prediction: dict[str, Any], num_objects: int) -> dict[str, Any]:
    """A classification of a detector, re-ranked over the object classes only."""
    probabilities = np.asarray(prediction["probabilities"])[:num_objects]  # [K]
    best = np.argsort(-probabilities, kind="stable")[:LOCALIZATION_GUESSES]
    return {"labels": best.astype(np.int32), "scores": probabilities[best],
            "probabilities": probabilities}


def empty_inverted_boxes(prediction: dict[str, Any]) -> dict[str, Any]:
    """The prediction with each inverted box (x2 < x1 or y2 < y1: an untrained or poor
    regressor gives them; ``Predictor`` leaves them as they are) made the empty box at its
    first corner: it overlaps nothing, so it is scored as the miss it is rather than refused
    by the evaluators."""
    if "boxes" not in prediction:
        return prediction
    boxes = np.array(prediction["boxes"], dtype=np.float32).reshape(-1, 4)  # [K, 4] xyxy
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    return prediction | {"boxes": boxes}


def predict_all(
    predictor,
    source,
    task: Task,
    options: InferenceOptions,
    indices: Sequence[int],
    progress: Callable | None = None,
):
    """Yield ``(example, prediction)`` for ``source[i]`` over ``indices``, run in batches of
    the predictor's ``batch_size``. ``progress(n)`` is called after each batch of n."""
    run = getattr(predictor, task)
    arguments = options.predictor_arguments(task)
    num_objects = len(object_class_names(predictor))
    for start in range(0, len(indices), predictor.batch_size):
        examples = [source[int(i)] for i in indices[start:start + predictor.batch_size]]
        predictions = run([example["image"] for example in examples], **arguments)
        for example, prediction in zip(examples, predictions, strict=True):
            if task == "classify" and predictor.background_class:
                prediction = _without_background(prediction, num_objects)
            yield example, empty_inverted_boxes(prediction)
        if progress is not None:
            progress(len(examples))


def evaluate(
    predictor,
    source,
    task: Task,
    options: InferenceOptions = InferenceOptions(),
    *,
    limit: int | None = None,
    progress: Callable | None = None,
) -> Evaluation:
    """Run ``predictor`` over ``source`` (the first ``limit`` examples) and compute the task's
    metrics. Checks the task against the checkpoint and the class orders first."""
    check_task(predictor, task)
    class_names = tuple(source.class_names)
    check_class_order(predictor, class_names)
    count = len(source) if limit is None else min(int(limit), len(source))
    if count < 1:
        raise ValueError(f"nothing to evaluate: the split has {len(source)} examples, limit "
                         f"{limit}")
    evaluator = make_evaluator(task, class_names)
    predictions = []
    for example, prediction in predict_all(
        predictor, source, task, options, range(count), progress
    ):
        evaluator.add(prediction, example)
        predictions.append(prediction)
    return Evaluation(task, evaluator.compute(), predictions, class_names, options)


# --- Files -----------------------------------------------------------------------------------

METRIC_TITLES = {
    "top1_error": "top-1 error",
    "top5_error": "top-5 error",
    "classification_top1_error": "classification top-1 error",
    "classification_top5_error": "classification top-5 error",
    "mAP": "mAP",
    "num_images": "images",
    "num_classes": "classes averaged",
}


def _format(value) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.4f}"


def markdown_table(evaluation: Evaluation, description: Mapping[str, Any]) -> str:
    """The metrics as a markdown table, with what was evaluated above it."""
    lines = [f"# {evaluation.task}: {description.get('data', '')}", ""]
    lines += [f"- {key}: `{value}`" for key, value in description.items()]
    lines += ["", "| metric | value |", "|---|---|"]
    per_class = []
    for key, value in evaluation.metrics.items():
        if key.startswith("AP/"):
            per_class.append((key[3:], value))
        else:
            lines.append(f"| {METRIC_TITLES.get(key, key)} | {_format(value)} |")
    if per_class:
        lines += ["", "| class | AP |", "|---|---|"]
        lines += [f"| {name} | {_format(value)} |" for name, value in per_class]
    return "\n".join(lines) + "\n"


def write_outputs(
    evaluation: Evaluation,
    out_dir: str | os.PathLike,
    description: Mapping[str, Any],
    class_ids: Sequence[int] | None = None,
) -> dict[str, Path]:
    """Write ``metrics.json`` (``description`` keys, ``options``, ``metrics``),
    ``metrics.md`` and the task's submission file (``class_ids``: the file id of each of
    our classes, default index + 1). Returns ``{kind: path}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out / "metrics.json",
        "table": out / "metrics.md",
        "submission": out / SUBMISSION_FILES[evaluation.task],
    }
    record = dict(description) | {
        "task": evaluation.task,
        "options": evaluation.options.to_json(),
        "metrics": evaluation.metrics,
        "submission": paths["submission"].name,
    }
    paths["metrics"].write_text(json.dumps(record, indent=2) + "\n")
    paths["table"].write_text(markdown_table(evaluation, description))
    writer = {
        "classify": write_classification,
        "localize": write_localization,
        "detect": write_detection,
    }[evaluation.task]
    writer(paths["submission"], evaluation.predictions, class_ids=class_ids)
    return paths
