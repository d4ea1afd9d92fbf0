"""Input pipelines on grain: any random-access source of contract dicts -> batches of arrays.

One entry point, ``make_pipeline(source, task=, train=, batch_size=, ...)``, returns a
``grain.IterDataset``; ``iter()`` on it gives an iterator with ``get_state()`` /
``set_state()`` (a JSON-able dict) for exact resumption, which ``grain.checkpoint`` and orbax
save alongside a model.

Per-example preprocessing (``Preprocess``), following the paper where it speaks:

* ``classify``, train: shorter side -> ``resize_size`` (256 for the paper's nets; or drawn up
  to ``resize_max``: scale jitter, off by default), a random
  ``crop_size`` window (the architecture's field of view: 221 accurate, 231 fast), a
  horizontal flip half of the time (section 3.1). When the source has boxes, windows that
  would cut the labelled object away are redrawn (ImageNet has no such boxes for most
  training images; the paper's crops are plain random ones).
* ``classify``, eval: shorter side -> ``resize_size``, the centre window.
* ``localize`` / ``detect``, train: shorter side -> one of ``scales`` at random, a random
  ``image_size`` window, a flip; boxes move with the pixels and are dropped when less than
  ``min_visible`` of them stays in the window. ``localize`` redraws windows that lose the
  main object, like ``classify``.
* ``localize`` / ``detect``, eval: longer side -> ``image_size``, padded at the bottom/right
  to a square; ``scale`` and ``image_shape`` in the batch map outputs back to the original.

Batches (``collate``): ``image`` uint8 [B, H, W, 3]; ``label`` int32 [B] (when the examples
have one); ``boxes`` float32 [B, M, 4] (zeros past ``num_boxes``); ``labels`` int32 [B, M] (-1
past ``num_boxes``); ``ignore`` bool [B, M]; ``num_boxes`` int32 [B]; ``index`` int64 [B] (the
example's index in the source, -1 for padding); ``valid`` bool [B] (False for the padding
that fills an evaluation pipeline's last batch); eval localize/detect also ``scale`` float32
[B] (pixels per original pixel) and ``image_shape`` int32 [B, 2] (the unpadded height, width).

Large photos: a training pipeline over a TFDS source decodes JPEGs at 1/2, 1/4 or 1/8 of their
size where that keeps the shorter side at or above what the transform resizes it to
(``training_shorter_side``); the boxes come in the same pixels. ImageNet's images are too
small for it to apply; a phone's 12-megapixel photo decodes ~4x faster.

Determinism: the batches are a function of (source, options, seed, shard, num_workers):
shuffling and augmentation draw from grain's per-index random streams. Training shuffles
every epoch anew; evaluation reads every example of the shard once, in order.

Sharding: host ``shard_index`` of ``shard_count`` (default ``jax.process_index()`` of
``jax.process_count()``) reads examples ``shard_index::shard_count``. Training drops the last
``len % shard_count`` examples so that every host holds the same number; evaluation pads with
invalid entries so that every host yields the same number of batches (a multi-host step
needs all hosts).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import grain
import numpy as np

from overfeat.architectures import Architecture, get_architecture
from overfeat.data import transforms
from overfeat.data.checks import BadExampleError, BadExampleLog, check_example

TASKS = ("classify", "localize", "detect")
DEFAULT_MAX_BOXES = 100


@dataclasses.dataclass(frozen=True)
class InputSizes:
    """The sizes a pipeline works at, all in pixels.

    Attributes:
      crop_size: classify: the side of the square training/eval window.
      resize_size: classify: the shorter side before cropping.
      image_size: localize/detect: the side of the square training window and of the padded
        evaluation image.
      scales: localize/detect, train: shorter sides picked from at random before cropping.
      resize_max: classify, train: when above ``resize_size``, the shorter side is drawn
        uniformly from ``resize_size .. resize_max`` for each example (scale jitter; the
        paper trains at the one size, 256). 0: off.
    """

    crop_size: int
    resize_size: int
    image_size: int
    scales: tuple[int, ...]
    resize_max: int = 0

    def __post_init__(self):
        if self.resize_max and self.resize_max < self.resize_size:
            raise ValueError(f"resize_max {self.resize_max} is below resize_size "
                             f"{self.resize_size} (0 turns scale jitter off)")


def input_sizes(arch: str | Architecture) -> InputSizes:
    """Default sizes for an architecture.

    classify: ``crop_size`` = field of view, ``resize_size`` = 256 (paper) or 256/221 of the
    view (small nets). localize/detect: ``image_size`` = the field of view plus two coarse
    strides (a 3x3 coarse output map: 87 + 2*36 = 159 for accurate_small, 221 + 72 = 293 for
    accurate), ``scales`` = that size times 1, 1.25 and 1.5 (objects seen over a range of
    sizes, section 4.2's multi-scale training).
    """
    arch = get_architecture(arch)
    image_size = arch.field_of_view + 2 * arch.stride
    return InputSizes(
        crop_size=arch.field_of_view,
        resize_size=transforms.classification_resize_size(arch.field_of_view),
        image_size=image_size,
        scales=tuple(round(image_size * factor) for factor in (1.0, 1.25, 1.5)),
    )


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """``(example, rng) -> example``: the per-example transform of one task (see module doc).
    A dataclass so that worker processes can pickle it."""

    task: str
    train: bool
    sizes: InputSizes
    flip: bool = True
    min_visible: float = transforms.DEFAULT_MIN_VISIBLE

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")

    def __call__(self, example: dict, rng: np.random.Generator | None = None) -> dict:
        if self.train and rng is None:
            raise ValueError("a training transform needs an rng")
        sizes = self.sizes
        if self.task == "classify":
            shorter_side = sizes.resize_size
            if self.train and sizes.resize_max > sizes.resize_size:
                shorter_side = int(rng.integers(sizes.resize_size, sizes.resize_max + 1))
            out = self._crop(example, rng, shorter_side, sizes.crop_size)
        elif self.train:
            scale = sizes.scales[int(rng.integers(len(sizes.scales)))]
            out = self._crop(example, rng, scale, sizes.image_size)
        else:
            shape = transforms.image_shape(example)
            out, scale = transforms.fit_and_pad(example, sizes.image_size)
            out["scale"] = np.float32(scale)
            out["image_shape"] = np.array([round(shape[0] * scale), round(shape[1] * scale)],
                                          np.int32)
        if self.train and self.flip:
            out = transforms.random_horizontal_flip(out, rng)
        return out

    def _crop(self, example: dict, rng, shorter_side: int, size: int) -> dict:
        if self.train:
            keep = int(example["label"]) if "label" in example and self.task != "detect" \
                else None
            return transforms.random_scaled_crop(example, rng, shorter_side, size, size,
                                                 min_visible=self.min_visible, keep_label=keep)
        resized = transforms.resize_shorter_side(example, shorter_side)
        return transforms.center_crop(resized, size, size, min_visible=self.min_visible)


def collate(examples: Sequence[dict | None], *, batch_size: int, max_boxes: int) -> dict:
    """Stack examples into a batch of ``batch_size`` (see the module doc for the fields).
    ``None`` entries and missing tail entries become padding with ``valid`` False."""
    real = [e for e in examples if e is not None]
    if not real:
        raise ValueError("cannot make a batch without any example")
    first = real[0]
    padding = {key: np.zeros_like(value) for key, value in first.items()}
    padding["index"] = np.int64(-1)
    rows = [e if e is not None else padding for e in examples]
    rows += [padding] * (batch_size - len(rows))
    valid = np.array([e is not None for e in examples] + [False] * (batch_size -
                                                                    len(examples)))
    batch = {"image": np.stack([r["image"] for r in rows]),  # [B, H, W, 3]
             "index": np.array([r["index"] for r in rows], np.int64),
             "valid": valid}
    for key in ("label", "scale", "image_shape"):
        if key in first:
            batch[key] = np.stack([np.asarray(r[key]) for r in rows])
    if "boxes" in first:
        batch.update(_pad_boxes(rows, valid, max_boxes))
    return batch


def _pad_boxes(rows: list[dict], valid: np.ndarray, max_boxes: int) -> dict:
    size = len(rows)
    boxes = np.zeros((size, max_boxes, 4), np.float32)  # [B, M, 4]
    labels = np.full((size, max_boxes), -1, np.int32)
    ignore = np.zeros((size, max_boxes), bool)
    counts = np.zeros(size, np.int32)
    for row, (example, real) in enumerate(zip(rows, valid, strict=True)):
        if not real:
            continue
        count = len(example["boxes"])
        if count > max_boxes:
            raise ValueError(f"example {int(example['index'])} has {count} boxes, more than "
                             f"max_boxes={max_boxes}; raise max_boxes")
        counts[row] = count
        boxes[row, :count] = example["boxes"]
        labels[row, :count] = example["labels"]
        if "ignore" in example:
            ignore[row, :count] = example["ignore"]
    return {"boxes": boxes, "labels": labels, "ignore": ignore, "num_boxes": counts}


class ShardView:
    """Examples ``shard_index::shard_count`` of a source, checked, with their source index.

    ``length`` may exceed the shard (evaluation padding: those entries are ``None``) or fall
    short of it (training drops the remainder). A bad example raises ``BadExampleError``
    naming its index, or with ``skip_bad`` is logged, counted and returned as ``None``.
    """

    def __init__(self, source, shard_index: int, shard_count: int, length: int, *,
                 skip_bad: bool = False, num_classes: int | None = None, name: str = "source"):
        self.source, self.shard_index, self.shard_count = source, shard_index, shard_count
        self.length, self.skip_bad, self.num_classes = length, skip_bad, num_classes
        self.name = name
        self.log = BadExampleLog(name)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, position: int) -> dict | None:
        index = self.shard_index + int(position) * self.shard_count
        if index >= len(self.source):
            return None
        try:
            example = check_example(self.source[index], name=f"{self.name}[{index}]",
                                    num_classes=self.num_classes)
        except BadExampleError as error:
            if not self.skip_bad:
                raise
            self.log.skip(index, error)
            return None
        example["index"] = np.int64(index)
        return example


def _apply(preprocess: Preprocess, example: dict | None, rng=None) -> dict | None:
    return None if example is None else preprocess(example, rng)


def default_shard() -> tuple[int, int]:
    """``(jax.process_index(), jax.process_count())``."""
    import jax

    return jax.process_index(), jax.process_count()


def make_pipeline(
    source,
    *,
    task: str,
    train: bool,
    batch_size: int,
    arch: str | Architecture = "accurate_small",
    sizes: InputSizes | None = None,
    seed: int = 0,
    num_epochs: int | None = None,
    max_boxes: int = DEFAULT_MAX_BOXES,
    min_visible: float = transforms.DEFAULT_MIN_VISIBLE,
    shard: tuple[int, int] | None = None,
    num_workers: int = 0,
    num_threads: int = 2,
    on_bad_example: str = "raise",
    num_classes: int | None = None,
) -> grain.IterDataset:
    """Batches of ``source`` for ``task`` (``classify``, ``localize``, ``detect``).

    Args:
      source: random access (``len``, ``[i]``) to contract dicts: a ``SyntheticSource``, a
        TFDS source, a list of dicts.
      train: augment and shuffle, repeat ``num_epochs`` times (None: forever), drop the last
        partial batch; else one ordered pass, the last batch padded (``valid`` False).
      batch_size: examples per batch ON THIS HOST.
      arch, sizes: the sizes; ``sizes`` (an ``InputSizes``) overrides ``input_sizes(arch)``.
      seed: shuffling and augmentation seed.
      max_boxes: boxes per example in the padded batch; more is an error naming the example.
      min_visible: fraction of a box that must stay in a crop for the box to be kept.
      shard: ``(index, count)``; default ``(jax.process_index(), jax.process_count())``.
      num_workers: worker processes (0: in this process, with ``num_threads`` threads).
      on_bad_example: ``raise`` or ``skip`` (count and log; evaluation pads the hole).
      num_classes: when given, labels outside ``0 .. num_classes - 1`` are bad examples.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if on_bad_example not in ("raise", "skip"):
        raise ValueError(f"on_bad_example must be 'raise' or 'skip', got {on_bad_example!r}")
    shard_index, shard_count = shard if shard is not None else default_shard()
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard index {shard_index} not in 0..{shard_count - 1}")
    total = len(source)
    length = total // shard_count if train else math.ceil(total / shard_count)
    if train and length == 0:
        raise ValueError(f"{total} examples cannot feed {shard_count} training shards")
    sizes = sizes or input_sizes(arch)
    if train and hasattr(source, "with_min_shorter_side"):
        source = source.with_min_shorter_side(training_shorter_side(task, sizes))
    view = ShardView(source, shard_index, shard_count, length,
                     skip_bad=on_bad_example == "skip", num_classes=num_classes,
                     name=getattr(source, "name", type(source).__name__))
    preprocess = Preprocess(task, train, sizes, min_visible=min_visible)
    batch_fn = functools.partial(collate, batch_size=batch_size, max_boxes=max_boxes)
    # Every host shuffles and augments with its own streams.
    host_seed = int(np.random.SeedSequence([seed, shard_index]).generate_state(1)[0])
    dataset = grain.MapDataset.source(view)
    if train:
        dataset = dataset.shuffle(seed=host_seed).repeat(num_epochs)
        dataset = dataset.random_map(functools.partial(_apply, preprocess), seed=host_seed)
        read = grain.ReadOptions(num_threads=num_threads,
                                 prefetch_buffer_size=max(2 * batch_size, 16))
        # Skipped examples (None) vanish here, before batching: batches stay full.
        iterable = dataset.to_iter_dataset(read).batch(batch_size, drop_remainder=True,
                                                       batch_fn=batch_fn)
    else:
        dataset = dataset.map(functools.partial(_apply, preprocess))
        # Batching before the iterator keeps the padding (None) inside the batches.
        dataset = dataset.batch(batch_size, batch_fn=batch_fn)
        read = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=4)
        iterable = dataset.to_iter_dataset(read)
    if num_workers > 0:
        _allow_grain_flags()
        iterable = iterable.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers))
    return iterable


def training_shorter_side(task: str, sizes: InputSizes) -> int:
    """The largest shorter side a training transform resizes an image to: decoding a larger
    photo at a reduced size down to it (``TfdsSource.with_min_shorter_side``) loses nothing
    the network sees. Evaluation decodes at full size: its outputs map back to the file's
    pixels."""
    if task == "classify":
        return max(sizes.resize_size, sizes.resize_max)
    return max(sizes.scales)


def _allow_grain_flags() -> None:
    """grain 0.2.18's worker processes read an absl flag, which raises before absl has parsed
    the command line (grain issue #1355, fixed upstream by #1362): outside ``absl.app``, let
    absl use the flags' defaults."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def num_batches(num_examples: int, batch_size: int, shard_count: int = 1, *,
                train: bool) -> int:
    """Batches per host in one epoch of ``make_pipeline`` (train: full batches only)."""
    if train:
        return (num_examples // shard_count) // batch_size
    return math.ceil(math.ceil(num_examples / shard_count) / batch_size)
