"""The training jobs' input pipelines: grain datasets of host-local numpy batches.

A source is anything with ``len(source)`` and ``source[i] -> example`` (the package's data
contract: ``image`` uint8 [H, W, 3], ``label``, ``boxes`` float32 [N, 4] xyxy, ``labels``,
optional ``ignore``), and optionally ``class_names``.

Batches:

* ``crop`` (classification, section 3.1): ``image`` uint8 [B, S, S, 3] random crops of the image
  resized to shorter side ``resize_shorter`` (centre crops in evaluation), ``label`` int32 [B].
* ``whole`` (regressor, detector): ``image`` uint8 [B, S, S, 3], the whole image resized to
  ``S x S``; ``boxes`` float32 [B, M, 4] in that frame, ``labels`` int32 [B, M] (-1: padding),
  ``ignore`` bool [B, M]; ``label`` int32 [B].

Evaluation batches carry ``valid`` bool [B]: the last batch is padded to full size so that
it shards evenly.

The pipeline is deterministic for a seed and resumable: element ``i`` is a pure function of
``(seed, i)`` and the iterator's ``get_state()`` goes into every checkpoint.
"""

from __future__ import annotations

import grain
import jax
import ml_collections
import numpy as np
from PIL import Image

MAX_BOXES = 16


def open_dataset(config: ml_collections.ConfigDict, split: str):
    """The source named ``config.dataset`` for ``split`` (``overfeat.data.sources``)."""
    from overfeat.data.sources import open_source

    return open_source(config.dataset, split)


def class_names_of(source, num_classes: int) -> tuple[str, ...]:
    names = getattr(source, "class_names", None)
    if names is None:
        return tuple(f"class_{i}" for i in range(num_classes))
    return tuple(names)


# --- Per-example transforms (numpy/Pillow, run in grain) --------------------------------------


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def resize_shorter(image: np.ndarray, shorter: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = shorter / min(height, width)
    return _resize(image, max(shorter, round(height * scale)), max(shorter, round(width * scale)))


def crop_example(
    example: dict, rng: np.random.Generator | None, *, shorter: int, crop: int, flip: bool
) -> dict:
    """Classification crop: random position and flip with ``rng``, centre without."""
    image = resize_shorter(np.asarray(example["image"]), max(shorter, crop))
    height, width = image.shape[:2]
    if rng is None:
        top, left, mirror = (height - crop) // 2, (width - crop) // 2, False
    else:
        top = int(rng.integers(0, height - crop + 1))
        left = int(rng.integers(0, width - crop + 1))
        mirror = flip and bool(rng.integers(0, 2))
    image = image[top : top + crop, left : left + crop]
    if mirror:
        image = image[:, ::-1]
    return {"image": np.ascontiguousarray(image), "label": np.int32(example["label"])}


def whole_example(example: dict, rng: np.random.Generator | None, *, size: int, flip: bool) -> dict:
    """The whole image resized to ``size x size`` with its boxes; flipped at random with ``rng``."""
    image = np.asarray(example["image"])
    height, width = image.shape[:2]
    boxes = np.asarray(example.get("boxes", np.zeros((0, 4))), np.float32).reshape(-1, 4)
    labels = np.asarray(example.get("labels", np.zeros((0,))), np.int32).reshape(-1)
    ignore = np.asarray(example.get("ignore", np.zeros(len(labels), bool)), bool).reshape(-1)
    if len(boxes) > MAX_BOXES:
        raise ValueError(f"an example has {len(boxes)} boxes; at most {MAX_BOXES} are batched")
    image = _resize(image, size, size)
    boxes = boxes * np.array([size / width, size / height] * 2, np.float32)
    if rng is not None and flip and bool(rng.integers(0, 2)):
        image = image[:, ::-1]
        boxes = np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], 1)
    padded_boxes = np.zeros((MAX_BOXES, 4), np.float32)
    padded_labels = np.full((MAX_BOXES,), -1, np.int32)
    padded_ignore = np.zeros((MAX_BOXES,), bool)
    padded_boxes[: len(boxes)] = boxes
    padded_labels[: len(labels)] = labels
    padded_ignore[: len(ignore)] = ignore
    label = example.get("label", labels[0] if len(labels) else -1)
    return {
        "image": np.ascontiguousarray(image),
        "boxes": padded_boxes,
        "labels": padded_labels,
        "ignore": padded_ignore,
        "label": np.int32(label),
    }


def _transform(config: ml_collections.ConfigDict, mode: str, input_size: int, train: bool):
    if mode == "crop":
        shorter = config.input.resize_shorter

        def apply(example, rng=None):
            return crop_example(
                example, rng, shorter=shorter, crop=input_size, flip=config.input.flip
            )
    elif mode == "whole":

        def apply(example, rng=None):
            return whole_example(example, rng, size=input_size, flip=config.input.flip and train)
    else:
        raise ValueError(f"input mode must be 'crop' or 'whole', got {mode!r}")
    return apply


# --- Pipelines --------------------------------------------------------------------------------


def train_dataset(
    source, config: ml_collections.ConfigDict, *, mode: str, input_size: int, local_batch_size: int
) -> grain.IterDataset:
    """Infinite, shuffled (a new order every epoch), augmented batches of this host's shard."""
    apply = _transform(config, mode, input_size, train=True)
    dataset = grain.MapDataset.source(source)
    dataset = dataset[jax.process_index() :: jax.process_count()]
    dataset = dataset.seed(config.seed).shuffle().repeat(None)
    dataset = dataset.random_map(apply)
    dataset = dataset.batch(local_batch_size, drop_remainder=True)
    iterable = dataset.to_iter_dataset(
        grain.ReadOptions(
            num_threads=max(1, config.input.threads), prefetch_buffer_size=config.input.prefetch
        )
    )
    if config.input.workers > 0:
        iterable = iterable.mp_prefetch(
            grain.MultiprocessingOptions(num_workers=config.input.workers)
        )
    return iterable


def eval_batches(
    source,
    config: ml_collections.ConfigDict,
    *,
    mode: str,
    input_size: int,
    local_batch_size: int,
    max_batches: int = 0,
):
    """Deterministic, unaugmented batches of this host's shard, ``valid`` marking real examples.

    Every host yields the same number of batches (padded with copies of its last example,
    ``valid`` False) so that the hosts' jitted evaluation steps stay in lockstep.
    ``max_batches`` > 0 stops early.
    """
    apply = _transform(config, mode, input_size, train=False)
    shard = grain.MapDataset.source(source)[jax.process_index() :: jax.process_count()].map(apply)
    per_host = -(-len(source) // jax.process_count())
    count = -(-per_host // local_batch_size)
    if max_batches > 0:
        count = min(count, max_batches)
    for index in range(count):
        positions = np.arange(index * local_batch_size, (index + 1) * local_batch_size)
        examples = [shard[int(min(i, len(shard) - 1))] for i in positions]
        batch = {key: np.stack([example[key] for example in examples]) for key in examples[0]}
        batch["valid"] = positions < len(shard)
        yield batch
