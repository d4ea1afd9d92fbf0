"""Flax NNX modules: the shared trunk (layers 1-5) and the heads that read its layer-5 maps.

All modules take NHWC float arrays. Fully connected layers are convolutions (section 3.5): the
first one sees a ``head_kernel`` x ``head_kernel`` window of the pooled layer-5 map, the others
are 1x1, so every head applies to any image size. The trunk stops BEFORE the last max-pool:
where that pool is applied (once, or at every offset) is ``overfeat.dense``'s business.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from overfeat.architectures import Architecture, Conv, get_architecture
from overfeat.scales import check_sides

RegressorKind = Literal["shared", "per_class"]
# "dataset": subtract the model's mean and divide by its std (the paper; the release).
# "image": standardize each image's channels by that image's own mean and deviation (the small
# CPU configs: measured in NOTES.md "What limits the small nets").
InputNorm = Literal["dataset", "image"]
INPUT_NORMS = ("dataset", "image")
# Added to an image's deviation (0..255 scale) so that a flat image maps to zeros, not noise.
IMAGE_NORM_EPSILON = 1.0

# The original release normalizes every channel with one scalar mean and deviation.
RELEASE_MEAN = 118.380948
RELEASE_STD = 61.896913
# Our own models default to ImageNet's per-channel statistics on 0..255 pixels.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


class Preprocessing(nnx.Variable):
    """Input statistics a model carries, so that callers never guess its normalization."""


def max_pool(x: jax.Array, window: int, stride: int | None = None) -> jax.Array:
    """Max-pool ``[B, H, W, C]`` with a square window; an incomplete last window is dropped."""
    stride = window if stride is None else stride
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, window, window, 1), (1, stride, stride, 1), "VALID"
    )


class ConvLayer(nnx.Module):
    """A convolution (valid cross-correlation, as in the release) whose dilation is chosen at
    call time, so one set of weights serves the coarse and the fused fine-stride pass."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel: int,
        *,
        stride: int = 1,
        padding: int = 0,
        init_std: float | None,
        dtype: jnp.dtype | None,
        rngs: nnx.Rngs,
    ):
        shape = (kernel, kernel, in_features, out_features)  # HWIO
        if init_std is None:  # He normal: trains deep ReLU nets from scratch reliably.
            init_std = float(np.sqrt(2.0 / (kernel * kernel * in_features)))
        self.kernel = nnx.Param(init_std * jax.random.normal(rngs.params(), shape, jnp.float32))
        self.bias = nnx.Param(jnp.zeros((out_features,), jnp.float32))
        self.stride = stride
        self.padding = padding
        self.dtype = dtype

    def __call__(self, x: jax.Array, *, dilation: int = 1) -> jax.Array:
        kernel, bias = self.kernel[...], self.bias[...]
        if self.dtype is not None:
            x, kernel, bias = (
                x.astype(self.dtype),
                kernel.astype(self.dtype),
                bias.astype(self.dtype),
            )
        pad = self.padding
        y = jax.lax.conv_general_dilated(
            x,
            kernel,
            window_strides=(self.stride, self.stride),
            padding=((pad, pad), (pad, pad)),
            rhs_dilation=(dilation, dilation),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return y + bias


class Trunk(nnx.Module):
    """Layers 1-5 (1-6 of the accurate net), normalization included, without the last pool.

    ``images [B, H, W, 3]`` RGB on the 0..255 scale -> layer-5 map ``[B, L_h, L_w, C5]``.
    ``input_norm`` (``InputNorm``) says how the pixels are normalized first.
    """

    def __init__(
        self,
        arch: Architecture,
        *,
        mean: float | Sequence[float] = IMAGENET_MEAN,
        std: float | Sequence[float] = IMAGENET_STD,
        input_norm: InputNorm = "dataset",
        init_std: float | None = None,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {input_norm!r}")
        self.arch = arch
        self.input_norm = input_norm
        self.mean = Preprocessing(jnp.broadcast_to(jnp.asarray(mean, jnp.float32), (3,)))
        self.std = Preprocessing(jnp.broadcast_to(jnp.asarray(std, jnp.float32), (3,)))
        channels = 3
        for conv in arch.convs:
            layer = ConvLayer(
                channels,
                conv.features,
                conv.kernel,
                stride=conv.stride,
                padding=conv.padding,
                init_std=init_std,
                dtype=dtype,
                rngs=rngs,
            )
            setattr(self, conv.name, layer)
            channels = conv.features

    def __call__(self, images: jax.Array, *, taps: dict | None = None) -> jax.Array:
        x = self.normalize(images)
        for layer in self.arch.trunk[:-1]:
            if isinstance(layer, Conv):
                x = jax.nn.relu(getattr(self, layer.name)(x))
            else:
                x = max_pool(x, layer.window)
            if taps is not None:
                taps[layer.name] = x
        return x

    def normalize(self, images: jax.Array) -> jax.Array:
        """``images [..., H, W, 3]`` 0..255 -> the float32 input of conv1."""
        x = images.astype(jnp.float32)
        if self.input_norm == "image":
            mean = jnp.mean(x, axis=(-3, -2), keepdims=True)
            deviation = jnp.std(x, axis=(-3, -2), keepdims=True)
            return (x - mean) / (deviation + IMAGE_NORM_EPSILON)
        return (x - self.mean[...]) / self.std[...]


class Head(nnx.Module):
    """Fully connected layers as convolutions over the pooled layer-5 map.

    ``pooled [B, h, w, C5]`` -> ``[B, h - k + 1, w - k + 1, outputs]`` at ``dilation`` 1; with
    ``dilation`` d the first layer's taps are d cells apart (the fused fine-stride pass).
    Hidden layers are ReLU'd and, in training, dropped out at ``dropout``; the output layer is
    linear.
    """

    def __init__(
        self,
        in_features: int,
        kernel: int,
        hidden: Sequence[int],
        outputs: int,
        names: Sequence[str],
        *,
        dropout: float = 0.0,
        init_std: float | None = None,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        self.names = tuple(names)
        widths = (*hidden, outputs)
        fan_in, k = in_features, kernel
        for name, width in zip(self.names, widths, strict=True):
            setattr(
                self, name, ConvLayer(fan_in, width, k, init_std=init_std, dtype=dtype, rngs=rngs)
            )
            fan_in, k = width, 1
        self.dropout = nnx.data(nnx.Dropout(dropout) if dropout > 0 else None)

    def __call__(
        self,
        pooled: jax.Array,
        *,
        dilation: int = 1,
        train: bool = False,
        rngs: jax.Array | None = None,
        taps: dict | None = None,
    ) -> jax.Array:
        x = pooled
        last = len(self.names) - 1
        for i, name in enumerate(self.names):
            x = getattr(self, name)(x, dilation=dilation if i == 0 else 1)
            if i < last:
                x = jax.nn.relu(x)
                if self.dropout is not None and train:
                    rngs, key = jax.random.split(rngs)
                    x = self.dropout(x, deterministic=False, rngs=key)
            if taps is not None:
                taps[name] = x
        return x.astype(jnp.float32)


class OverFeat(nnx.Module):
    """The integrated network: one trunk, a classifier and optionally a box regressor.

    Calling it runs the coarse-stride pass used in training: ``images [B, H, W, 3]`` ->
    class logits ``[B, h, w, C]`` (1x1 at the field of view). ``overfeat.dense`` applies the
    heads densely at fine stride.
    """

    def __init__(
        self,
        arch: Architecture,
        *,
        num_classes: int,
        regressor: RegressorKind | None = None,
        mean: float | Sequence[float] = IMAGENET_MEAN,
        std: float | Sequence[float] = IMAGENET_STD,
        input_norm: InputNorm = "dataset",
        scale_sides: Sequence[int] | None = None,
        dropout: float = 0.5,
        init_std: float | None = None,
        dtype: jnp.dtype | None = None,
        rngs: nnx.Rngs,
    ):
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        if regressor not in (None, "shared", "per_class"):
            raise ValueError(f"regressor must be None, 'shared' or 'per_class', got {regressor!r}")
        self.arch = arch
        self.num_classes = num_classes
        self.regressor_kind = regressor
        # The six smaller sides inference shows images at (overfeat.scales), when this model
        # was trained for others than the paper's; None: the paper's plan.
        self.scale_sides = None if not scale_sides else check_sides(arch, scale_sides)
        self.trunk = Trunk(
            arch, mean=mean, std=std, input_norm=input_norm, init_std=init_std, dtype=dtype,
            rngs=rngs,
        )
        channels = arch.layer5_channels()
        self.classifier = Head(
            channels,
            arch.head_kernel,
            arch.classifier,
            num_classes,
            arch.classifier_names,
            dropout=dropout,
            init_std=init_std,
            dtype=dtype,
            rngs=rngs,
        )
        box_head = None
        if regressor is not None:
            outputs = 4 if regressor == "shared" else 4 * num_classes
            names = tuple(f"reg{i + 1}" for i in range(len(arch.regressor) + 1))
            box_head = Head(
                channels,
                arch.head_kernel,
                arch.regressor,
                outputs,
                names,
                init_std=init_std,
                dtype=dtype,
                rngs=rngs,
            )
        self.regressor = nnx.data(box_head)

    def pool(self, layer5: jax.Array) -> jax.Array:
        """The last max-pool at offset 0 (coarse stride)."""
        return max_pool(layer5, self.arch.last_pool.window)

    def __call__(
        self, images: jax.Array, *, train: bool = False, rngs: jax.Array | None = None
    ) -> jax.Array:
        return self.classifier(self.pool(self.trunk(images)), train=train, rngs=rngs)


def create_model(
    arch: str | Architecture,
    *,
    num_classes: int = 1000,
    regressor: RegressorKind | None = None,
    seed: int = 0,
    **kwargs,
) -> OverFeat:
    """A freshly initialised OverFeat network.

    Args:
      arch: ``"fast"``, ``"accurate"``, ``"fast_small"``, ``"accurate_small"`` or an
        ``Architecture``.
      num_classes: classifier outputs (add one yourself for a detector's background class).
      regressor: ``None``, ``"shared"`` (4 outputs) or ``"per_class"`` (4 per class).
      seed: initialisation seed.
      **kwargs: ``mean``, ``std``, ``input_norm`` (``"dataset"``: those statistics;
        ``"image"``: each image's own), ``scale_sides`` (six smaller sides for inference,
        ``overfeat.scales``; None: the paper's), ``dropout``, ``init_std`` (None: He normal;
        the paper's ImageNet runs use 0.01) and ``dtype`` (compute dtype, e.g. ``jnp.bfloat16``).
    """
    return OverFeat(
        get_architecture(arch),
        num_classes=num_classes,
        regressor=regressor,
        rngs=nnx.Rngs(params=seed),
        **kwargs,
    )
