"""ILSVRC submission files: writers and readers.

The formats of the ILSVRC development kit (readme sections 2.4 and 3.3):

- classification: one line per image, in image order: up to 5 class ids, best first::

      <label(1)> <label(2)> ... <label(5)>

- classification with localization: one line per image: up to 5 guesses of a class id and
  a box, best first::

      <label(1)> <xmin(1)> <ymin(1)> <xmax(1)> <ymax(1)> <label(2)> ...

- detection: one line per detected object, in any order::

      <image_index> <label> <confidence> <xmin> <ymin> <xmax> <ymax>

Conventions. Class ids in files are 1-based (the devkit's ``ILSVRC2012_ID``: 1..1000 for
CLS-LOC, 1..200 for DET); ours are 0-based indices, mapped by ``class_ids`` (the file id of
each of our classes; default ``index + 1``; pass the devkit's ids when our class order is not
the devkit's). Image indices are 1-based (line numbers of the devkit's ``val.txt``). Boxes
in files are the devkit's inclusive pixel indices (width ``xmax - xmin + 1``), with
``pixel_base`` = 1 as in PASCAL VOC, whose annotation format ILSVRC uses; our continuous
``xyxy`` box ``[x1, x2)`` is written ``xmin = x1 + 1``, ``xmax = x2`` (see NOTES.md).
Numbers are written as the shortest decimal that reads back to the same float, so a file
written and read back gives the arrays it was written from.

Readers return what the evaluators take: per image, 0-based labels and continuous float32
boxes. A malformed line raises ``SubmissionFormatError`` naming the file and the line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from overfeat.evaluation.evaluators import ILSVRC_GUESSES, ranked_guesses
from overfeat.evaluation.matching import as_boxes

PathLike = str | os.PathLike
DEFAULT_PIXEL_BASE = 1


class SubmissionFormatError(ValueError):
    """A submission file that does not follow its format; the message names file and line."""


def xyxy_to_inclusive(boxes, pixel_base: int = DEFAULT_PIXEL_BASE) -> np.ndarray:
    """Our continuous ``[x1, x2) x [y1, y2)`` boxes [N, 4] -> the devkit's inclusive pixel
    indices [N, 4] float64: ``(x1 + b, y1 + b, x2 - 1 + b, y2 - 1 + b)``, b = ``pixel_base``."""
    boxes = as_boxes(boxes)
    return boxes + np.array([0.0, 0.0, -1.0, -1.0]) + pixel_base


def inclusive_to_xyxy(boxes, pixel_base: int = DEFAULT_PIXEL_BASE) -> np.ndarray:
    """The devkit's inclusive pixel indices [N, 4] -> our continuous xyxy boxes [N, 4] float64
    (inverse of ``xyxy_to_inclusive``)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return as_boxes(boxes + np.array([0.0, 0.0, 1.0, 1.0]) - pixel_base)


class _ClassIds:
    """Our 0-based class indices <-> the file's class ids."""

    def __init__(self, class_ids: Sequence[int] | None):
        self.ids = None if class_ids is None else [int(i) for i in class_ids]
        if self.ids is not None:
            if len(set(self.ids)) != len(self.ids) or min(self.ids, default=1) < 1:
                raise ValueError("class_ids must be distinct positive integers")
            self.index_of = {file_id: index for index, file_id in enumerate(self.ids)}

    def to_file(self, label: int) -> int:
        if label < 0:
            raise ValueError(f"class index {label} is negative")
        if self.ids is None:
            return label + 1
        if label >= len(self.ids):
            raise ValueError(f"class {label} has no file id ({len(self.ids)} class_ids)")
        return self.ids[label]

    def from_file(self, file_id: int) -> int:
        if self.ids is None:
            if file_id < 1:
                raise ValueError(f"class id {file_id} is not >= 1")
            return file_id - 1
        if file_id not in self.index_of:
            raise ValueError(f"class id {file_id} is not one of the {len(self.ids)} class_ids")
        return self.index_of[file_id]


def _number(value: float) -> str:
    """Shortest decimal that reads back to the same float64 (``12.5``, ``3``, ``1e-05``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _write_lines(path: PathLike, lines: Iterable[str]) -> int:
    count = 0
    with open(path, "w", encoding="ascii") as file:
        for line in lines:
            file.write(line + "\n")
            count += 1
    return count


def write_classification(
    path: PathLike,
    predictions: Iterable,
    *,
    max_guesses: int = ILSVRC_GUESSES,
    class_ids: Sequence[int] | None = None,
) -> int:
    """Write one line per image: its first ``max_guesses`` class ids, best first.

    ``predictions`` are what ``ClassificationEvaluator.add`` takes (score vectors, ranked
    labels or dicts), in image order. Returns the number of lines written.
    """
    ids = _ClassIds(class_ids)

    def lines():
        for prediction in predictions:
            labels, _ = ranked_guesses(prediction, max_guesses)
            yield " ".join(str(ids.to_file(int(label))) for label in labels)

    return _write_lines(path, lines())


def write_localization(
    path: PathLike,
    predictions: Iterable[Mapping],
    *,
    max_guesses: int = ILSVRC_GUESSES,
    class_ids: Sequence[int] | None = None,
    pixel_base: int = DEFAULT_PIXEL_BASE,
) -> int:
    """Write one line per image: its first ``max_guesses`` (class id, box) guesses.

    ``predictions`` are dicts with ``labels`` [K], ``boxes`` [K, 4] (continuous xyxy pixels)
    and optionally ``scores`` [K] (ranked by them if present), in image order.
    """
    ids = _ClassIds(class_ids)

    def lines():
        for index, prediction in enumerate(predictions):
            labels, boxes = ranked_guesses(prediction, max_guesses)
            if boxes is None:
                raise ValueError(f"prediction {index} has no 'boxes' to localize with")
            guesses = []
            for label, box in zip(labels, xyxy_to_inclusive(boxes, pixel_base), strict=True):
                guesses.append(" ".join([str(ids.to_file(int(label))), *map(_number, box)]))
            yield " ".join(guesses)

    return _write_lines(path, lines())


def write_detection(
    path: PathLike,
    predictions: Iterable[Mapping],
    *,
    image_indices: Sequence[int] | None = None,
    class_ids: Sequence[int] | None = None,
    pixel_base: int = DEFAULT_PIXEL_BASE,
) -> int:
    """Write one line per detection: image index, class id, confidence, box.

    ``predictions`` are the inference API's per-image dicts (``boxes`` [K, 4] continuous xyxy
    pixels, ``scores`` [K], ``labels`` [K]). Image ``i`` (0-based, in iteration order) is
    written as ``image_indices[i]``, by default ``i + 1``. Returns the number of lines.
    """
    ids = _ClassIds(class_ids)

    def lines():
        for position, prediction in enumerate(predictions):
            image = position + 1 if image_indices is None else int(image_indices[position])
            if image < 1:
                raise ValueError(f"image index {image} is not >= 1")
            boxes = xyxy_to_inclusive(prediction["boxes"], pixel_base)
            labels = np.asarray(prediction["labels"]).reshape(-1)
            scores = np.asarray(prediction["scores"], dtype=np.float64).reshape(-1)
            if not len(boxes) == len(labels) == len(scores):
                raise ValueError(
                    f"prediction {position}: {len(boxes)} boxes, {len(labels)} labels and "
                    f"{len(scores)} scores"
                )
            if not np.all(np.isfinite(scores)):
                raise ValueError(f"prediction {position} holds a non-finite score")
            for box, label, score in zip(boxes, labels, scores, strict=True):
                fields = [str(image), str(ids.to_file(int(label))), _number(score)]
                yield " ".join(fields + [_number(value) for value in box])

    return _write_lines(path, lines())


def _read_lines(path: PathLike) -> list[str]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no submission file at {path}")
    with open(path, encoding="ascii", errors="replace") as file:
        return file.read().splitlines()


def _parse_numbers(path: PathLike, number: int, line: str) -> list[float]:
    values = []
    for token in line.split():
        try:
            value = float(token)
        except ValueError:
            raise SubmissionFormatError(f"{path}:{number}: {token!r} is not a number") from None
        if not math.isfinite(value):
            raise SubmissionFormatError(f"{path}:{number}: {token!r} is not a finite number")
        values.append(value)
    return values


def _parse_id(path: PathLike, number: int, value: float, what: str) -> int:
    if value != int(value):
        raise SubmissionFormatError(f"{path}:{number}: {what} {value} is not an integer")
    return int(value)


def _check_line_count(path: PathLike, lines: list[str], num_images: int | None) -> None:
    if num_images is not None and len(lines) != num_images:
        raise SubmissionFormatError(
            f"{path}: {len(lines)} lines, expected one per image ({num_images})"
        )


def read_classification(
    path: PathLike,
    *,
    num_images: int | None = None,
    class_ids: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Read a classification file: per image, its ranked 0-based labels (int64 [k])."""
    ids, lines = _ClassIds(class_ids), _read_lines(path)
    _check_line_count(path, lines, num_images)
    images = []
    for number, line in enumerate(lines, start=1):
        labels = []
        for value in _parse_numbers(path, number, line):
            file_id = _parse_id(path, number, value, "class id")
            try:
                labels.append(ids.from_file(file_id))
            except ValueError as error:
                raise SubmissionFormatError(f"{path}:{number}: {error}") from None
        images.append(np.asarray(labels, dtype=np.int64))
    return images


def read_localization(
    path: PathLike,
    *,
    num_images: int | None = None,
    class_ids: Sequence[int] | None = None,
    pixel_base: int = DEFAULT_PIXEL_BASE,
) -> list[dict[str, np.ndarray]]:
    """Read a localization file: per image ``{"labels": int64 [k], "boxes": float32 [k, 4]}``
    (0-based labels; continuous xyxy boxes), guesses in file order, best first."""
    ids, lines = _ClassIds(class_ids), _read_lines(path)
    _check_line_count(path, lines, num_images)
    images = []
    for number, line in enumerate(lines, start=1):
        values = _parse_numbers(path, number, line)
        if len(values) % 5:
            raise SubmissionFormatError(
                f"{path}:{number}: {len(values)} numbers; expected groups of 5 "
                "(label xmin ymin xmax ymax)"
            )
        groups = np.asarray(values, dtype=np.float64).reshape(-1, 5)
        try:
            labels = [ids.from_file(_parse_id(path, number, v, "class id")) for v in groups[:, 0]]
            boxes = inclusive_to_xyxy(groups[:, 1:], pixel_base)
        except SubmissionFormatError:
            raise
        except ValueError as error:
            raise SubmissionFormatError(f"{path}:{number}: {error}") from None
        images.append(
            {"labels": np.asarray(labels, dtype=np.int64), "boxes": boxes.astype(np.float32)}
        )
    return images


def read_detection(
    path: PathLike,
    *,
    num_images: int | None = None,
    class_ids: Sequence[int] | None = None,
    pixel_base: int = DEFAULT_PIXEL_BASE,
) -> list[dict[str, np.ndarray]]:
    """Read a detection file: per image (position ``index - 1``) the inference API's dict
    ``{"boxes": float32 [K, 4], "scores": float64 [K], "labels": int64 [K]}``, detections in
    file order. Without ``num_images``, the list ends at the highest image index in the file.
    Blank lines are skipped."""
    ids, lines = _ClassIds(class_ids), _read_lines(path)
    rows: list[tuple[int, int, float, list[float]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        values = _parse_numbers(path, number, line)
        if len(values) != 7:
            raise SubmissionFormatError(
                f"{path}:{number}: {len(values)} numbers; expected 7 "
                "(image_index label confidence xmin ymin xmax ymax)"
            )
        image = _parse_id(path, number, values[0], "image index")
        if image < 1 or (num_images is not None and image > num_images):
            limit = "" if num_images is None else f" <= {num_images}"
            raise SubmissionFormatError(f"{path}:{number}: image index {image} is not >= 1{limit}")
        try:
            label = ids.from_file(_parse_id(path, number, values[1], "class id"))
            box = inclusive_to_xyxy([values[3:]], pixel_base)[0]
        except SubmissionFormatError:
            raise
        except ValueError as error:
            raise SubmissionFormatError(f"{path}:{number}: {error}") from None
        rows.append((image - 1, label, values[2], box))
    count = num_images if num_images is not None else max((r[0] + 1 for r in rows), default=0)
    per_image: list[list] = [[] for _ in range(count)]
    for row in rows:
        per_image[row[0]].append(row[1:])
    images = []
    for detections in per_image:
        images.append(
            {
                "boxes": np.asarray([d[2] for d in detections], np.float32).reshape(-1, 4),
                "scores": np.asarray([d[1] for d in detections], np.float64),
                "labels": np.asarray([d[0] for d in detections], np.int64),
            }
        )
    return images
