"""Dense application of the heads to layer-5 maps of any size, at coarse or fine stride.

Fine stride (section 3.3, Fig. 3) applies the last max-pool at every offset ``Δ`` in
``0 .. p-1`` (``p`` the pool window) along each axis, runs the head on each of the ``p*p``
pooled maps and interleaves the outputs, so that output cell ``j`` sees layer-5 cells
``j .. j + k*p - 1`` (``k`` the head's kernel) and neighbouring outputs are one layer-5 cell,
``fine_stride`` input pixels, apart.

Two implementations, equal to float tolerance:

* ``apply_head_reference``: the paper's procedure written out: pool per offset, head per
  offset, interleave. Readable; the tests' reference.
* ``apply_head_fused``: ONE pass: max-pool with stride 1 (every offset's windows at once), then
  the head's first layer dilated by ``p`` (its taps land on one offset's non-overlapping
  windows). No gather, no duplicated head work: the fast path.

Coarse stride is offset 0 only (training, and what the original release computes); it is the
``[::p, ::p]`` sub-grid of the fine map.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from overfeat.architectures import Architecture, Stride
from overfeat.models import Head, OverFeat, max_pool


def apply_head_coarse(head: Head, layer5: jax.Array, window: int) -> jax.Array:
    """``layer5 [B, L_h, L_w, C5]`` -> ``[B, L_h // p - k + 1, L_w // p - k + 1, D]``."""
    return head(max_pool(layer5, window))


def apply_head_fused(head: Head, layer5: jax.Array, window: int) -> jax.Array:
    """``layer5 [B, L_h, L_w, C5]`` -> fine map ``[B, L_h - k*p + 1, L_w - k*p + 1, D]``."""
    return head(max_pool(layer5, window, stride=1), dilation=window)


def pool_at_offsets(layer5: jax.Array, window: int) -> dict[tuple[int, int], jax.Array]:
    """The last pool at every offset: ``{(Δy, Δx): [B, (L_h - Δy) // p, (L_w - Δx) // p, C]}``."""
    return {
        (dy, dx): max_pool(layer5[:, dy:, dx:, :], window)
        for dy in range(window)
        for dx in range(window)
    }


def interleave(maps: dict[tuple[int, int], jax.Array], window: int, size: tuple[int, int]):
    """Assemble per-offset output maps into one fine map ``[B, size[0], size[1], D]``.

    The output of offset ``(Δy, Δx)`` at cell ``(i, j)`` lands at ``(Δy + p*i, Δx + p*j)``.
    """
    first = maps[(0, 0)]
    batch, rows, cols, depth = first.shape
    grid = jnp.zeros((batch, rows, window, cols, window, depth), first.dtype)
    for (dy, dx), out in maps.items():
        grid = grid.at[:, : out.shape[1], dy, : out.shape[2], dx].set(out)
    return grid.reshape(batch, rows * window, cols * window, depth)[:, : size[0], : size[1]]


def apply_head_reference(head: Head, layer5: jax.Array, window: int) -> jax.Array:
    """The paper's Fig. 3, literally; the same result as ``apply_head_fused``."""
    k = head_kernel(head)
    size = (layer5.shape[1] - k * window + 1, layer5.shape[2] - k * window + 1)
    outputs = {offset: head(pooled) for offset, pooled in pool_at_offsets(layer5, window).items()}
    return interleave(outputs, window, size)


def head_kernel(head: Head) -> int:
    return getattr(head, head.names[0]).kernel.shape[0]


def apply_head(
    head: Head, layer5: jax.Array, window: int, stride: Stride = "fine", impl: str = "fused"
) -> jax.Array:
    """A head over a layer-5 map at coarse or fine stride (``impl`` 'fused' or 'reference')."""
    if stride == "coarse":
        return apply_head_coarse(head, layer5, window)
    if stride != "fine":
        raise ValueError(f"stride must be 'coarse' or 'fine', got {stride!r}")
    if impl == "fused":
        return apply_head_fused(head, layer5, window)
    if impl == "reference":
        return apply_head_reference(head, layer5, window)
    raise ValueError(f"impl must be 'fused' or 'reference', got {impl!r}")


def check_images(arch: Architecture, images) -> tuple[int, int]:
    """Raise a clear ``ValueError`` unless ``images`` is ``[B, H, W, 3]`` with both sides at
    least the field of view; return ``(H, W)``."""
    shape = tuple(np.shape(images))
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(
            f"expected images of shape [B, H, W, 3] (RGB, channels last), got shape {shape}"
        )
    height, width = shape[1:3]
    view = arch.field_of_view
    if height < view or width < view:
        raise ValueError(
            f"image of {height}x{width} pixels is smaller than the {arch.name} network's "
            f"{view}x{view} field of view; resize it so that both sides are at least {view}"
        )
    return height, width


def dense_outputs(
    model: OverFeat, images: jax.Array, *, stride: Stride = "fine", impl: str = "fused"
) -> dict[str, jax.Array]:
    """The trunk once, then every head densely.

    Returns ``{"logits": [B, h, w, C], "boxes": [B, h, w, 4 or 4C]}`` (``boxes`` only when the
    model has a regressor); ``(h, w) = arch.output_size(H|W, stride)``.
    """
    check_images(model.arch, images)
    window = model.arch.last_pool.window
    layer5 = model.trunk(images)
    outputs = {"logits": apply_head(model.classifier, layer5, window, stride, impl)}
    if model.regressor is not None:
        outputs["boxes"] = apply_head(model.regressor, layer5, window, stride, impl)
    return outputs


def tap(
    model: OverFeat, images: jax.Array, layers: tuple[str, ...], *, stride: Stride = "coarse"
) -> dict[str, jax.Array]:
    """Activations of the named layers (paper names: ``conv1 ... pool5 ... fc8``).

    Convolution and classifier taps are after their ReLU; the classifier's last layer is the
    logits. Layers past the last pool are dense maps at ``stride``; at fine stride the pool's
    own tap is its stride-1 pooling (every offset's windows, interleaved).
    """
    arch = model.arch
    unknown = [name for name in layers if name not in arch.layer_names]
    if unknown:
        raise ValueError(
            f"unknown layer(s) {unknown} for the {arch.name} network; "
            f"its layers are: {' '.join(arch.layer_names)}"
        )
    check_images(arch, images)
    taps: dict[str, jax.Array] = {}
    layer5 = model.trunk(images, taps=taps)
    if any(name in layers for name in (arch.last_pool.name, *arch.classifier_names)):
        window = arch.last_pool.window
        if stride == "fine":
            pooled, dilation = max_pool(layer5, window, stride=1), window
        else:
            pooled, dilation = max_pool(layer5, window), 1
        taps[arch.last_pool.name] = pooled
        if any(name in layers for name in arch.classifier_names):
            model.classifier(pooled, dilation=dilation, taps=taps)
    return {name: taps[name] for name in layers}
