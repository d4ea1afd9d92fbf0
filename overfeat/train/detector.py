"""The detector (section 5): the classifier with a background class (the last one), trained
spatially on whole images: every output cell is a sample.

Which cells are positive, background or left out is ``overfeat.train.targets
.detection_targets``. All positives train; the negatives are chosen on the fly per image
inside the loss, as the paper does instead of bootstrapping passes: the
``hard_negatives`` most offending background cells (highest loss) plus ``random_negatives``
drawn at random from the rest. Optionally the box regressor trains alongside on the same
images (on the trunk's features with their gradient stopped: the trunk stays the
classifier's, as in section 4.2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from overfeat.boxes import cell_windows_xyxy, encode_boxes_in_windows
from overfeat.models import OverFeat
from overfeat.train import targets
from overfeat.train.regressor import class_boxes
from overfeat.train.task import MultiScaleTask, apply_head_at, new_model, valid_mask


class DetectorTask(MultiScaleTask):
    name = "detect"
    batch_keys = ("image", "boxes", "labels", "ignore", "valid")
    background_class = True  # the last class is background (exported with the model)
    best_metric = ("balanced_accuracy", "max")

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config, config.detector)

    def build_model(self, config, num_classes: int) -> OverFeat:
        # num_classes object classes + background, last.
        return new_model(config, num_classes + 1, regressor=config.model.regressor or None)

    def trainable(self, config):
        if config.detector.train_regressor:
            return nnx.Param
        return nnx.All(nnx.Param, nnx.Not(nnx.PathContains("regressor")))

    def _cells(self, model: OverFeat, batch: dict, *, train: bool, key=None):
        layer5 = model.trunk(batch["image"])
        logits = apply_head_at(model, model.classifier, layer5, self.stride, train=train, key=key)
        windows = jnp.asarray(
            cell_windows_xyxy(self.arch, logits.shape[1], logits.shape[2], self.stride), jnp.float32
        )
        d = self.config.detector
        target, positive, negative = targets.detection_targets(
            batch["boxes"],
            batch["labels"],
            batch["ignore"],
            windows,
            background=model.num_classes - 1,
            positive_coverage=d.positive_box_coverage,
            positive_fill=d.positive_window_fill,
            negative_max=d.negative_max_overlap,
        )
        return layer5, logits, windows, target, positive, negative

    def loss(self, model: OverFeat, batch: dict, key, size):
        dropout_key, negatives_key = jax.random.split(key)
        layer5, logits, windows, target, positive, negative = self._cells(
            model, batch, train=True, key=dropout_key
        )
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, target)  # [B, h, w]
        flat = losses.reshape(losses.shape[0], -1)
        hard, random = targets.select_negatives(
            flat,
            negative.reshape(flat.shape),
            negatives_key,
            hard=self.config.detector.hard_negatives,
            random=self.config.detector.random_negatives,
        )
        chosen = positive.reshape(flat.shape) | hard | random
        count = jnp.sum(chosen)
        loss = jnp.sum(jnp.where(chosen, flat, 0.0)) / jnp.maximum(count, 1)
        metrics = {
            "positive_cells": jnp.sum(positive).astype(jnp.float32) / flat.shape[0],
            "classification_loss": loss,
        }
        if self.config.detector.train_regressor:
            box_loss = self._box_loss(model, batch, layer5, windows)
            loss = loss + self.config.detector.regressor_weight * box_loss
            metrics["box_loss"] = box_loss
        return loss, metrics

    def _box_loss(self, model: OverFeat, batch: dict, layer5, windows) -> jax.Array:
        outputs = apply_head_at(model, model.regressor, jax.lax.stop_gradient(layer5), self.stride)
        trained, boxes, labels = targets.regression_targets(
            batch["boxes"],
            batch["labels"],
            batch["ignore"],
            windows,
            self.config.regressor.min_box_coverage,
        )
        predicted = class_boxes(outputs, labels, self.per_class)
        errors = jnp.sum(jnp.square(predicted - encode_boxes_in_windows(boxes, windows)), -1)
        return jnp.sum(jnp.where(trained, errors, 0.0)) / jnp.maximum(jnp.sum(trained), 1)

    def eval_sums(self, model: OverFeat, batch: dict, size) -> dict:
        _, logits, _, target, positive, negative = self._cells(model, batch, train=False)
        valid = valid_mask(batch)[:, None, None]
        positive, negative = positive & valid, negative & valid
        predicted = jnp.argmax(logits, axis=-1)
        return {
            "positives": jnp.sum(positive),
            "negatives": jnp.sum(negative),
            "positive_correct": jnp.sum(positive & (predicted == target)),
            "negative_correct": jnp.sum(negative & (predicted == target)),
        }

    def summarize(self, sums: dict) -> dict:
        positive = float(sums["positive_correct"]) / max(float(sums["positives"]), 1.0)
        negative = float(sums["negative_correct"]) / max(float(sums["negatives"]), 1.0)
        return {
            "positive_accuracy": positive,
            "background_accuracy": negative,
            "balanced_accuracy": (positive + negative) / 2,
            "positive_cells": float(sums["positives"]),
        }
