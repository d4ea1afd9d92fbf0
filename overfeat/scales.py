"""The multi-scale plan (paper sections 3.3 and 4.2, Table 5): the sizes an image is resized to,
so that every side is a valid input size, and the bucketing that bounds how many shapes a
stream of images produces.

Two rules, both giving sides that are valid at fine stride (``arch.is_valid_size(n, "fine")``:
no pixel dropped by a stride):

* ``"nearest"`` (default): the smaller side of scale ``s`` is the valid size nearest to
  ``r_s * field_of_view``, with ``r_s`` Table 5's smaller sides over the accurate net's view
  (245/221 ... 461/221), so that at every scale each architecture's window covers the same
  fraction of the image; the larger side is the valid size nearest to ``smaller * aspect``.
  For the accurate net the smaller sides are exactly Table 5's.
* ``"table5"``: the rule we infer from the paper's Table 5 (NOTES.md, "Scales"): sides on
  the grid where all ``p x p`` offset maps have the same size (``fov + (p-1)*fine_stride +
  m*stride``), the smaller side at Table 5's ``m`` (0, 1, 2, 4, 5, 6), the larger side the
  largest grid size not above ``smaller * aspect``, and scale 1 square. For a 5:4 image it
  reproduces Table 5 exactly (245x245, 281x317, 317x389, 389x461, 425x497, 461x569).

A model may carry its own six smaller sides (``sides``: ``OverFeat.scale_sides``, chosen from
its training data's object sizes, see ``sides_for_objects``); the larger side then follows the
``"nearest"`` rule.

Bucketing: with ``aspect_buckets``, the image's aspect (longer over shorter side) is first
snapped to the nearest bucket (in log scale), so each scale has at most
``2 * len(buckets) - 1`` shapes (landscape and portrait per bucket, one square), whatever the
images' sizes: ``shapes_per_scale``. Boxes map back exactly whatever the snapping, because
``ScaledSize`` keeps each axis's own resize factor.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp

from overfeat.architectures import ACCURATE, Architecture, Stride, get_architecture

Rule = Literal["nearest", "table5"]

# Table 5: the accurate net's six input sizes (rows 1-6), height x width of a landscape image.
TABLE5_SIZES = ((245, 245), (281, 317), (317, 389), (389, 461), (425, 497), (461, 569))
TABLE5_SMALLER_SIDES = tuple(height for height, _ in TABLE5_SIZES)
ALL_SCALES = (1, 2, 3, 4, 5, 6)

# Geometric aspect buckets 1 .. 2: any aspect in [1, 2] is distorted by at most 2 ** (1/8),
# about 9%; images more elongated than 2:1 are squashed to 2:1.
DEFAULT_ASPECT_BUCKETS = (1.0, 2**0.25, 2**0.5, 2**0.75, 2.0)


@dataclasses.dataclass(frozen=True)
class ScaledSize:
    """One scale of one image.

    Attributes:
      scale_index: the scale, 1..6 as Table 5's rows.
      height, width: the size to resize the image to (both valid input sizes).
      factor_y, factor_x: ``height / original height`` and ``width / original width``.
    """

    scale_index: int
    height: int
    width: int
    factor_y: float
    factor_x: float

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)


def _complete_grid_start(arch: Architecture) -> int:
    """The smallest size at which every offset of the last pool gives one output: the
    field of view plus ``(p - 1)`` fine strides (245 for the accurate net)."""
    return arch.field_of_view + (arch.last_pool.window - 1) * arch.fine_stride


def _table5_steps() -> tuple[int, ...]:
    """Table 5's smaller sides in strides above the complete grid's start: 0, 1, 2, 4, 5, 6
    (each side is exactly on that grid: tested)."""
    start = _complete_grid_start(ACCURATE)
    return tuple((side - start) // ACCURATE.stride for side in TABLE5_SMALLER_SIDES)


def smaller_sides(arch: str | Architecture, *, rule: Rule = "nearest", stride: Stride = "fine"):
    """The smaller side of each of the six scales for ``arch`` (a tuple of 6 ints).

    ``stride`` (``"nearest"`` only) picks the grid: valid sizes at fine or coarse stride.
    Where the coarse grid would put two scales on one size (the small architectures), the
    later scale moves up by one stride. To compare strides on equal inputs (Table 2), use the
    fine grid for both: a coarse pass over a fine-valid size leaves at most ``(p - 1)`` fine
    strides of the edge unseen.
    """
    arch = get_architecture(arch)
    if rule == "table5":
        start = _complete_grid_start(arch)
        return tuple(start + step * arch.stride for step in _table5_steps())
    if rule == "nearest":
        step = arch.fine_stride if stride == "fine" else arch.stride
        sides: list[int] = []
        for table5_side in TABLE5_SMALLER_SIDES:
            side = arch.snap_size(table5_side / ACCURATE.field_of_view * arch.field_of_view, stride)
            # a coarse grid can put two scales on one size: keep them apart by a step
            sides.append(max(side, sides[-1] + step) if sides else side)
        return tuple(sides)
    raise ValueError(f"rule must be 'nearest' or 'table5', got {rule!r}")


def check_sides(arch: str | Architecture, sides: Sequence[int]) -> tuple[int, ...]:
    """``sides`` as six increasing smaller sides valid at fine stride, or a clear error."""
    arch = get_architecture(arch)
    sides = tuple(int(side) for side in sides)
    if len(sides) != len(ALL_SCALES) or list(sides) != sorted(set(sides)):
        raise ValueError(f"scale sides must be {len(ALL_SCALES)} increasing sizes, got {sides}")
    invalid = [side for side in sides if not arch.is_valid_size(side, "fine")]
    if invalid:
        raise ValueError(f"scale sides {invalid} are not valid {arch.name} input sizes at fine "
                         f"stride ({arch.field_of_view} + a multiple of {arch.fine_stride})")
    return sides


def sides_for_objects(
    arch: str | Architecture,
    small_object: float,
    large_object: float,
    *,
    view_share: tuple[float, float] = (0.8, 1.25),
) -> tuple[int, ...]:
    """Six smaller sides at which objects of ``small_object`` .. ``large_object`` times the
    image's shorter side appear at ``view_share`` of the field of view: the smallest objects
    at the low share in the largest scale, the largest at the high share in the smallest,
    geometric in between, snapped to valid sizes (never below the paper's range for the
    architecture, ``smaller_sides``, which is what images with large objects get).

    The paper's plan shows every image at 1.1-2.1x the view whatever its objects' sizes: right
    for ImageNet's large objects, blind to a photo's small ones (NOTES.md "Scales")."""
    arch = get_architecture(arch)
    if not 0 < small_object <= large_object:
        raise ValueError(f"object sizes must be 0 < small <= large, got {small_object}, "
                         f"{large_object}")
    low, high = view_share
    paper = smaller_sides(arch)
    first = max(high * arch.field_of_view / large_object, paper[0])
    last = max(low * arch.field_of_view / small_object, paper[-1], first)
    ratio = (last / first) ** (1 / (len(ALL_SCALES) - 1))
    sides: list[int] = []
    for i in range(len(ALL_SCALES)):
        side = arch.snap_size(first * ratio**i, "fine")
        sides.append(max(side, sides[-1] + arch.fine_stride) if sides else side)
    return tuple(sides)


def snap_aspect(aspect: float, buckets: Sequence[float]) -> float:
    """The bucket nearest to ``aspect`` (>= 1) in log scale (ties: the smaller bucket)."""
    if not buckets or min(buckets) < 1:
        raise ValueError(f"aspect buckets must be non-empty and >= 1, got {tuple(buckets)}")
    return min(sorted(buckets), key=lambda bucket: abs(math.log(aspect / bucket)))


def _larger_side(arch, smaller: int, aspect: float, rule: Rule, stride: Stride) -> int:
    if rule == "nearest":
        return max(arch.snap_size(smaller * aspect, stride), smaller)
    # table5: the largest complete-grid size not above smaller * aspect (never below smaller)
    steps = math.floor((smaller * aspect - smaller) / arch.stride + 1e-9)
    return smaller + max(steps, 0) * arch.stride


def scale_plan(
    arch: str | Architecture,
    height: int,
    width: int,
    scales: Sequence[int] = ALL_SCALES,
    *,
    rule: Rule = "nearest",
    stride: Stride = "fine",
    aspect_buckets: Sequence[float] | None = None,
    sides: Sequence[int] | None = None,
) -> list[ScaledSize]:
    """The sizes to resize a ``height x width`` image to, one per scale in ``scales`` (1..6).

    The smaller image side becomes the scale's smaller side (``sides`` when given, else
    ``smaller_sides``); the larger
    side follows the image's aspect, snapped to ``aspect_buckets`` first when given (bounding
    the number of distinct shapes: ``shapes_per_scale``), then to the grid of ``rule``.
    Table 5's scale 1 is square under ``rule="table5"``.
    """
    arch = get_architecture(arch)
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    unknown = [s for s in scales if s not in ALL_SCALES]
    if unknown or not scales:
        raise ValueError(f"scales must be a non-empty subset of 1..6, got {tuple(scales)}")
    if rule == "table5" and stride != "fine":
        raise ValueError("rule='table5' is the paper's fine-stride grid; use rule='nearest'")
    if sides is not None and (rule != "nearest" or stride != "fine"):
        raise ValueError("a model's own scale sides are fine-stride sizes under rule='nearest'")
    aspect = max(height, width) / min(height, width)
    if aspect_buckets is not None:
        aspect = snap_aspect(aspect, aspect_buckets)
    sides = smaller_sides(arch, rule=rule, stride=stride) if sides is None else check_sides(
        arch, sides)
    plan = []
    for scale in scales:
        smaller = sides[scale - 1]
        larger = (
            smaller
            if rule == "table5" and scale == 1
            else (_larger_side(arch, smaller, aspect, rule, stride))
        )
        new_h, new_w = (smaller, larger) if height <= width else (larger, smaller)
        plan.append(ScaledSize(scale, new_h, new_w, new_h / height, new_w / width))
    return plan


def shapes_per_scale(aspect_buckets: Sequence[float]) -> int:
    """An upper bound on the distinct ``(height, width)`` one scale produces for images of
    any size under ``aspect_buckets``: landscape and portrait per bucket, 1:1 once."""
    buckets = set(aspect_buckets)
    return 2 * len(buckets) - (1.0 in buckets)


def bucket_shapes(
    arch: str | Architecture,
    scales: Sequence[int] = ALL_SCALES,
    *,
    rule: Rule = "nearest",
    stride: Stride = "fine",
    aspect_buckets: Sequence[float] = DEFAULT_ASPECT_BUCKETS,
    sides: Sequence[int] | None = None,
) -> dict[int, list[tuple[int, int]]]:
    """Every shape a scale can produce under ``aspect_buckets``: ``{scale: [(h, w), ...]}``,
    e.g. to compile them all ahead of a stream of images."""
    shapes: dict[int, set[tuple[int, int]]] = {scale: set() for scale in scales}
    for bucket in aspect_buckets:
        size = 1000
        for height, width in ((size, round(size * bucket)), (round(size * bucket), size)):
            for scaled in scale_plan(
                arch,
                height,
                width,
                scales,
                rule=rule,
                stride=stride,
                aspect_buckets=aspect_buckets,
                sides=sides,
            ):
                shapes[scaled.scale_index].add(scaled.size)
    return {scale: sorted(found) for scale, found in shapes.items()}


# --- Image operations ----------------------------------------------------------------------


def resize_images(images, height: int, width: int) -> jax.Array:
    """``images [B, H, W, 3]`` (uint8 or float, 0..255) -> float32 ``[B, height, width, 3]``.

    Bilinear with antialiasing (``jax.image.resize``): pixel centres at half-integers, so box
    coordinates scale by exactly ``height / H`` and ``width / W`` (``boxes.scale_xyxy``).
    """
    images = jnp.asarray(images, jnp.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images [B, H, W, 3], got shape {images.shape}")
    shape = (images.shape[0], height, width, 3)
    return jax.image.resize(images, shape, method="linear", antialias=True)


def flip_images(images):
    """Horizontal mirror of ``images [..., H, W, C]`` (boxes: ``boxes.flip_xyxy``)."""
    return images[..., :, ::-1, :]
