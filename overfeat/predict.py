"""Inference on images: the public prediction API (paper sections 3.3, 4.1-4.3 and 5).

::

    predictor = Predictor.from_checkpoint("ckpt/")   # or Predictor(model, class_names=...)
    predictor.classify(images)     # per image {"labels", "scores", "class_names", "probabilities"}
    predictor.localize(images)     # per image {"boxes" [K, 4], "scores" [K], "labels" [K], ...}
    predictor.detect(images)       # the same, background excluded, thresholded

Every method runs the trunk once per scale of the six-scale plan (``overfeat.scales``) and,
with ``flips=True``, once more on the mirrored image; the classifier (and the regressor) read
its layer-5 maps densely at ``stride="fine"`` (every offset of the last pool) or
``"coarse"``. The images' sizes are planned on the fine grid for either stride, so that
Table 2's coarse and fine rows see the same inputs.

* **Classification (3.3).** A softmax per output cell, then per scale and flip the spatial
  maximum of each class, then the mean of those vectors over scales and flips, then the top
  classes. (Softmax before the maximum: each cell is one view whose probabilities are
  comparable with any other view's, as in the release, which softmaxes every cell; a maximum
  of logits would mix different cells' unnormalised scores.) ``scales="center"`` is the
  original release's single view instead (``classify`` below, ``classification_view``).
* **Boxes (4.1).** Each cell's regressor output, in its window's frame
  (``boxes.encode_boxes_in_windows``), becomes a box in ORIGINAL image pixels (window, flip,
  scale undone: ``boxes.boxes_in_original_image_xyxy``) that carries its cell's class
  probabilities as confidences.
* **Localization and detection (4.3, 5).** Per scale, the top-k classes by their maximum
  probability over the scale's cells and flips (a detector's background class never among
  them), their boxes from every cell of that scale, all scales together merged by
  ``merge="greedy"`` (the paper's accumulator: merged boxes ranked by the sum of their
  members' confidences, reported calibrated to [0, 1] by ``calibrated_scores``), ``"nms"`` or
  ``"nmm"`` (``overfeat.merge``). Steps (a)-(c) run inside the compiled program, so only the
  top-k classes' maps leave the device. A classifier without a regressor but with a
  background class boxes each cell by its window instead (the sliding-window flow).

Batches: each image's scaled sizes are snapped to a few aspect buckets
(``scales.bucket_shapes``) and batches are padded to a power of two, so a stream of images
of any sizes compiles at most ``program_bound()`` programs per configuration.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from PIL import Image

from overfeat import dense, merge
from overfeat.architectures import Architecture, Stride
from overfeat.boxes import boxes_in_original_image_xyxy, cell_windows_xyxy, clip_xyxy
from overfeat.features import FeatureExtractor, ImageLike
from overfeat.images import as_rgb_array, center_crop, resize_image, resize_shorter_side
from overfeat.models import ConvLayer, OverFeat
from overfeat.scales import (
    ALL_SCALES,
    DEFAULT_ASPECT_BUCKETS,
    Rule,
    ScaledSize,
    bucket_shapes,
    scale_plan,
)

Scales = Sequence[int] | Literal["center"]
MergeMethod = Literal["greedy", "nms", "nmm"]

DEFAULT_BATCH_SIZE = 8

# ``detect``'s (and ``overfeat detect``'s) threshold on the calibrated score
# (``calibrated_scores``): merged boxes below it are dropped. Chosen on the two trained
# detectors of scripts/benchmark_learning.py (NOTES.md "Inference", output quality): the
# lowest threshold at which neither returns a box on noise, flat colours or gradients (the
# own-data detector gave 6.6 a gradient at 0.5, 1.4 at 0.6), keeping 83% of its objects.
DEFAULT_SCORE_THRESHOLD = 0.7
# ``detect``'s last step: a merged box overlapping a better one of its class by more than this
# IoU is dropped. The greedy merge joins boxes whose match score is below its t, which leaves
# pairs of boxes on one object when their centres are apart (IoU 0.5-0.7 with an offset):
# 14% of the demo detector's returned boxes (NOTES.md "What limits the small nets").
DEFAULT_DUPLICATE_IOU = 0.5


# A greedy-merged box scores 0.5 when its summed confidence is this share of the votes one
# object could collect (``possible_votes``). Measured (NOTES.md "Inference", scores): true
# boxes of the demo's and the own-data walk-through's detectors sum a median 7% and 19% of
# their possible votes, their false boxes' 90th percentile 0.8% and 3.6%.
HALF_SCORE_SHARE = 0.05


def possible_votes(arch: Architecture, sides: Sequence[int], *, flips: bool,
                   stride: Stride = "fine") -> int:
    """The most cells that can vote for one object over a run: at each scale (square side
    ``sides[i]``), the cells whose windows hold one point of the image (``ceil(view /
    step)`` per axis), or all the scale's cells when it has fewer; twice with ``flips``.
    A constant of the inference setting, so dividing by it keeps the accumulator's ranking
    across images."""
    step = arch.fine_stride if stride == "fine" else arch.stride
    per_point = math.ceil(arch.field_of_view / step) ** 2
    cells = sum(min(arch.output_size(side, stride) ** 2, per_point) for side in sides)
    return cells * (2 if flips else 1)


def calibrated_scores(summed, votes: float) -> np.ndarray:
    """Greedy-merged scores in [0, 1]: ``summed / (summed + HALF_SCORE_SHARE * votes)``,
    ``float32``, ``votes`` = ``possible_votes`` of the run.

    ``summed`` is the accumulator's score (the sum of a merged box's member confidences,
    section 4.3), unbounded: it grows with the scales, flips and cells run. As a share of the
    votes one object could collect it means the same for any setting; ``y / (y + share)``
    maps that share ``y`` into [0, 1], 0.5 at ``HALF_SCORE_SHARE``. Strictly increasing in
    ``summed`` for a fixed setting, so the ranking (and AP) is the accumulator's.

    Why not ``1 - exp(-y / share)``: it saturates. In float32 it is exactly 1 from 17 shares
    on, tying boxes the accumulator ranks apart (a box gathering every cell of a big object
    reaches that); ``y / (y + share)`` stays strictly increasing.
    """
    if votes <= 0:
        raise ValueError(f"votes must be positive, got {votes}")
    summed = np.asarray(summed, np.float64)
    if np.any(summed < 0):
        raise ValueError("summed confidences are sums of probabilities: never negative")
    return (summed / (summed + HALF_SCORE_SHARE * votes)).astype(np.float32)


# --- The original release's single view ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClassScore:
    """One class of a prediction: its output index, name (or ``None``) and probability."""

    index: int
    name: str | None
    probability: float


def classification_view(image: np.ndarray, view: int) -> np.ndarray:
    """The release's single view of ``[H, W, 3]``: shorter side resized to ``view``, then the
    central ``view x view`` square. The release's script resized to 231 for BOTH nets
    (``convert -resize 231x231^``, then a centred crop in ``overfeatcmd``), feeding the
    accurate net 10 rows and columns it drops; we use each net's own view (221 accurate)."""
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
    """The release's single-view classifier: the ``top`` most probable classes of each image,
    most probable first. ``Predictor.classify`` is the paper's multi-scale one (and runs this
    one with ``scales="center"``)."""
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


# --- One scale of a batch, compiled ------------------------------------------------------------


def _scale_forward(
    graphdef,
    state,
    images: jax.Array,
    *,
    stride: Stride,
    flips: bool,
    top_k: int,
    background_index: int | None,
    per_class: bool,
    return_maps: bool,
) -> dict[str, jax.Array]:
    """One scale of a batch: ``images [b, H, W, 3]`` (0..255) -> per-image arrays.

    ``F`` is 2 with flips (the image, then its mirror), else 1:

    * ``flip_maxima [b, F, C]``: each class's maximum probability over the cells (3.3 (i)).
    * ``probabilities [b, F, h, w, C]``: the softmax maps (``return_maps`` only).
    * with ``top_k``: ``top_classes [b, k]`` (4.3 (a): by the maximum over cells and flips;
      the ``background_index`` class excluded), ``top_probabilities [b, F, h, w, k]`` and,
      with a regressor, ``deltas [b, F, h, w, k or 1, 4]`` (its outputs for those classes;
      one set for a shared regressor), in each cell's window frame.
    """
    model = nnx.merge(graphdef, state)
    views = images.astype(jnp.float32)
    if flips:
        views = jnp.concatenate([views, views[:, :, ::-1]])  # [F*b, H, W, 3]
    outputs = dense.dense_outputs(model, views, stride=stride)
    count = 2 if flips else 1

    def by_image(x):  # [F*b, ...] -> [b, F, ...]
        return jnp.swapaxes(x.reshape(count, -1, *x.shape[1:]), 0, 1)

    logits = outputs["logits"].astype(jnp.float32)
    probabilities = by_image(jax.nn.softmax(logits, axis=-1))  # [b, F, h, w, C]
    result = {"flip_maxima": probabilities.max(axis=(2, 3))}  # [b, F, C]
    if return_maps:
        result["probabilities"] = probabilities
    if top_k:
        maxima = result["flip_maxima"].max(axis=1)  # [b, C]
        if background_index is not None:
            maxima = maxima.at[:, background_index].set(-jnp.inf)
        _, top = jax.lax.top_k(maxima, top_k)  # [b, k]; ties: the lower class first
        result["top_classes"] = top
        result["top_probabilities"] = jnp.take_along_axis(
            probabilities, top[:, None, None, None, :], axis=-1
        )  # [b, F, h, w, k]
        if "boxes" not in outputs:  # a classifier: each box is its cell's window
            return result
        deltas = by_image(outputs["boxes"].astype(jnp.float32))  # [b, F, h, w, 4 | 4C]
        deltas = deltas.reshape(*deltas.shape[:-1], -1, 4)  # [b, F, h, w, 1 | C, 4]
        if per_class:  # class-major outputs: [..., C, 4]
            deltas = jnp.take_along_axis(deltas, top[:, None, None, None, :, None], axis=-2)
        result["deltas"] = deltas
    return result


@dataclasses.dataclass(frozen=True)
class _ScalePass:
    """One image at one scale: its size there and its arrays of ``_scale_forward`` (the batch
    axis removed)."""

    scaled: ScaledSize
    outputs: dict[str, np.ndarray]


def _with_compute_dtype(model: OverFeat, dtype) -> OverFeat:
    """A copy of ``model`` (sharing its arrays) whose convolutions compute in ``dtype``."""
    if dtype is None:
        return model
    graphdef, state = nnx.split(model)
    copy = nnx.merge(graphdef, state)
    for _, node in nnx.iter_graph(copy):
        if isinstance(node, ConvLayer):
            node.dtype = jnp.dtype(dtype)
    return copy


# --- The predictor ---------------------------------------------------------------------------


class Predictor:
    """Classification, localization and detection on images with one network.

    Args:
      model: an ``OverFeat`` network (weights in it). ``localize``/``detect`` use its
        regressor; without one they box each confident cell by its window, which needs a
        background class (the sliding-window flow of a classifier trained on class folders
        with a ``background/`` one).
      class_names: a name per class, or ``None``.
      background_class: the last class is a detector's background. Without it a class named
        ``background`` (any case) is the background. Either is never a localized or
        detected class (``background_index``).
      rule: the scale plan's sizing rule (``scales.scale_plan``): ``"nearest"`` or
        ``"table5"``.
      aspect_buckets: image aspects are snapped to these before planning (bounding the
        compiled shapes; boxes still map back exactly); ``None`` keeps each image's aspect
        (any number of programs).
      batch_size: images of one shape run together, at most this many; a smaller batch is
        padded to a power of two.
      compute_dtype: e.g. ``"bfloat16"`` for the convolutions (softmax and boxes stay
        float32); ``None`` keeps the model's.
      precision: matmul precision compiled in (``jax.default_matmul_precision``), e.g.
        ``"highest"`` for full float32 on GPUs that default to TF32.
    """

    def __init__(
        self,
        model: OverFeat,
        *,
        class_names: Sequence[str] | None = None,
        background_class: bool = False,
        rule: Rule = "nearest",
        aspect_buckets: Sequence[float] | None = DEFAULT_ASPECT_BUCKETS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        compute_dtype: str | None = None,
        precision: str | None = None,
    ):
        if class_names is not None and len(class_names) != model.num_classes:
            raise ValueError(
                f"{len(class_names)} class names for a model of {model.num_classes} classes"
            )
        if background_class and model.num_classes < 2:
            raise ValueError("a model with a background class needs at least one other class")
        if rule not in ("nearest", "table5"):
            raise ValueError(f"rule must be 'nearest' or 'table5', got {rule!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.class_names = None if class_names is None else tuple(class_names)
        self.background_class = bool(background_class)
        self.background_index = _background_index(
            self.class_names, self.background_class, model.num_classes
        )
        self.rule = rule
        # A model trained for its own scale sides uses them under the default rule; "table5"
        # is an explicit request for the paper's plan.
        self.sides = model.scale_sides if rule == "nearest" else None
        self.aspect_buckets = None if aspect_buckets is None else tuple(aspect_buckets)
        self.batch_size = int(batch_size)
        self.precision = precision
        self._running_model = _with_compute_dtype(model, compute_dtype)
        self._graphdef, self._state = nnx.split(self._running_model)
        self._programs: dict[tuple, Any] = {}
        self._extractor: FeatureExtractor | None = None

    @classmethod
    def from_checkpoint(cls, directory: str | os.PathLike, **options) -> Predictor:
        """A model saved with ``overfeat.weights.save_model`` (class names and background
        class from its ``overfeat.json``); ``options`` as the constructor's."""
        from overfeat.weights import load_model

        model, info = load_model(directory)
        return cls(
            model, class_names=info.class_names, background_class=info.background_class, **options
        )

    @classmethod
    def from_release(cls, arch: str, path: str | os.PathLike, **options) -> Predictor:
        """The original release's ``fast`` or ``accurate`` network (classification only)."""
        from overfeat.imagenet_classes import release_class_names
        from overfeat.weights import load_release

        return cls(load_release(arch, path), class_names=release_class_names(), **options)

    @property
    def arch(self) -> Architecture:
        return self.model.arch

    @property
    def num_classes(self) -> int:
        return self.model.num_classes

    @property
    def program_count(self) -> int:
        """Programs compiled so far (one per input shape, batch size and configuration)."""
        return len(self._programs)

    def batch_sizes(self) -> tuple[int, ...]:
        """The batch sizes programs are compiled for: powers of two below ``batch_size``,
        and ``batch_size``."""
        sizes = {self.batch_size}
        size = 1
        while size < self.batch_size:
            sizes.add(size)
            size *= 2
        return tuple(sorted(sizes))

    def program_bound(self, scales: Sequence[int] = ALL_SCALES) -> int:
        """The most programs one configuration (task, stride, flips, k, maps, input dtype)
        compiles for images of ANY sizes at ``scales``: the bucket shapes of those scales
        times the batch sizes."""
        if self.aspect_buckets is None:
            raise ValueError("without aspect_buckets every new aspect compiles a new program")
        shapes = bucket_shapes(
            self.arch, scales, rule=self.rule, stride="fine", aspect_buckets=self.aspect_buckets,
            sides=self.sides,
        )
        return len({shape for found in shapes.values() for shape in found}) * len(
            self.batch_sizes()
        )

    def plan(self, height: int, width: int, scales: Sequence[int] = ALL_SCALES):
        """The ``ScaledSize`` of each scale for an image of ``height x width``."""
        return scale_plan(
            self.arch,
            height,
            width,
            scales,
            rule=self.rule,
            stride="fine",
            aspect_buckets=self.aspect_buckets,
            sides=self.sides,
        )

    # --- Tasks ---------------------------------------------------------------------------

    def classify(
        self,
        images,
        *,
        scales: Scales = ALL_SCALES,
        stride: Stride = "fine",
        flips: bool = True,
        top: int = 5,
        return_maps: bool = False,
    ):
        """Multi-scale classification (section 3.3).

        Args:
          images: one image or a sequence (or a ``[B, H, W, 3]`` array): ``uint8``/float
            RGB arrays on the 0..255 scale, file paths or PIL images, of any sizes.
          scales: a non-empty subset of 1..6 (Table 5's rows), or ``"center"``: the
            original release's single central view (``stride`` then unused).
          stride: ``"fine"`` or ``"coarse"``.
          flips: also run the mirrored image and average it in.
          top: classes to return (at most the model's).
          return_maps: add ``maps`` (``[{"scale", "size", "flipped", "probabilities"
            [h, w, C], "windows" [h, w, 4]}]``, windows in original pixels).

        Returns per image (a list, or one dict for one image) ``{"labels" [top] int32,
        "scores" [top] float32, "class_names", "probabilities" [C]}``: the mean over
        scales and flips of each class's maximum cell probability (not summing to 1).
        """
        arrays, single = _as_arrays(images)
        if top < 1:
            raise ValueError(f"top must be at least 1, got {top}")
        top = min(top, self.num_classes)
        if isinstance(scales, str):
            if scales != "center":
                raise ValueError(f"scales must be a subset of 1..6 or 'center', got {scales!r}")
            if return_maps:
                raise ValueError("the central view has no maps (one cell); use scales 1..6")
            probabilities = self._center_probabilities(arrays, flips)  # [B, C]
            results = [self._ranked(row, top) for row in probabilities]
        else:
            _check_options(scales, stride)
            passes = self._dense_passes(
                arrays, scales, stride=stride, flips=flips, top_k=0, return_maps=return_maps
            )
            results = []
            for array, image_passes in zip(arrays, passes, strict=True):
                maxima = np.stack([p.outputs["flip_maxima"] for p in image_passes])  # [S, F, C]
                result = self._ranked(maxima.mean(axis=(0, 1)), top)
                if return_maps:
                    result["maps"] = self._maps(image_passes, array.shape[:2], stride)
                results.append(result)
        return results[0] if single else results

    def localize(
        self,
        images,
        *,
        scales: Sequence[int] = ALL_SCALES,
        stride: Stride = "fine",
        flips: bool = True,
        top_k: int = 5,
        merge: MergeMethod = "greedy",
        merge_params: Mapping[str, Any] | None = None,
        min_confidence: float = 0.0,
        score_threshold: float = 0.0,
        max_boxes: int | None = None,
        duplicate_iou: float | None = None,
        return_maps: bool = False,
    ):
        """Localization (sections 4.1-4.3): boxes of each scale's top-k classes, merged.

        Args:
          images, scales, stride, flips: as ``classify`` (``"center"`` not allowed).
          top_k: the paper's k: classes per scale whose boxes enter the merge (at most the
            object classes).
          merge: ``"greedy"`` (the paper's accumulator), ``"nms"`` or ``"nmm"``.
          merge_params: that method's options (``overfeat.merge``): greedy ``threshold``
            (the paper's t), ``distance_weight``, ``weighting``; nms ``iou_threshold``; nmm
            ``match_threshold``, ``match_metric``.
          min_confidence: boxes whose cell confidence is below this do not enter the merge.
          score_threshold: merged boxes whose ``scores`` (calibrated: in [0, 1]) are below
            this are dropped.
          max_boxes: keep at most this many boxes (the best), ``None`` all.
          duplicate_iou: after merging, drop a box whose IoU with a better box of its class
            exceeds this (the merge left two boxes on one object); ``None``: keep them.
          return_maps: add ``maps`` (as ``classify``) and ``candidates``: every box before
            merging, ``{"boxes" [N, 4], "scores", "labels", "scale" (1..6), "flipped",
            "cell" [N, 2] (row, column at its scale), "assignment"}`` (the output row each
            ended in, -1 for none).

        Returns per image ``{"boxes" [K, 4] float32 xyxy original pixels (clipped to the
        image), "scores" [K] float32 in [0, 1], "labels" [K] int32, "class_names",
        "regressor"}``, by descending score. A greedy-merged box's score is
        ``calibrated_scores`` of the sum of its members' confidences (the accumulator's
        score, which grows with the scales and flips used), the sum itself kept as
        ``"summed_scores"`` [K]; NMS and NMM keep their best member's confidence.
        ``"regressor"`` is ``False`` when the network has none and each box is a merge of the
        windows of cells (a classifier with a background class: the sliding-window flow).
        """
        return self._locate(
            images,
            scales=scales,
            stride=stride,
            flips=flips,
            top_k=top_k,
            merge=merge,
            merge_params=merge_params,
            min_confidence=min_confidence,
            score_threshold=score_threshold,
            max_boxes=max_boxes,
            duplicate_iou=duplicate_iou,
            return_maps=return_maps,
        )

    def detect(
        self,
        images,
        *,
        scales: Sequence[int] = ALL_SCALES,
        stride: Stride = "fine",
        flips: bool = True,
        top_k: int = 5,
        merge: MergeMethod = "greedy",
        merge_params: Mapping[str, Any] | None = None,
        min_confidence: float = 0.01,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        max_boxes: int | None = 100,
        duplicate_iou: float | None = DEFAULT_DUPLICATE_IOU,
        return_maps: bool = False,
    ):
        """Detection (section 5): ``localize`` with a detector's defaults: cells below 1%
        confidence give no box, merged boxes whose calibrated score is below
        ``DEFAULT_SCORE_THRESHOLD`` are dropped, and boxes overlapping a better one of their
        class by IoU > ``DEFAULT_DUPLICATE_IOU``, at most 100 kept. The background class
        (``background_index``) is never a detection here nor in ``localize``. A classifier
        with a background class and no regressor detects too: each confident cell's window
        is its box (``"regressor": False`` in the result)."""
        return self._locate(
            images,
            scales=scales,
            stride=stride,
            flips=flips,
            top_k=top_k,
            merge=merge,
            merge_params=merge_params,
            min_confidence=min_confidence,
            score_threshold=score_threshold,
            max_boxes=max_boxes,
            duplicate_iou=duplicate_iou,
            return_maps=return_maps,
        )

    # --- Internals -----------------------------------------------------------------------

    def _ranked(self, probabilities: np.ndarray, top: int) -> dict[str, Any]:
        best = np.argsort(-probabilities, kind="stable")[:top]
        return {
            "labels": best.astype(np.int32),
            "scores": probabilities[best].astype(np.float32),
            "class_names": self._names(best),
            "probabilities": probabilities.astype(np.float32),
        }

    def _names(self, labels) -> list[str] | None:
        if self.class_names is None:
            return None
        return [self.class_names[int(label)] for label in labels]

    def _center_probabilities(self, arrays: list[np.ndarray], flips: bool) -> np.ndarray:
        if self._extractor is None:
            self._extractor = FeatureExtractor(self._running_model, precision=self.precision)
        view = self.arch.field_of_view
        views = [classification_view(array, view) for array in arrays]  # [v, v, 3] each
        probabilities = class_probabilities(self._extractor, views)
        if flips:
            mirrored = class_probabilities(self._extractor, [v[:, ::-1] for v in views])
            probabilities = (probabilities + mirrored) / 2
        return probabilities

    def program(
        self,
        batch: np.ndarray,
        *,
        stride: Stride = "fine",
        flips: bool = True,
        top_k: int = 0,
        return_maps: bool = False,
    ):
        """The compiled program for one scale of ``batch [b, H, W, 3]`` (images already at a
        planned size), compiled on first use and cached: ``program.cost_analysis()`` gives
        XLA's FLOPs. Its outputs are ``_scale_forward``'s (``top_k`` 0: classification)."""
        config = dict(stride=stride, flips=flips, top_k=top_k, return_maps=return_maps)
        key = (batch.shape, batch.dtype.str, *sorted(config.items()))
        program = self._programs.get(key)
        if program is None:
            forward = functools.partial(
                _scale_forward,
                self._graphdef,
                background_index=self.background_index,
                per_class=self.model.regressor_kind == "per_class",
                **config,
            )
            with contextlib.ExitStack() as stack:
                if self.precision is not None:
                    stack.enter_context(jax.default_matmul_precision(self.precision))
                program = jax.jit(forward).lower(self._state, batch).compile()
            self._programs[key] = program
        return program

    def run_scale(self, batch: np.ndarray, **config) -> dict[str, jax.Array]:
        """``program(batch, **config)`` run on ``batch``: device arrays, not waited for."""
        return self.program(batch, **config)(self._state, batch)

    def _padded_size(self, count: int) -> int:
        return min(self.batch_size, 2 ** math.ceil(math.log2(count)))

    def _dense_passes(
        self, arrays, scales, *, stride, flips, top_k, return_maps
    ) -> list[list[_ScalePass]]:
        """Every image at every scale through the compiled programs, batched by shape.
        Returns ``[image][position in scales]``."""
        plans = [self.plan(*array.shape[:2], scales) for array in arrays]
        jobs: dict[tuple, list[tuple[int, int]]] = {}
        for index, (array, plan) in enumerate(zip(arrays, plans, strict=True)):
            for position, scaled in enumerate(plan):
                jobs.setdefault((scaled.size, array.dtype.str), []).append((index, position))
        passes: list[list[Any]] = [[None] * len(plan) for plan in plans]
        config = dict(stride=stride, flips=flips, top_k=top_k, return_maps=return_maps)
        for ((height, width), _), group in jobs.items():
            for start in range(0, len(group), self.batch_size):
                chunk = group[start : start + self.batch_size]
                batch = np.stack([resize_image(arrays[i], height, width) for i, _ in chunk])
                padding = self._padded_size(len(chunk)) - len(chunk)
                if padding:  # repeat the last image: a bounded set of batch sizes
                    batch = np.concatenate([batch, np.repeat(batch[-1:], padding, axis=0)])
                outputs = self.run_scale(batch, **config)
                outputs = {name: np.asarray(value) for name, value in outputs.items()}
                for row, (i, position) in enumerate(chunk):
                    passes[i][position] = _ScalePass(
                        plans[i][position], {name: value[row] for name, value in outputs.items()}
                    )
        return passes

    def _maps(self, image_passes, original_size, stride) -> list[dict[str, Any]]:
        maps = []
        for scale_pass in image_passes:
            probabilities = scale_pass.outputs["probabilities"]  # [F, h, w, C]
            windows = cell_windows_xyxy(self.arch, *probabilities.shape[1:3], stride)
            for flip, flip_map in enumerate(probabilities):
                maps.append({
                    "scale": scale_pass.scaled.scale_index,
                    "size": scale_pass.scaled.size,
                    "flipped": bool(flip),
                    "probabilities": flip_map,
                    "windows": boxes_in_original_image_xyxy(
                        np.zeros_like(windows),
                        windows,
                        scaled_size=scale_pass.scaled.size,
                        original_size=original_size,
                        flipped=bool(flip),
                    ),
                })
        return maps

    def _candidates(self, image_passes, original_size, stride) -> dict[str, np.ndarray]:
        """Every box of every scale and flip for its scale's top-k classes (4.1, 4.3 (b)-(c)).
        Without a regressor a cell's box is its window (zero deltas)."""
        parts: dict[str, list[np.ndarray]] = {
            name: [] for name in ("boxes", "scores", "labels", "scale", "flipped", "cell")
        }
        for scale_pass in image_passes:
            out = scale_pass.outputs
            flips, rows, cols, k = out["top_probabilities"].shape  # [F, h, w, k]
            windows = cell_windows_xyxy(self.arch, rows, cols, stride)  # [h, w, 4]
            cells = np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), -1)
            deltas = out.get("deltas")  # [F, h, w, k | 1, 4]
            if deltas is None:
                deltas = np.zeros((flips, rows, cols, 1, 4), np.float32)
            for flip in range(flips):
                boxes = boxes_in_original_image_xyxy(
                    deltas[flip],  # [h, w, k | 1, 4]
                    windows[:, :, None, :],
                    scaled_size=scale_pass.scaled.size,
                    original_size=original_size,
                    flipped=bool(flip),
                )
                count = rows * cols * k
                parts["boxes"].append(np.broadcast_to(boxes, (rows, cols, k, 4)).reshape(-1, 4))
                parts["scores"].append(out["top_probabilities"][flip].reshape(-1))
                parts["labels"].append(np.tile(out["top_classes"], rows * cols))
                parts["scale"].append(np.full(count, scale_pass.scaled.scale_index))
                parts["flipped"].append(np.full(count, bool(flip)))
                parts["cell"].append(np.repeat(cells.reshape(-1, 2), k, axis=0))
        return {
            "boxes": np.concatenate(parts["boxes"]).astype(np.float32),
            "scores": np.concatenate(parts["scores"]).astype(np.float32),
            "labels": np.concatenate(parts["labels"]).astype(np.int32),
            "scale": np.concatenate(parts["scale"]).astype(np.int32),
            "flipped": np.concatenate(parts["flipped"]),
            "cell": np.concatenate(parts["cell"]).astype(np.int32),
        }

    def _locate(
        self,
        images,
        *,
        scales,
        stride,
        flips,
        top_k,
        merge,
        merge_params,
        min_confidence,
        score_threshold,
        max_boxes,
        duplicate_iou,
        return_maps,
    ):
        if self.model.regressor is None and self.background_index is None:
            raise ValueError(
                "localization and detection need a model with a box regressor, or a "
                "classifier with a background class to box its confident windows; this one "
                "has neither (a classifier checkpoint without a 'background' class, or release "
                "weights): train a regressor on it (section 4), or a classifier on class "
                "folders that include background/"
            )
        if isinstance(scales, str):
            raise ValueError("localization runs on scales 1..6, not the central view")
        _check_options(scales, stride)
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        top_k = min(top_k, self.num_classes - (self.background_index is not None))
        if max_boxes is not None and max_boxes < 0:
            raise ValueError(f"max_boxes must be >= 0 or None, got {max_boxes}")
        if duplicate_iou is not None and not 0 < duplicate_iou <= 1:
            raise ValueError(f"duplicate_iou must be in (0, 1] or None, got {duplicate_iou}")
        if merge not in _MERGE_METHODS:
            raise ValueError(f"merge must be one of {sorted(_MERGE_METHODS)}, got {merge!r}")
        arrays, single = _as_arrays(images)
        passes = self._dense_passes(
            arrays, scales, stride=stride, flips=flips, top_k=top_k, return_maps=return_maps
        )
        square = [scaled.height for scaled in self.plan(1000, 1000, scales)]
        votes = possible_votes(self.arch, square, flips=flips, stride=stride)
        results = []
        for array, image_passes in zip(arrays, passes, strict=True):
            candidates = self._candidates(image_passes, array.shape[:2], stride)
            result, assignment = _merge_candidates(
                candidates,
                merge,
                dict(merge_params or {}),
                votes=votes,
                min_confidence=min_confidence,
                score_threshold=score_threshold,
                max_boxes=max_boxes,
                duplicate_iou=duplicate_iou,
                image_size=array.shape[:2],
            )
            result["class_names"] = self._names(result["labels"])
            result["regressor"] = self.model.regressor is not None  # False: boxes are windows
            if return_maps:
                result["maps"] = self._maps(image_passes, array.shape[:2], stride)
                result["candidates"] = candidates | {"assignment": assignment}
            results.append(result)
        return results[0] if single else results


_MERGE_METHODS = ("greedy", "nms", "nmm")
BACKGROUND_NAME = "background"  # an image-folder dataset's background folder, any case


def _background_index(
    class_names: Sequence[str] | None, flagged: bool, num_classes: int
) -> int | None:
    """The background output: the last when flagged (a detector's training appends it);
    otherwise the class named ``background`` (image-folder classes are sorted folder names,
    so it can be anywhere); ``None`` when neither."""
    if flagged:
        return num_classes - 1
    named = [i for i, name in enumerate(class_names or ()) if name.lower() == BACKGROUND_NAME]
    if len(named) > 1:
        raise ValueError(
            f"classes {named} are all named {BACKGROUND_NAME!r}: which one is the background?"
        )
    return named[0] if named else None


def _merge_candidates(
    candidates, method, params, *, votes, min_confidence, score_threshold, max_boxes,
    duplicate_iou=None, image_size=None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Merge the candidates that pass ``min_confidence``; with ``duplicate_iou``, drop merged
    boxes overlapping a better one of their class by more (``merge.nms`` over the merged
    boxes); keep those scoring at least ``score_threshold``, at most ``max_boxes``. A
    greedy-merged box scores ``calibrated_scores(summed, votes)`` (its raw sum kept as
    ``summed_scores``); NMS and NMM its best member's confidence, already in [0, 1]. Returns
    the result and ``[N]`` each candidate's output row (-1: none)."""
    params.pop("return_assignment", None)
    entered = np.flatnonzero(candidates["scores"] >= min_confidence)
    boxes, scores, labels, rows = merge.merge_boxes(
        candidates["boxes"][entered],
        candidates["scores"][entered],
        candidates["labels"][entered],
        method,
        return_assignment=True,
        **params,
    )
    if image_size is not None:  # inside the image: never lowers the IoU with an object in it
        boxes = clip_xyxy(boxes, *image_size)  # (before duplicates are judged by their IoU)
    summed = scores if method == "greedy" else None
    if summed is not None:
        scores = calibrated_scores(summed, votes)  # increasing: still sorted, descending
    if duplicate_iou is not None and len(scores):
        boxes, scores, labels, survivor = merge.nms(
            boxes, scores, labels, iou_threshold=duplicate_iou, return_assignment=True
        )
        # nms is stable on sorted input: each output row's first merged box is its own
        first = np.unique(survivor, return_index=True)[1]
        summed = None if summed is None else summed[first]
        rows = np.where(rows >= 0, survivor[np.maximum(rows, 0)], -1)
    kept = int(np.sum(scores >= score_threshold))  # scores are sorted, descending
    if max_boxes is not None:
        kept = min(kept, max_boxes)
    assignment = np.full(len(candidates["scores"]), -1, np.int64)
    assignment[entered] = np.where(rows < kept, rows, -1)
    result = {"boxes": boxes[:kept], "scores": scores[:kept], "labels": labels[:kept]}
    if summed is not None:
        result["summed_scores"] = np.asarray(summed[:kept], np.float32)
    return result, assignment


def _check_options(scales: Sequence[int], stride: str) -> None:
    if stride not in ("fine", "coarse"):
        raise ValueError(f"stride must be 'coarse' or 'fine', got {stride!r}")
    scales = tuple(scales)
    if not scales or any(s not in ALL_SCALES for s in scales) or len(set(scales)) < len(scales):
        raise ValueError(f"scales must be distinct values of 1..6, got {scales}")


def _as_arrays(images) -> tuple[list[np.ndarray], bool]:
    """``([H, W, 3] uint8 or float32 arrays], whether one image was given)``."""
    if isinstance(images, (np.ndarray, jax.Array)) and np.ndim(images) == 4:
        items, single = list(np.asarray(images)), False
    elif isinstance(images, (list, tuple)):
        items, single = list(images), False
    elif isinstance(images, (str, os.PathLike, np.ndarray, jax.Array, Image.Image)):
        items, single = [images], True
    else:
        raise ValueError(f"expected an image or a sequence of images, got {type(images).__name__}")
    if not items:
        raise ValueError("no images given")
    arrays = []
    for item in items:
        array = as_rgb_array(item)
        if array.dtype != np.uint8:
            array = array.astype(np.float32, copy=False)
        if min(array.shape[:2]) < 1:
            raise ValueError(f"an image of {array.shape[0]}x{array.shape[1]} pixels is empty")
        arrays.append(array)
    return arrays, single


def to_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """A result of ``Predictor.classify/localize/detect`` as plain JSON values (the maps,
    candidates and full probability vector left out; a greedy merge's raw ``summed_scores``
    and whether a ``regressor`` made the boxes kept)."""
    out: dict[str, Any] = {}
    for name in ("labels", "scores", "summed_scores", "boxes"):
        if name in result:
            out[name] = np.asarray(result[name]).tolist()
    out["class_names"] = result.get("class_names")
    if "regressor" in result:
        out["regressor"] = bool(result["regressor"])
    return out
