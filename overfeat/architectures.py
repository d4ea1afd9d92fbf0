"""The OverFeat layer tables as data, and everything that derives from them.

The tables are the paper's Table 1 (fast) and Table 3 (accurate), checked against the original
release's weight layout (``../shared/reference/weight_format.md``), plus two small
architectures of the same topology for CPU training and tests. Strides, field of view, valid
input sizes and map sizes are computed from the tables here and nowhere else.

Vocabulary used throughout the package:

* *layer-5 map*: the trunk's output before its last max-pool (``L`` cells along a side).
* *coarse stride*: the last pool applied once (offset 0), as in training and the original
  release: one output every ``stride`` input pixels.
* *fine stride*: the last pool applied at every offset ``0 .. pool-1`` (the paper's Fig. 3): one
  output every ``fine_stride = stride / pool`` input pixels.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

Stride = Literal["coarse", "fine"]


@dataclasses.dataclass(frozen=True)
class Conv:
    """A convolution followed by a ReLU. ``padding`` zero pixels on every side."""

    name: str
    features: int
    kernel: int
    stride: int = 1
    padding: int = 0


@dataclasses.dataclass(frozen=True)
class MaxPool:
    """A non-overlapping max-pool (window == stride) that drops an incomplete last window."""

    name: str
    window: int


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One network: the trunk (layers 1-5) and the fully connected heads applied as convolutions.

    Attributes:
      name: the key in ``ARCHITECTURES``.
      trunk: convolutions and pools up to and including the LAST max-pool, in order.
      classifier: widths of the classifier's hidden layers; the first of them sees a
        ``head_kernel`` x ``head_kernel`` window of the pooled layer-5 map, the others are 1x1.
      classifier_names: the paper's names of the classifier layers, the output layer last.
      head_kernel: spatial extent of the heads' first layer on the pooled layer-5 map.
      regressor: widths of the box regressor's hidden layers (section 4.2: 4096, 1024).
    """

    name: str
    trunk: tuple[Conv | MaxPool, ...]
    classifier: tuple[int, ...]
    classifier_names: tuple[str, ...]
    head_kernel: int
    regressor: tuple[int, ...]
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.trunk[-1], MaxPool):
            raise ValueError(f"{self.name}: the trunk must end with its last max-pool")
        if len(self.classifier_names) != len(self.classifier) + 1:
            raise ValueError(f"{self.name}: one name per classifier layer, output included")

    # --- Layers -----------------------------------------------------------------------------

    @property
    def convs(self) -> tuple[Conv, ...]:
        return tuple(layer for layer in self.trunk if isinstance(layer, Conv))

    @property
    def last_pool(self) -> MaxPool:
        return self.trunk[-1]

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Every tap point, input to output, by its paper name (``conv1 ... fc8``)."""
        return tuple(layer.name for layer in self.trunk) + self.classifier_names

    @property
    def layer5_name(self) -> str:
        """The last convolution of the trunk (the paper's 'layer 5'; conv6 in accurate)."""
        return self.convs[-1].name

    # --- Geometry ---------------------------------------------------------------------------

    @property
    def stride(self) -> int:
        """Input pixels between neighbouring outputs at coarse stride (32 fast, 36 accurate)."""
        return math.prod(_layer_stride(layer) for layer in self.trunk)

    @property
    def fine_stride(self) -> int:
        """Input pixels between neighbouring outputs at fine stride (16 fast, 12 accurate)."""
        return self.stride // self.last_pool.window

    @property
    def offsets(self) -> tuple[int, ...]:
        """The last pool's offsets Δ applied at fine stride ({0,1} fast, {0,1,2} accurate)."""
        return tuple(range(self.last_pool.window))

    @property
    def layer5_fov_cells(self) -> int:
        """Layer-5 cells one output sees: ``head_kernel`` pooled cells."""
        return self.head_kernel * self.last_pool.window

    @property
    def field_of_view(self) -> int:
        """The input size giving exactly one output: each output cell's window (231 / 221)."""
        return self.input_size_for_layer5(self.layer5_fov_cells)

    def input_size_for_layer5(self, cells: int) -> int:
        """The smallest input side whose layer-5 map has ``cells`` cells and drops no pixel."""
        size = cells
        for layer in reversed(self.trunk[:-1]):
            if isinstance(layer, MaxPool):
                size *= layer.window
            else:
                size = (size - 1) * layer.stride + layer.kernel - 2 * layer.padding
        return size

    def layer5_size(self, size: int) -> int:
        """Layer-5 cells (before the last pool) along a side of ``size`` input pixels."""
        for layer in self.trunk[:-1]:
            if isinstance(layer, MaxPool):
                size //= layer.window
            else:
                size = (size + 2 * layer.padding - layer.kernel) // layer.stride + 1
            if size <= 0:
                return 0
        return size

    def output_size(self, size: int, stride: Stride = "fine") -> int:
        """Output cells along a side of ``size`` input pixels (0 when smaller than the view)."""
        cells = self.layer5_size(size)
        window = self.last_pool.window
        if stride == "coarse":
            return max(cells // window - self.head_kernel + 1, 0)
        if stride == "fine":
            return max(cells - self.layer5_fov_cells + 1, 0)
        raise ValueError(f"stride must be 'coarse' or 'fine', got {stride!r}")

    def is_valid_size(self, size: int, stride: Stride = "fine") -> bool:
        """Whether no input pixel is dropped by a stride at ``size``.

        At fine stride every layer before the last pool must use every pixel (the last pool
        runs at every offset and so covers the whole layer-5 map); sizes step by
        ``fine_stride`` from ``field_of_view``. At coarse stride the last pool must use every
        cell too; sizes step by ``stride``.
        """
        if size < self.field_of_view:
            return False
        step = self.fine_stride if stride == "fine" else self.stride
        return (size - self.field_of_view) % step == 0

    def valid_sizes(self, limit: int, stride: Stride = "fine") -> list[int]:
        """The valid input sides up to ``limit`` pixels, smallest first."""
        step = self.fine_stride if stride == "fine" else self.stride
        return list(range(self.field_of_view, limit + 1, step))

    def snap_size(self, size: float, stride: Stride = "fine") -> int:
        """The valid input side nearest to ``size`` (never below the field of view)."""
        step = self.fine_stride if stride == "fine" else self.stride
        steps = max(round((size - self.field_of_view) / step), 0)
        return self.field_of_view + steps * step

    def output_offset(self) -> float:
        """Input pixel of the centre of output cell 0: cell ``i`` is centred at
        ``offset + i * fine_stride`` (fine) and its window starts at ``i * fine_stride``."""
        return (self.field_of_view - 1) / 2

    # --- Size -------------------------------------------------------------------------------

    def param_count(self, num_classes: int = 1000) -> int:
        """Trainable parameters of the trunk and classifier (no regressor), with biases."""
        count, channels = 0, 3
        for conv in self.convs:
            count += conv.kernel**2 * channels * conv.features + conv.features
            channels = conv.features
        widths = (*self.classifier, num_classes)
        fan_in = self.head_kernel**2 * channels
        for width in widths:
            count += fan_in * width + width
            fan_in = width
        return count

    def layer5_channels(self) -> int:
        return self.convs[-1].features


def _layer_stride(layer: Conv | MaxPool) -> int:
    return layer.window if isinstance(layer, MaxPool) else layer.stride


def _trunk(*layers):
    return tuple(layers)


FAST = Architecture(
    name="fast",
    description="Table 1 / release net_weight_0: 231x231 view, stride 32 (fine 16)",
    trunk=_trunk(
        Conv("conv1", 96, 11, stride=4),
        MaxPool("pool1", 2),
        Conv("conv2", 256, 5),
        MaxPool("pool2", 2),
        Conv("conv3", 512, 3, padding=1),
        Conv("conv4", 1024, 3, padding=1),
        Conv("conv5", 1024, 3, padding=1),
        MaxPool("pool5", 2),
    ),
    classifier=(3072, 4096),
    classifier_names=("fc6", "fc7", "fc8"),
    head_kernel=6,
    regressor=(4096, 1024),
)

ACCURATE = Architecture(
    name="accurate",
    description="Table 3 / release net_weight_1: 221x221 view, stride 36 (fine 12)",
    trunk=_trunk(
        Conv("conv1", 96, 7, stride=2),
        MaxPool("pool1", 3),
        Conv("conv2", 256, 7),
        MaxPool("pool2", 2),
        Conv("conv3", 512, 3, padding=1),
        Conv("conv4", 512, 3, padding=1),
        Conv("conv5", 1024, 3, padding=1),
        Conv("conv6", 1024, 3, padding=1),
        MaxPool("pool6", 3),
    ),
    classifier=(4096, 4096),
    classifier_names=("fc7", "fc8", "fc9"),
    head_kernel=5,
    regressor=(4096, 1024),
)

# The small nets keep each big net's sequence of layers and pools, hence its offsets and the
# ratio of stride to fine stride, with fewer channels and smaller kernels so that they train
# in minutes on a 2-core CPU. fast_small's conv1 has stride 2 rather than 4: at a 59-pixel
# view a stride of 4 would leave too few pixels for conv2.
FAST_SMALL = Architecture(
    name="fast_small",
    description="fast topology for CPU: 59x59 view, stride 16 (fine 8), offsets {0,1}",
    trunk=_trunk(
        Conv("conv1", 24, 5, stride=2),
        MaxPool("pool1", 2),
        Conv("conv2", 48, 3),
        MaxPool("pool2", 2),
        Conv("conv3", 64, 3, padding=1),
        Conv("conv4", 96, 3, padding=1),
        Conv("conv5", 96, 3, padding=1),
        MaxPool("pool5", 2),
    ),
    classifier=(256, 256),
    classifier_names=("fc6", "fc7", "fc8"),
    head_kernel=3,
    regressor=(256, 128),
)

ACCURATE_SMALL = Architecture(
    name="accurate_small",
    description="accurate topology for CPU: 87x87 view, stride 36 (fine 12), offsets {0,1,2}",
    trunk=_trunk(
        Conv("conv1", 32, 5, stride=2),
        MaxPool("pool1", 3),
        Conv("conv2", 64, 3),
        MaxPool("pool2", 2),
        Conv("conv3", 96, 3, padding=1),
        Conv("conv4", 96, 3, padding=1),
        Conv("conv5", 128, 3, padding=1),
        Conv("conv6", 128, 3, padding=1),
        MaxPool("pool6", 3),
    ),
    classifier=(512, 512),
    classifier_names=("fc7", "fc8", "fc9"),
    head_kernel=2,
    regressor=(512, 256),
)

ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch for arch in (FAST, ACCURATE, FAST_SMALL, ACCURATE_SMALL)
}


def get_architecture(name: str | Architecture) -> Architecture:
    """The architecture called ``name``; a clear error lists the known ones."""
    if isinstance(name, Architecture):
        return name
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(f"unknown architecture {name!r}; known: {known}") from None
