"""The training jobs' inputs: ``overfeat.data``'s sources and grain pipelines, sized by the
config.

``config.dataset`` names a source for ``overfeat.data.sources.open_source`` (``synthetic/...``
or a prepared TFDS dataset); the pipelines are ``overfeat.data.pipelines.make_pipeline``'s:
deterministic for a seed, sharded over hosts, resumable from the iterator's state (which
every checkpoint holds). A task says which batch fields reach the device (``batch_keys``);
the others (``index``, ``num_boxes``, ...) stay on the host.
"""

from __future__ import annotations

import itertools

import ml_collections

from overfeat.architectures import Architecture
from overfeat.data import pipelines


def open_dataset(config: ml_collections.ConfigDict, split: str):
    """The source named ``config.dataset`` for ``split``, as ``config.task`` reads it (a
    detection dataset's object crops for classify and localize: ``object_crops.for_task``)."""
    from overfeat.data import object_crops
    from overfeat.data.sources import open_source

    return object_crops.for_task(open_source(config.dataset, split), config.task)


def class_names_of(source, num_classes: int) -> tuple[str, ...]:
    """The source's class names, or ``class_<i>`` when it has none."""
    names = getattr(source, "class_names", None)
    if not names:
        return tuple(f"class_{i}" for i in range(num_classes))
    return tuple(names)


def input_sizes(config: ml_collections.ConfigDict, arch: Architecture) -> pipelines.InputSizes:
    """The pipeline's sizes: ``config.input``'s, 0 (or empty) meaning the data's default
    for the architecture (``pipelines.input_sizes``)."""
    default = pipelines.input_sizes(arch)
    given = config.input
    return pipelines.InputSizes(
        crop_size=given.crop_size or default.crop_size,
        resize_size=given.resize_size or default.resize_size,
        image_size=given.image_size or default.image_size,
        scales=tuple(given.scales) or default.scales,
        resize_max=given.resize_max,
    )


def _pipeline(source, config: ml_collections.ConfigDict, *, train: bool, num_workers: int,
              task: str, arch: Architecture, local_batch_size: int, num_classes: int):
    """``pipelines.make_pipeline`` with ``config.input``'s options."""
    return pipelines.make_pipeline(
        source,
        task=task,
        train=train,
        batch_size=local_batch_size,
        arch=arch,
        sizes=input_sizes(config, arch),
        seed=config.seed,
        max_boxes=config.input.max_boxes,
        num_workers=num_workers,
        num_threads=config.input.threads,
        on_bad_example=config.input.on_bad_example,
        num_classes=num_classes,
    )


def train_dataset(source, config: ml_collections.ConfigDict, *, task: str, arch: Architecture,
                  local_batch_size: int, num_classes: int):
    """Infinite, shuffled (anew every epoch), augmented batches of this host's shard."""
    return _pipeline(source, config, train=True, num_workers=config.input.workers, task=task,
                     arch=arch, local_batch_size=local_batch_size, num_classes=num_classes)


def eval_batches(source, config: ml_collections.ConfigDict, *, task: str, arch: Architecture,
                 local_batch_size: int, num_classes: int):
    """One ordered pass over this host's shard (``config.eval_batches`` > 0: that many
    batches), the last batch padded with ``valid`` False; every host yields as many. Read in
    this process, without worker processes."""
    batches = iter(_pipeline(source, config, train=False, num_workers=0, task=task, arch=arch,
                             local_batch_size=local_batch_size, num_classes=num_classes))
    return itertools.islice(batches, config.eval_batches) if config.eval_batches > 0 else batches


def device_fields(batch: dict, keys: tuple[str, ...]) -> dict:
    """The fields of a host batch the train or eval step reads."""
    return {key: batch[key] for key in keys if key in batch}
