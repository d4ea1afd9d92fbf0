"""The synthetic dataset as a TFDS dataset, for tools that want files on disk.

``export("detect", data_dir)`` writes ``synthetic_shapes/detect`` as array_record (TFDS needs
TensorFlow to encode images, like for every image dataset; reading it back does not). The
examples are exactly ``SyntheticSource``'s, with TFDS's box convention: normalized
``[ymin, xmin, ymax, xmax]`` (converted back to xyxy pixels when read through
``overfeat.data.sources.open_source``).

The project itself never needs this: ``SyntheticSource`` makes the same examples on the fly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds

from overfeat.data.synthetic import DEFAULT_EXAMPLES, SPLITS, SyntheticSource


def generate_examples(source: SyntheticSource) -> Iterator[tuple[int, dict]]:
    """``(key, features)`` for every example of ``source``, in TFDS's feature layout."""
    size = np.array([source.image_size, source.image_size] * 2, np.float32)
    for index in range(len(source)):
        example = source[index]
        boxes = example["boxes"]  # [N, 4] xyxy pixels
        features = {
            "image": example["image"],
            "objects": {
                "bbox": (boxes[:, [1, 0, 3, 2]] / size).astype(np.float32),  # [N, 4] yxyx / size
                "label": example["labels"],
            },
        }
        if "label" in example:
            features["label"] = example["label"]
        yield index, features


class SyntheticShapesConfig(tfds.core.BuilderConfig):
    def __init__(self, *, task: str, image_size: int = 128, num_classes: int = 10,
                 seed: int = 0, examples: dict[str, int] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.task, self.image_size, self.num_classes, self.seed = (task, image_size,
                                                                   num_classes, seed)
        self.examples = dict(examples or DEFAULT_EXAMPLES)


class SyntheticShapes(tfds.core.GeneratorBasedBuilder):
    """Shapes of K classes on cluttered backgrounds, with exact boxes (overfeat.synthetic)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First export of overfeat.data.synthetic."}
    BUILDER_CONFIGS = [
        SyntheticShapesConfig(name="localize", task="localize",
                              description="One dominant object per image and its box."),
        SyntheticShapesConfig(name="detect", task="detect",
                              description="0 to 5 objects per image, some images empty."),
    ]

    def _source(self, split: str) -> SyntheticSource:
        config = self.builder_config
        return SyntheticSource(config.task, split=split, num_examples=config.examples[split],
                               image_size=config.image_size, num_classes=config.num_classes,
                               seed=config.seed)

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.builder_config
        names = list(self._source("train").class_names)
        features = {
            "image": tfds.features.Image(shape=(config.image_size, config.image_size, 3)),
            "objects": tfds.features.Sequence({
                "bbox": tfds.features.BBoxFeature(),
                "label": tfds.features.ClassLabel(names=names),
            }),
        }
        if config.task != "detect":
            features["label"] = tfds.features.ClassLabel(names=names)
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            homepage="https://github.com/overfeat",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download: the data is drawn
        return {split: self._generate_examples(split) for split in SPLITS}

    def _generate_examples(self, split: str):
        yield from generate_examples(self._source(split))


def export(task: str, data_dir: str, **config) -> str:
    """Write the synthetic ``task`` as array_record under ``data_dir``; returns its directory.

    ``config``: ``image_size``, ``num_classes``, ``seed``, ``examples`` (per split). With the
    defaults the dataset is ``synthetic_shapes/localize`` or ``synthetic_shapes/detect``;
    other settings get a config named after them, e.g.
    ``synthetic_shapes/detect_s64_k5_seed0_n100-10-10``.
    """
    name = "detect" if task == "detect" else "localize"
    if config:
        full = {"image_size": 128, "num_classes": 10, "seed": 0, "examples": DEFAULT_EXAMPLES,
                **config}
        counts = "-".join(str(full["examples"][split]) for split in SPLITS)
        name = (f"{name}_s{full['image_size']}_k{full['num_classes']}_seed{full['seed']}"
                f"_n{counts}")
        builder = SyntheticShapes(config=SyntheticShapesConfig(name=name, task=task, **config),
                                  data_dir=data_dir)
    else:
        builder = SyntheticShapes(config=name, data_dir=data_dir)
    builder.download_and_prepare(file_format="array_record")
    return str(builder.data_dir)
