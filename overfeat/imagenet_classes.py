"""The 1000 ILSVRC2012 classes in the two orders that matter, and the mapping between them.

* **Release order**: the original OverFeat release's output order (``release_classes.txt``),
  which is the ILSVRC2012 devkit's ``ILSVRC2012_ID`` order (kit fox, English setter, Siberian
  husky, ...). The devkit numbers synsets by walking the WordNet hierarchy, so related classes
  sit together.
* **TFDS order**: synsets sorted by WNID (``synset_words.txt``): the label order of TFDS
  ``imagenet2012``, torchvision and timm.

Names identify classes one-to-one except "crane", which names two synsets and appears twice
in the release list: n02012849 (the bird) and n03126707 (the machine). We place them by
their neighbours in the release (devkit) order, which groups the hierarchy: release index
428 sits between "bittern" and "limpkin" among the wading birds, so it is the bird; index 544
sits between "typewriter keyboard" and "lighter" among devices, so it is the machine.
``tests/test_imagenet_classes.py`` checks those neighbours' WNIDs.

Convert release-ordered scores to TFDS order with ``scores[..., tfds_to_release()]``, and
TFDS-ordered scores to release order with ``scores[..., release_to_tfds()]``.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

NUM_CLASSES = 1000
# The one name shared by two synsets: release index -> WNID (see the module docstring).
CRANE_BIRD, CRANE_MACHINE = "n02012849", "n03126707"
CRANE_RELEASE_INDEX = {428: CRANE_BIRD, 544: CRANE_MACHINE}


def _read_lines(name: str) -> list[str]:
    text = resources.files("overfeat").joinpath(name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


@functools.cache
def release_class_names() -> tuple[str, ...]:
    """The release's class names, index = the release network's output index."""
    names = tuple(_read_lines("release_classes.txt"))
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"release_classes.txt has {len(names)} lines, expected {NUM_CLASSES}")
    return names


@functools.cache
def synsets() -> tuple[tuple[str, str], ...]:
    """``(wnid, names)`` in sorted-WNID order: index = TFDS ``imagenet2012`` label."""
    pairs = tuple(tuple(line.split(" ", 1)) for line in _read_lines("synset_words.txt"))
    if len(pairs) != NUM_CLASSES or [w for w, _ in pairs] != sorted(w for w, _ in pairs):
        raise RuntimeError("synset_words.txt must list 1000 synsets sorted by WNID")
    return pairs


def tfds_wnids() -> tuple[str, ...]:
    """WNIDs in TFDS label order."""
    return tuple(wnid for wnid, _ in synsets())


def tfds_class_names() -> tuple[str, ...]:
    """Class names in TFDS label order."""
    return tuple(names for _, names in synsets())


@functools.cache
def release_wnids() -> tuple[str, ...]:
    """The WNID of each release output, in release order."""
    by_name: dict[str, list[str]] = {}
    for wnid, names in synsets():
        by_name.setdefault(names, []).append(wnid)
    wnids = []
    for index, name in enumerate(release_class_names()):
        candidates = by_name.get(name, [])
        if len(candidates) == 1:
            wnids.append(candidates[0])
        elif index in CRANE_RELEASE_INDEX and CRANE_RELEASE_INDEX[index] in candidates:
            wnids.append(CRANE_RELEASE_INDEX[index])
        else:
            raise RuntimeError(f"release class {index} {name!r} has WNID candidates {candidates}")
    if len(set(wnids)) != NUM_CLASSES:
        raise RuntimeError("the release -> WNID assignment is not one-to-one")
    return tuple(wnids)


@functools.cache
def release_to_tfds() -> np.ndarray:
    """``int32 [1000]``: the TFDS label of each release output index."""
    tfds_index = {wnid: i for i, wnid in enumerate(tfds_wnids())}
    mapping = np.array([tfds_index[wnid] for wnid in release_wnids()], np.int32)
    mapping.flags.writeable = False
    return mapping


@functools.cache
def tfds_to_release() -> np.ndarray:
    """``int32 [1000]``: the release output index of each TFDS label (inverse permutation)."""
    mapping = np.argsort(release_to_tfds()).astype(np.int32)
    mapping.flags.writeable = False
    return mapping
