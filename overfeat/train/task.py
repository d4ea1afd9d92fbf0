"""What the training loop asks of a task (classifier, regressor, detector), and the model set-up
they share: initialisation and starting from a saved model."""

from __future__ import annotations

import pathlib
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from overfeat.architectures import Architecture, get_architecture
from overfeat.models import OverFeat, create_model, max_pool
from overfeat.train.inputs import input_sizes


class Task(Protocol):
    """A training objective over one model.

    The loop calls ``loss`` and ``eval_sums`` inside ``jax.jit`` with ``size`` static: the
    square side the batch is resized to on the device (multi-scale training), or ``None`` to
    use the batch as it comes.
    """

    name: str  # also the input pipeline's task (overfeat.data.pipelines)
    batch_keys: tuple[str, ...]  # the batch fields the steps read
    background_class: bool  # the model's last class is background
    best_metric: tuple[str, str]  # (eval metric, "min" | "max") that picks the best model

    def build_model(self, config: ml_collections.ConfigDict, num_classes: int) -> OverFeat: ...

    def trainable(self, config: ml_collections.ConfigDict) -> Any:
        """An nnx filter: the parameters the optimizer updates; the rest stay frozen."""

    def step_size(self, step: int) -> int | None: ...

    def eval_size(self) -> int | None: ...

    def loss(self, model: OverFeat, batch: dict, key: jax.Array, size: int | None): ...

    def eval_sums(self, model: OverFeat, batch: dict, size: int | None) -> dict: ...

    def summarize(self, sums: dict) -> dict: ...


def model_kwargs(config: ml_collections.ConfigDict) -> dict:
    """``create_model`` keyword arguments from ``config.model``."""
    return {
        "init_std": config.model.init_std if config.model.init == "normal" else None,
        "dropout": config.model.dropout,
        "dtype": jnp.bfloat16 if config.model.dtype == "bfloat16" else None,
        "mean": tuple(config.model.mean),
        "std": tuple(config.model.std),
        "input_norm": config.model.input_norm,
        "scale_sides": tuple(config.model.scale_sides) or None,
    }


def new_model(
    config: ml_collections.ConfigDict, num_classes: int, *, regressor: str | None
) -> OverFeat:
    """A fresh model, then (``config.model.init_from``) every variable of the saved model whose
    path and shape match copied in."""
    model = create_model(
        config.arch,
        num_classes=num_classes,
        regressor=regressor or None,
        seed=config.seed,
        **model_kwargs(config),
    )
    if config.model.init_from:
        initial = load_initial_model(config.model.init_from)
        if initial.trunk.input_norm != model.trunk.input_norm:
            raise ValueError(
                f"model.init_from={config.model.init_from!r} was trained with input_norm="
                f"{initial.trunk.input_norm!r}, this config has model.input_norm="
                f"{model.trunk.input_norm!r}: its trunk would see other inputs"
            )
        copied = copy_matching(initial, model)
        if not any(path[0] == "trunk" for path in copied):
            raise ValueError(
                f"model.init_from={config.model.init_from!r}: its trunk does not fit "
                f"the {config.arch} network (different architecture?)"
            )
    return model


def load_initial_model(path: str) -> OverFeat:
    """A saved model (``overfeat.weights.save_model``'s folder) or a training workdir (whose
    final model, ``WORKDIR/model``, is used)."""
    from overfeat.weights import load_model

    folder = pathlib.Path(path)
    if (folder / "model").is_dir():
        folder = folder / "model"
    if not folder.exists():
        raise FileNotFoundError(f"model.init_from: {str(path)!r} does not exist")
    model, _ = load_model(folder)
    return model


def copy_matching(source: OverFeat, target: OverFeat) -> list[tuple]:
    """Copy ``source``'s parameters and preprocessing into ``target`` wherever path and shape
    agree (a detector keeps a classifier's trunk and hidden layers, not its class layer).
    Returns the copied paths."""
    source_state = nnx.to_pure_dict(nnx.state(source))
    target_state = nnx.state(target)
    target_dict = nnx.to_pure_dict(target_state)
    copied = []

    def visit(src: dict, dst: dict, path: tuple):
        for key, value in src.items():
            if key not in dst:
                continue
            if isinstance(value, dict):
                if isinstance(dst[key], dict):
                    visit(value, dst[key], (*path, key))
            elif jnp.shape(value) == jnp.shape(dst[key]):
                dst[key] = jnp.asarray(value, jnp.result_type(dst[key]))
                copied.append((*path, key))

    visit(source_state, target_dict, ())
    nnx.replace_by_pure_dict(target_state, target_dict)
    nnx.update(target, target_state)
    return copied


def valid_mask(batch: dict) -> jax.Array:
    """``valid`` bool [B] of an evaluation batch (all True when absent)."""
    if "valid" in batch:
        return batch["valid"]
    return jnp.ones(batch["image"].shape[0], bool)


def resize_batch(batch: dict, size: int | None) -> dict:
    """Resize the batch's square images to ``size x size`` on the device; boxes follow."""
    if size is None:
        return batch
    images = batch["image"]
    height, width = images.shape[1:3]
    if (height, width) == (size, size):
        return batch
    resized = jax.image.resize(
        images.astype(jnp.float32), (images.shape[0], size, size, 3), "bilinear", antialias=True
    )
    out = dict(batch, image=resized)
    if "boxes" in batch:
        out["boxes"] = batch["boxes"] * jnp.array([size / width, size / height] * 2, jnp.float32)
    return out


class MultiScaleTask:
    """What the regressor and the detector share: both train on whole square images resized on
    the device to one of ``group.scales`` per step (section 4.2's multi-scale training; ``group``
    is ``config.regressor`` or ``config.detector``), at ``group.stride``, and evaluate at the
    middle size."""

    def __init__(self, config: ml_collections.ConfigDict, group: ml_collections.ConfigDict):
        self.config = config
        self.arch = get_architecture(config.arch)
        self.stride = group.stride
        self.sizes = training_sizes(
            self.arch, group.scales, self.stride, input_sizes(config, self.arch).image_size
        )
        self.per_class = config.model.regressor == "per_class"

    def step_size(self, step: int) -> int:
        return size_for_step(self.sizes, self.config.seed, step)

    def eval_size(self) -> int:
        return self.sizes[len(self.sizes) // 2]


def training_sizes(arch: Architecture, scales, stride: str, image_size: int) -> tuple[int, ...]:
    """The square input sides of multi-scale training: each of ``scales`` snapped to the
    nearest size valid at ``stride`` (no pixel dropped); 0 stands for ``image_size``."""
    sizes = sorted({arch.snap_size(scale or image_size, stride) for scale in scales})
    if not sizes:
        raise ValueError("no training scales given")
    return tuple(sizes)


def size_for_step(sizes: tuple[int, ...], seed: int, step: int) -> int:
    """The scale of ``step``'s batch: drawn from ``(seed, step)``, so a resumed job replays
    the same sequence of scales."""
    if len(sizes) == 1:
        return sizes[0]
    return sizes[int(np.random.default_rng([seed, step, 0x5CA1E]).integers(len(sizes)))]


def apply_head_at(
    model: OverFeat,
    head,
    layer5: jax.Array,
    stride: str,
    *,
    train: bool = False,
    key: jax.Array | None = None,
) -> jax.Array:
    """A head over ``layer5 [B, L_h, L_w, C5]`` at coarse or fine stride, dropout included
    when training (``overfeat.dense``'s fused fine pass: stride-1 pool, dilated head)."""
    window = model.arch.last_pool.window
    if stride == "fine":
        return head(max_pool(layer5, window, stride=1), dilation=window, train=train, rngs=key)
    return head(max_pool(layer5, window), train=train, rngs=key)
