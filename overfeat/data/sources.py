"""Datasets by name: ``open_source("synthetic/detect", split="train")``.

Names:

* ``synthetic/classify``, ``synthetic/localize``, ``synthetic/detect``: made on the fly
  (``overfeat.data.synthetic``), options after ``?`` as ``key=value`` joined by ``&``:
  ``size`` (image side, 128), ``classes`` (K, 10), ``seed`` (0), ``examples`` (the split's
  length; defaults train 10000, validation 1000, test 1000), ``objects`` (detect: at most,
  5), ``empty`` (detect: fraction of empty images, 0.1), ``min_scale`` / ``max_scale``
  (object size over image side: 0.3 / 0.9, detect 0.15 / 0.6), ``clutter`` (strokes, occluders
  and noise: 0 none, 0.25 default, 1 heavy), ``rotation`` (degrees either way, 30; 180 any).
  Example:
  ``synthetic/detect?size=96&examples=2000``.
* anything else: a prepared TFDS dataset (``imagenet2012``, ``voc/2007``, ``coco/2017``, ...)
  through ``overfeat.data.tfds_sources.open_tfds_source(name, split, data_dir)``.

A source is random access: ``len(source)``, ``source[i]`` -> an example dict (the contract in
``overfeat.data.checks``), plus ``class_names`` (tuple of str, label order).

``parse_name("voc/2007:test")`` splits the ``NAME[:split]`` form the command line uses.
"""

from __future__ import annotations

import importlib
import re
import urllib.parse

from overfeat.data.synthetic import SPLITS, SyntheticSource

SYNTHETIC_PREFIX = "synthetic/"
# Option name -> (SyntheticSource field, type).
SYNTHETIC_OPTIONS = {
    "size": ("image_size", int),
    "classes": ("num_classes", int),
    "seed": ("seed", int),
    "examples": ("num_examples", int),
    "objects": ("max_objects", int),
    "empty": ("empty_fraction", float),
    "min_scale": ("min_scale", float),
    "max_scale": ("max_scale", float),
    "clutter": ("clutter", float),
    "rotation": ("rotation", float),
}
SPLIT_ALIASES = {"val": "validation", "valid": "validation"}


def parse_name(text: str, default_split: str = "train") -> tuple[str, str]:
    """``NAME[:split]`` -> ``(name, split)``. A trailing ``:1.2.3`` is a TFDS version, part of
    the name; colons inside brackets belong to a TFDS split slice (``train[:100]``)."""
    depth, cut = 0, -1
    for position, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == ":" and depth == 0:
            cut = position
    if cut < 0 or re.fullmatch(r"\d+(\.\d+)*", text[cut + 1:]):
        return text, default_split
    return text[:cut], text[cut + 1:] or default_split


def open_source(name: str, split: str = "train", data_dir: str | None = None):
    """The dataset ``name``'s ``split`` as a random-access source (see the module doc)."""
    if name.startswith(SYNTHETIC_PREFIX):
        return open_synthetic(name, split)
    try:
        tfds_sources = importlib.import_module("overfeat.data.tfds_sources")
    except ModuleNotFoundError as error:
        if error.name != "overfeat.data.tfds_sources":
            raise
        raise ValueError(
            f"dataset {name!r}: TFDS datasets are not available in this version of overfeat "
            f"(overfeat.data.tfds_sources is missing); synthetic ones are "
            f"synthetic/classify, synthetic/localize, synthetic/detect") from None
    return tfds_sources.open_tfds_source(name, split, data_dir)


def open_synthetic(name: str, split: str = "train") -> SyntheticSource:
    """``synthetic/TASK[?key=value&...]`` (see the module doc)."""
    path, _, query = name[len(SYNTHETIC_PREFIX):].partition("?")
    split = SPLIT_ALIASES.get(split, split)
    if split not in SPLITS:
        raise ValueError(f"dataset {name!r}: split must be one of {SPLITS}, got {split!r}")
    options = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True,
                                             strict_parsing=bool(query)):
        if key not in SYNTHETIC_OPTIONS:
            raise ValueError(f"dataset {name!r}: unknown option {key!r}; known: "
                             f"{', '.join(SYNTHETIC_OPTIONS)}")
        field, kind = SYNTHETIC_OPTIONS[key]
        try:
            options[field] = kind(value)
        except ValueError:
            raise ValueError(f"dataset {name!r}: option {key}={value!r} is not "
                             f"{kind.__name__}") from None
    return SyntheticSource(task=path, split=split, **options)
