"""Inference on images: the public prediction API.

``classify`` is the original release's single-view classifier: resize the image so that its
shorter side is the network's field of view, take the central square of that size, run the
network (one 1x1 output cell) and softmax the logits. The release's ``overfeat`` script did
the same with ImageMagick (``-resize 231x231^``, then a centred crop in ``overfeatcmd``),
except that it used 231 for BOTH nets; we use each net's own view (221 for the accurate
net), where the release fed the accurate net a 231 crop whose last 10 rows and columns
its layers then dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from overfeat.features import FeatureExtractor, ImageLike
from overfeat.images import as_rgb_array, center_crop, resize_shorter_side


@dataclasses.dataclass(frozen=True)
class ClassScore:
    """One class of a prediction: its output index, name (or ``None``) and probability."""

    index: int
    name: str | None
    probability: float


def classification_view(image: np.ndarray, view: int) -> np.ndarray:
    """The release's single view of ``[H, W, 3]``: shorter side resized to ``view``, then the
    central ``view x view`` square."""
    return center_crop(resize_shorter_side(image, view), view)


def class_probabilities(extractor: FeatureExtractor, images: Sequence[ImageLike]) -> np.ndarray:
    """``float32 [B, C]``: softmax of each image's logits on its central view.

    The logits map is 1x1 at the field of view; its spatial maximum is taken per class so
    that the rule stays defined should the view ever give more cells.
    """
    view = extractor.arch.field_of_view
    crops = [classification_view(as_rgb_array(image), view) for image in images]
    output = extractor.arch.classifier_names[-1]
    logits = extractor.extract(crops, layer=output, stride="coarse")  # [B, h, w, C]
    scores = logits.max(axis=(1, 2)).astype(np.float64)  # [B, C]
    scores -= scores.max(axis=-1, keepdims=True)
    probabilities = np.exp(scores)
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return probabilities.astype(np.float32)


def classify(
    extractor: FeatureExtractor, images: Sequence[ImageLike], *, top: int = 5
) -> list[list[ClassScore]]:
    """The ``top`` most probable classes of each image, most probable first."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    probabilities = class_probabilities(extractor, images)  # [B, C]
    names = extractor.class_names
    results = []
    for row in probabilities:
        best = np.argsort(-row, kind="stable")[:top]
        results.append([
            ClassScore(int(i), None if names is None else names[i], float(row[i])) for i in best
        ])
    return results
