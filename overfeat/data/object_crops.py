"""A detection dataset read as classification/localization examples: one per object.

The paper's classifier and box regressor learn from ImageNet's kind of image (one object that
the label names, and its box: ILSVRC-LOC). A detection dataset (VOC, COCO, a folder of one's
own photos) has no image label, only objects. ``ObjectCrops`` turns each object into such an
example: the image cut to a window around the object with some context, ``label`` the
object's class, and the boxes of every object left in the window (the named object's whole).
``for_task`` applies it where a task needs an image label, so the classify and localize jobs
and their evaluations run on detection data as they are.

Crowd and difficult objects (``ignore``) and objects under ``min_size`` pixels get no example
of their own: neither names its image reliably. Finding the objects reads every example's
annotations once, when the source opens (``annotations(i)`` where the source has it, which
skips decoding the image).
"""

from __future__ import annotations

import math

import numpy as np

from overfeat.data import transforms

DEFAULT_CONTEXT = 0.5  # the window's side: the object's longer side times 1 + context
DEFAULT_MIN_SIZE = 8.0  # pixels: the shorter side of the smallest object given an example
LABELLED_TASKS = ("classify", "localize")


class ObjectCrops:
    """``source``'s objects as examples (see the module doc); random access and picklable.

    Args:
      source: a random-access source with boxes (``source[i]`` the example contract of
        ``overfeat.data.checks``) and ``class_names``.
      context: the window's side is the object's longer side times ``1 + context``, shrunk to
        the image and shifted inside it (the object is always whole in its window).
      min_size: objects whose shorter side is under this many pixels get no example.
    """

    def __init__(self, source, *, context: float = DEFAULT_CONTEXT,
                 min_size: float = DEFAULT_MIN_SIZE):
        if context < 0:
            raise ValueError(f"context must be >= 0, got {context}")
        self.source = source
        self.context = float(context)
        self.min_size = float(min_size)
        self.class_names = tuple(source.class_names)
        self.has_label = True  # for_task: a source read as crops needs no second wrapping
        read = getattr(source, "annotations", source.__getitem__)
        pairs = [(image, box) for image in range(len(source))
                 for box in _usable_objects(read(image), self.min_size)]
        self._pairs = np.asarray(pairs, np.int64).reshape(-1, 2)  # [N, 2] (image, object)
        if not len(self._pairs) and len(source):
            raise ValueError(
                f"{_name(source)}: none of its {len(source)} images has an object to crop "
                f"(objects not marked ignore, at least {min_size:g} pixels on the shorter "
                "side): classify and localize need labelled objects")

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, index: int) -> dict:
        image_index, object_index = (int(v) for v in self._pairs[index])
        example = self.source[image_index]
        height, width = transforms.image_shape(example)
        box = np.asarray(example["boxes"], np.float32)[object_index]
        side = float(max(box[2] - box[0], box[3] - box[1])) * (1.0 + self.context)
        left, right = _span(box[0], box[2], width, side)
        top, bottom = _span(box[1], box[3], height, side)
        # The named object is whole in the window, so the crop keeps its box; objects the
        # window cuts follow the pipelines' rule (transforms.DEFAULT_MIN_VISIBLE).
        crop = transforms.crop(example, top, left, bottom - top, right - left)
        crop["label"] = np.int32(example["labels"][object_index])
        crop["filename"] = f"{example.get('filename', image_index)}#{object_index}"
        crop.pop("image_id", None)  # the crop is not the image the id names
        return crop

    def __repr__(self) -> str:
        return (f"ObjectCrops({_name(self.source)}, {len(self)} objects of "
                f"{len(self.source)} images, context {self.context:g})")


def for_task(source, task: str):
    """The source a ``task`` reads: classify and localize need an image ``label``; a source
    without one (a detection dataset) is read as its ``ObjectCrops``."""
    if task in LABELLED_TASKS and not _has_label(source):
        return ObjectCrops(source)
    return source


def _has_label(source) -> bool:
    known = getattr(source, "has_label", None)
    if known is not None:
        return bool(known)
    return len(source) == 0 or "label" in source[0]


def _usable_objects(example: dict, min_size: float) -> list[int]:
    boxes = np.asarray(example.get("boxes", np.zeros((0, 4))), np.float32).reshape(-1, 4)
    ignore = np.asarray(example.get("ignore", np.zeros(len(boxes), bool)), bool)
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return np.flatnonzero(~ignore & (sides >= min_size)).tolist()


def _span(low: float, high: float, limit: int, side: float) -> tuple[int, int]:
    """Integer edges of a window ``side`` long (at least the object, at most ``limit``)
    centred on ``[low, high]`` and shifted into ``[0, limit]``; it covers ``[low, high]``."""
    length = min(float(limit), max(side, float(high - low)))
    start = min(max((low + high - length) / 2.0, 0.0), limit - length)
    return math.floor(start), min(limit, math.ceil(start + length))


def _name(source) -> str:
    return getattr(source, "name", type(source).__name__)
