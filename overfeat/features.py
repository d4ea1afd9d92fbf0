"""The feature-extraction API: any layer of a trained network, on images of any size.

::

    extractor = FeatureExtractor.from_release("accurate", "net_weight_1")   # or from_checkpoint
    maps = extractor.extract("cat.jpg", layer="pool6")           # [h, w, 1024] float32
    maps = extractor.extract([a, b], layer="fc7", stride="fine")  # [2, h, w, 4096]

Layer names are the paper's (``extractor.layer_names``): ``convN`` and ``fcN`` after their
ReLU, ``poolN`` after the max-pool, the last classifier layer as logits. Layers past the last
pool are dense maps at ``stride`` ``"coarse"`` (what the original release computes: one cell
per ``arch.stride`` pixels) or ``"fine"`` (the paper's offset pooling: one cell per
``arch.fine_stride`` pixels); the fine ``poolN`` map is the last pool at stride 1.

The forward pass is compiled once per (input shape, dtype, layers, stride) and reused.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from PIL import Image

from overfeat import dense
from overfeat.architectures import Architecture, MaxPool, Stride, get_architecture
from overfeat.images import as_rgb_array, resize_shorter_side
from overfeat.models import OverFeat

ImageLike = np.ndarray | jax.Array | str | os.PathLike | Image.Image  # one image

class FeatureExtractor:
    """A model plus compiled forward passes that return any layer's maps as NumPy arrays.

    Args:
      model: an ``OverFeat`` network (weights already in it).
      class_names: a name per class, or ``None`` (used by ``overfeat.predict``).
      precision: matmul/convolution precision the forward pass is compiled with
        (``jax.default_matmul_precision``): ``None`` keeps JAX's default, which on recent
        GPUs computes float32 convolutions in TF32 (relative errors ~1e-3); ``"highest"``
        gives full float32, as the parity tests use. CPUs compute float32 either way.
    """

    def __init__(
        self,
        model: OverFeat,
        *,
        class_names: Sequence[str] | None = None,
        precision: str | None = None,
    ):
        self.model = model
        self.class_names = None if class_names is None else tuple(class_names)
        self.precision = precision
        self._graphdef, self._state = nnx.split(model)
        self._compiled: dict[tuple, Any] = {}

    @classmethod
    def from_release(
        cls, arch: str, path: str | os.PathLike, *, precision: str | None = None
    ) -> FeatureExtractor:
        """The original release's ``fast`` (``net_weight_0``) or ``accurate``
        (``net_weight_1``) network, with the release's class names."""
        from overfeat.imagenet_classes import release_class_names
        from overfeat.weights import load_release

        model = load_release(arch, path)
        return cls(model, class_names=release_class_names(), precision=precision)

    @classmethod
    def from_checkpoint(
        cls, directory: str | os.PathLike, *, precision: str | None = None
    ) -> FeatureExtractor:
        """A model saved with ``overfeat.weights.save_model``."""
        from overfeat.weights import load_model

        model, info = load_model(directory)
        return cls(model, class_names=info.class_names, precision=precision)

    @property
    def arch(self) -> Architecture:
        return self.model.arch

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self.arch.layer_names

    def extract(
        self,
        images: ImageLike | Sequence[ImageLike],
        *,
        layer: str | Sequence[str],
        stride: Stride = "coarse",
        size: int | None = None,
    ) -> np.ndarray | dict[str, np.ndarray]:
        """The maps of ``layer`` for one image (``[H, W, C]``) or a batch (``[B, H, W, C]``).

        Args:
          images: one image or a sequence of them: ``uint8``/float ``[H, W, 3]`` RGB arrays
            on the 0..255 scale, a ``[B, H, W, 3]`` array (a batch), file paths, or PIL
            images. Each side must be at least ``arch.field_of_view``.
          layer: a name from ``layer_names``, or several (then a dict name -> maps).
          stride: ``"coarse"`` or ``"fine"`` for layers past the last pool.
          size: resize each image so that its SHORTER side is ``size`` pixels (aspect kept);
            ``None`` uses images at their own size. A batch's images must end up the same size.

        Returns float32 maps: ``[h, w, C]`` for one image, ``[B, h, w, C]`` for a batch.
        """
        names = (layer,) if isinstance(layer, str) else tuple(layer)
        self._check_request(names, stride)
        batch, single = self._as_batch(images, size)
        outputs = self._forward(batch, names, stride)
        if single:
            outputs = {name: value[0] for name, value in outputs.items()}
        return outputs[layer] if isinstance(layer, str) else outputs

    def _check_request(self, names: tuple[str, ...], stride: str) -> None:
        if stride not in ("coarse", "fine"):
            raise ValueError(f"stride must be 'coarse' or 'fine', got {stride!r}")
        unknown = [name for name in names if name not in self.layer_names]
        if unknown or not names:
            raise ValueError(
                f"unknown layer(s) {unknown} for the {self.arch.name} network; "
                f"its layers are: {' '.join(self.layer_names)}"
            )

    def _as_batch(self, images, size: int | None) -> tuple[np.ndarray, bool]:
        """``[B, H, W, 3]`` (``uint8`` or float32) and whether one image was given."""
        if isinstance(images, (np.ndarray, jax.Array)) and np.ndim(images) == 4:
            items, single = list(np.asarray(images)), False
        elif isinstance(images, (list, tuple)):
            items, single = list(images), False
            if not items:
                raise ValueError("no images given")
        else:
            items, single = [images], True
        arrays = [as_rgb_array(item) for item in items]
        if size is not None:
            arrays = [resize_shorter_side(array, size) for array in arrays]
        shapes = {array.shape for array in arrays}
        if len(shapes) > 1:
            raise ValueError(
                f"a batch needs images of one size, got {sorted(shapes)}; pass size= to "
                "resize them, or extract them one at a time"
            )
        dtype = np.uint8 if all(a.dtype == np.uint8 for a in arrays) else np.float32
        batch = np.stack([array.astype(dtype, copy=False) for array in arrays])
        dense.check_images(self.arch, batch)
        return batch, single

    def _forward(self, batch: np.ndarray, names: tuple[str, ...], stride: str) -> dict:
        key = (batch.shape, batch.dtype.str, names, stride)
        compiled = self._compiled.get(key)
        if compiled is None:
            graphdef = self._graphdef

            def forward(state, images):  # images [B, H, W, 3]
                model = nnx.merge(graphdef, state)
                return dense.tap(model, images, names, stride=stride)

            with contextlib.ExitStack() as stack:
                if self.precision is not None:
                    stack.enter_context(jax.default_matmul_precision(self.precision))
                compiled = jax.jit(forward).lower(self._state, batch).compile()
            self._compiled[key] = compiled
        outputs = compiled(self._state, batch)
        return {name: np.asarray(value, np.float32) for name, value in outputs.items()}


def release_module_indices(arch: str | Architecture) -> dict[int, str]:
    """The original release's module index (``overfeat -L i``, ``get_output(i)``) of each
    activation we expose, derived from the layer table: module 0 normalizes, each padded
    convolution is ``pad, conv, ReLU``, an unpadded one ``conv, ReLU``, a pool one module,
    the classifier ``conv, ReLU`` per hidden layer and a bare ``conv`` for the logits.
    The indices in between (pre-ReLU outputs, padding) have no counterpart here."""
    arch = get_architecture(arch)
    table, index = {}, 0
    for layer in arch.trunk:
        index += 1 if isinstance(layer, MaxPool) else (2 + (layer.padding > 0))
        table[index] = layer.name
    for position, name in enumerate(arch.classifier_names):
        index += 1 if position == len(arch.classifier_names) - 1 else 2
        table[index] = name
    return table


def release_layer_name(arch: str | Architecture, index: int) -> str:
    """Our layer name for the original release's module ``index`` (``overfeat -L index``)."""
    table = release_module_indices(arch)
    if index not in table:
        known = ", ".join(f"{i}={name}" for i, name in table.items())
        raise ValueError(
            f"module {index} of the release's {get_architecture(arch).name} net is not an "
            f"activation exposed here (it is the normalization, a padding or a pre-ReLU "
            f"output); exposed: {known}"
        )
    return table[index]
