"""The classifier (section 3.1): crops at the field of view, one 1x1 output each, softmax
cross-entropy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from overfeat.architectures import get_architecture
from overfeat.models import OverFeat
from overfeat.train import inputs
from overfeat.train.task import new_model, valid_mask


def top_k_correct(logits: jax.Array, labels: jax.Array, k: int) -> jax.Array:
    """``logits [B, C]``, ``labels [B]`` -> bool [B]: the label is among the ``k`` best."""
    k = min(k, logits.shape[-1])
    _, best = jax.lax.top_k(logits, k)
    return jnp.any(best == labels[:, None], axis=-1)


class ClassifierTask:
    name = "classify"
    batch_keys = ("image", "label", "valid")
    background_class = False  # object classes only; the detector adds the background class
    best_metric = ("top1_error", "min")

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        arch = get_architecture(config.arch)
        size = inputs.input_sizes(config, arch).crop_size
        if arch.output_size(size, "coarse") != 1 or not arch.is_valid_size(size, "coarse"):
            raise ValueError(
                f"config.input.crop_size={size}: classifier training needs crops giving one "
                f"output, i.e. the {arch.name} network's field of view ({arch.field_of_view})"
            )

    def build_model(self, config, num_classes: int) -> OverFeat:
        return new_model(config, num_classes, regressor=config.model.regressor or None)

    def trainable(self, config):
        # The regressor, when the model has one, is trained by the localize task on a frozen
        # trunk, not here.
        return nnx.All(nnx.Param, nnx.Not(nnx.PathContains("regressor")))

    def step_size(self, step: int) -> None:
        return None

    def eval_size(self) -> None:
        return None

    def logits(self, model: OverFeat, images: jax.Array, *, train: bool, key=None) -> jax.Array:
        logits = model(images, train=train, rngs=key)  # [B, 1, 1, C]
        return logits.reshape(logits.shape[0], -1)

    def loss(self, model: OverFeat, batch: dict, key: jax.Array, size):
        logits = self.logits(model, batch["image"], train=True, key=key)
        labels = batch["label"]
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
        return loss, {"loss": loss, "accuracy": accuracy}

    def eval_sums(self, model: OverFeat, batch: dict, size) -> dict:
        logits = self.logits(model, batch["image"], train=False)
        labels, valid = batch["label"], valid_mask(batch)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return {
            "count": jnp.sum(valid),
            "loss": jnp.sum(jnp.where(valid, losses, 0.0)),
            "top1_correct": jnp.sum(valid & top_k_correct(logits, labels, 1)),
            "top5_correct": jnp.sum(valid & top_k_correct(logits, labels, 5)),
        }

    def summarize(self, sums: dict) -> dict:
        count = max(float(sums["count"]), 1.0)
        return {
            "loss": float(sums["loss"]) / count,
            "top1_error": 1.0 - float(sums["top1_correct"]) / count,
            "top5_error": 1.0 - float(sums["top5_correct"]) / count,
            "examples": float(sums["count"]),
        }
