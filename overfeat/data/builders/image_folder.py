"""``image-folder``: images sorted into one sub-folder per class (classification), read into a
``FolderListing``.

Two layouts:

- ``ROOT/CLASS/...``: every image file under a class folder (sub-folders included) is one
  example of that class; ``--val-fraction`` of them go to validation by a hash of the file's
  path inside its class folder (``hashed_split``), so that a file copied into two classes lands
  in the same split.
- ``ROOT/train/CLASS/...`` with ``ROOT/val/CLASS/...`` (or ``validation/``) and optionally
  ``ROOT/test/CLASS/...``: the folders give the splits (recognized when every folder of ROOT
  is one of these names and ``train/`` is there). Without a ``val/`` folder, train is split by
  the hash as above.

Classes are the class folder names, sorted (across splits: a class may lack images in one).
Hidden files and folders are never read; other files that are not images by their name, and
images outside a class folder, are counted.
"""

from __future__ import annotations

import os
import pathlib

from overfeat.data.builders.folder_dataset import (
    TEST,
    TRAIN,
    UNASSIGNED,
    VALIDATION,
    FolderImage,
    FolderListing,
    files_under,
    hashed_split,
    is_hidden,
    is_image_file,
)
from overfeat.data.problems import DataProblems

KIND = "image-folder"
SPLIT_FOLDERS = {"train": TRAIN, "val": VALIDATION, "validation": VALIDATION, "test": TEST}


def list_image_folder(root: str | os.PathLike, val_fraction: float | None,
                      problems: DataProblems, *, default_val_fraction: float) -> FolderListing:
    """Reads ``root``; ``val_fraction`` None means ``default_val_fraction`` where a hash split is
    needed (and is an error where a ``val/`` folder gives the validation split)."""
    root = pathlib.Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{KIND}: {root} does not exist")
    split_roots = _split_folders(root)
    if split_roots and VALIDATION in split_roots.values():
        if val_fraction is not None:
            raise ValueError(f"{KIND}: {root} has a val/ folder, which gives the validation "
                             "split; --val-fraction would be ignored: leave it out")
        fraction = None
        rule = "the train/, val/ and test/ folders"
    else:
        fraction = default_val_fraction if val_fraction is None else val_fraction
        rule = (f"validation if sha256(path in the class folder)[:8] / 2**64 < {fraction}"
                + (" (train/ folder); test/ folder -> test" if split_roots else ""))
    split_roots = split_roots or {root: TRAIN}

    found: dict[str, list[tuple[str, pathlib.Path, str]]] = {}   # class -> (split, path, name)
    for split_root, folder_split in split_roots.items():
        for entry in sorted(split_root.iterdir()):
            if is_hidden(entry):
                continue
            relative = entry.relative_to(root).as_posix()
            if not entry.is_dir():
                kind = "image outside a class folder" if is_image_file(entry) else (
                    "not an image file")
                problems.skipped(UNASSIGNED, kind, relative)
                continue
            files = found.setdefault(entry.name, [])
            for path in files_under(entry):
                inside = path.relative_to(entry).as_posix()
                if not is_image_file(path):
                    problems.skipped(UNASSIGNED, "not an image file",
                                     path.relative_to(root).as_posix())
                    continue
                split = (folder_split if folder_split != TRAIN or fraction is None
                         else hashed_split(inside, fraction))
                files.append((split, path, path.relative_to(root).as_posix()))
    class_names = tuple(sorted(found))
    splits: dict[str, list[FolderImage]] = {}
    for label, name in enumerate(class_names):
        for split, path, filename in found[name]:
            splits.setdefault(split, []).append(
                FolderImage(key=filename, path=path, filename=filename, label=label))
    return FolderListing(
        kind=KIND, class_names=class_names, splits=splits, classification=True,
        metadata={"format": KIND, "root": os.fspath(root), "split_rule": rule,
                  "val_fraction": fraction})


def _split_folders(root: pathlib.Path) -> dict[pathlib.Path, str]:
    """``{ROOT/train: "train", ROOT/val: "validation", ...}`` for the split layout, else {}."""
    folders = [entry for entry in root.iterdir() if entry.is_dir() and not is_hidden(entry)]
    names = {folder.name for folder in folders}
    if "train" not in names or not names <= SPLIT_FOLDERS.keys():
        return {}
    if "val" in names and "validation" in names:
        raise ValueError(f"{KIND}: {root} has both val/ and validation/; keep one")
    return {folder: SPLIT_FOLDERS[folder.name] for folder in sorted(folders)}

