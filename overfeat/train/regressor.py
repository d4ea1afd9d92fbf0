"""The box regressor (section 4.2): trained on the frozen layers 1-5 of a classifier, densely
over whole images at several scales.

Every output cell (fine stride by default) predicts the box of the object it sees, expressed
in its own window's frame (``overfeat.boxes.encode_boxes_in_windows``); the loss is the
squared l2 distance between predicted and true encoded edges, averaged over the cells that
see at least ``min_box_coverage`` of a box (``overfeat.train.targets``). A per-class
regressor has ``4 * C`` outputs, class-major (``[..., C, 4]``), and only the true class's four
are trained.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from overfeat.boxes import (
    area_xyxy,
    cell_windows_xyxy,
    decode_boxes_in_windows,
    encode_boxes_in_windows,
)
from overfeat.models import OverFeat
from overfeat.train import targets
from overfeat.train.task import MultiScaleTask, apply_head_at, new_model, valid_mask


def class_boxes(outputs: jax.Array, labels: jax.Array, per_class: bool) -> jax.Array:
    """``outputs [B, h, w, 4 | 4C]`` -> the 4 outputs for ``labels [B, h, w]``: ``[B, h, w, 4]``."""
    if not per_class:
        return outputs
    per = outputs.reshape(*outputs.shape[:-1], -1, 4)  # [B, h, w, C, 4]
    index = jnp.clip(labels, 0, per.shape[-2] - 1)[..., None, None]
    return jnp.take_along_axis(per, index, axis=-2)[..., 0, :]


class RegressorTask(MultiScaleTask):
    name = "localize"
    batch_keys = ("image", "boxes", "labels", "ignore", "valid")
    background_class = False  # object classes only; the detector adds the background class
    best_metric = ("cell_iou50", "max")

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config, config.regressor)

    def build_model(self, config, num_classes: int) -> OverFeat:
        return new_model(config, num_classes, regressor=config.model.regressor)

    def trainable(self, config):
        return nnx.All(nnx.Param, nnx.PathContains("regressor"))

    def predict(self, model: OverFeat, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``images [B, S, S, 3]`` -> (outputs ``[B, h, w, 4 | 4C]``, windows ``[h, w, 4]``)."""
        layer5 = jax.lax.stop_gradient(model.trunk(images))  # layers 1-5 are frozen
        outputs = apply_head_at(model, model.regressor, layer5, self.stride)
        windows = jnp.asarray(
            cell_windows_xyxy(self.arch, outputs.shape[1], outputs.shape[2], self.stride),
            jnp.float32,
        )
        return outputs, windows

    def cell_errors(self, model: OverFeat, batch: dict):
        """Per cell: squared l2 error ``[B, h, w]``, trained mask, predicted and true boxes."""
        outputs, windows = self.predict(model, batch["image"])
        trained, boxes, labels = targets.regression_targets(
            batch["boxes"],
            batch["labels"],
            batch["ignore"],
            windows,
            self.config.regressor.min_box_coverage,
        )
        predicted = class_boxes(outputs, labels, self.per_class)  # [B, h, w, 4]
        target = encode_boxes_in_windows(boxes, windows)
        errors = jnp.sum(jnp.square(predicted - target), axis=-1)
        return errors, trained, predicted, boxes, windows

    def loss(self, model: OverFeat, batch: dict, key, size):
        errors, trained, *_ = self.cell_errors(model, batch)
        count = jnp.sum(trained)
        loss = jnp.sum(jnp.where(trained, errors, 0.0)) / jnp.maximum(count, 1)
        return loss, {"trained_cells": count.astype(jnp.float32) / errors.shape[0]}

    def eval_sums(self, model: OverFeat, batch: dict, size) -> dict:
        errors, trained, predicted, boxes, windows = self.cell_errors(model, batch)
        trained = trained & valid_mask(batch)[:, None, None]
        decoded = decode_boxes_in_windows(predicted, windows)
        iou = matched_iou_xyxy(decoded, boxes)
        return {
            "cells": jnp.sum(trained),
            "loss": jnp.sum(jnp.where(trained, errors, 0.0)),
            "iou": jnp.sum(jnp.where(trained, iou, 0.0)),
            "iou50": jnp.sum(trained & (iou >= 0.5)),
        }

    def summarize(self, sums: dict) -> dict:
        cells = max(float(sums["cells"]), 1.0)
        return {
            "loss": float(sums["loss"]) / cells,
            "cell_mean_iou": float(sums["iou"]) / cells,
            "cell_iou50": float(sums["iou50"]) / cells,
            "cells": float(sums["cells"]),
        }


def matched_iou_xyxy(a: jax.Array, b: jax.Array) -> jax.Array:
    """IoU of each box of ``a [..., 4]`` with the box at the same place in ``b [..., 4]``
    (``overfeat.boxes.iou_xyxy`` gives all pairs) -> ``[...]``; 0 where both are empty."""
    low = jnp.maximum(a[..., :2], b[..., :2])
    high = jnp.minimum(a[..., 2:], b[..., 2:])
    intersection = jnp.prod(jnp.clip(high - low, 0), axis=-1)
    union = area_xyxy(a) + area_xyxy(b) - intersection
    return jnp.where(union > 0, intersection / jnp.where(union > 0, union, 1.0), 0.0)
