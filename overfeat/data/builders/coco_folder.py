"""``coco-folder``: a folder of images with one COCO-format JSON (``instances_*.json`` style, as
exported by CVAT, Label Studio, Roboflow, makesense.ai, ...), read into a ``FolderListing``.

- Classes: the ``categories`` sorted by id; ids need not be contiguous or start at 0 or 1 (label
  ``i`` is the i-th smallest id; the ids in label order are stored as metadata
  ``category_ids``). A category without a box stays a class (its count shows 0).
- Boxes: ``bbox`` ``[x, y, width, height]`` in continuous pixels (floats kept as written).
- ``iscrowd`` (or a non-zero ``ignore``) regions are kept with ``ignore`` set: neither training
  targets nor misses in evaluation.
- An image entry without annotations is kept as a negative; one whose annotations were all
  dropped is skipped (``folder_dataset``).
- Splits: ``--val-fraction`` of the images by a hash of ``file_name`` (``hashed_split``).
- Counted: listed images missing on disk, image files on disk the JSON does not list,
  annotations of an unknown image id or category id or without a usable ``bbox``, duplicate
  image entries.
"""

from __future__ import annotations

import json
import os
import pathlib
import posixpath

from overfeat.data.box_formats import xyxy_from_xywh
from overfeat.data.builders.folder_dataset import (
    COCO_FLAGS,
    UNASSIGNED,
    FolderImage,
    FolderListing,
    FolderObject,
    hashed_split,
    image_files_under,
)
from overfeat.data.problems import DataProblems

KIND = "coco-folder"


def list_coco_folder(images_dir: str | os.PathLike, annotations: str | os.PathLike,
                     val_fraction: float, problems: DataProblems) -> FolderListing:
    """Reads ``annotations`` (COCO JSON) for the images under ``images_dir``."""
    images_dir = pathlib.Path(images_dir).expanduser().resolve()
    annotations = pathlib.Path(annotations).expanduser().resolve()
    if not images_dir.is_dir():
        raise FileNotFoundError(f"{KIND}: images directory {images_dir} does not exist")
    coco = _read_json(annotations)
    category_ids, class_names = _categories(coco, annotations)
    label_of = {category_id: label for label, category_id in enumerate(category_ids)}
    entries = _image_entries(coco, annotations, images_dir, val_fraction, problems)

    objects: dict[int, list[FolderObject]] = {image_id: [] for image_id in entries}
    counts: dict[int, int] = dict.fromkeys(entries, 0)
    for index, annotation in enumerate(_list_of(coco, "annotations", annotations)):
        where = f"{annotations.name}: annotation {annotation.get('id', f'#{index}')}"
        image_id = annotation.get("image_id")
        if image_id not in entries:
            problems.skipped(UNASSIGNED, "annotation of an unknown image id", where,
                             f"image_id {image_id!r}")
            continue
        counts[image_id] += 1
        split, file_name = entries[image_id]["split"], entries[image_id]["file_name"]
        category_id = annotation.get("category_id")
        if category_id not in label_of:
            problems.corrected(split, "box dropped: unknown category id", file_name,
                               f"{where}: category_id {category_id!r}")
            continue
        box = _xywh(annotation.get("bbox"))
        if box is None:
            problems.corrected(split, "box dropped: no [x, y, width, height] bbox", file_name,
                               f"{where}: bbox {annotation.get('bbox')!r}")
            continue
        ignore = bool(annotation.get("iscrowd", 0)) or bool(annotation.get("ignore", 0))
        objects[image_id].append(FolderObject(xyxy_from_xywh(*box), label_of[category_id],
                                              ignore=ignore))

    splits: dict[str, list[FolderImage]] = {}
    for image_id, entry in entries.items():
        splits.setdefault(entry["split"], []).append(FolderImage(
            key=entry["file_name"], path=entry["path"], filename=entry["file_name"],
            objects=tuple(objects[image_id]), annotations=counts[image_id],
            annotated_size=entry["size"], image_id=image_id))
    return FolderListing(
        kind=KIND, class_names=class_names, splits=splits, object_flags=COCO_FLAGS,
        has_image_ids=True,
        metadata={"format": KIND, "images": os.fspath(images_dir),
                  "annotations": os.fspath(annotations), "val_fraction": val_fraction,
                  "split_rule": "validation if sha256(file_name)[:8] / 2**64 < val_fraction",
                  "category_ids": list(category_ids)})


def _read_json(path: pathlib.Path) -> dict:
    try:
        with open(path, encoding="utf-8") as file:
            coco = json.load(file)
    except FileNotFoundError:
        raise FileNotFoundError(f"{KIND}: annotation file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(coco, dict) or "images" not in coco or "categories" not in coco:
        raise ValueError(f"{path}: not a COCO annotation file (a JSON object with 'images', "
                         "'annotations' and 'categories')")
    return coco


def _list_of(coco: dict, key: str, path: pathlib.Path) -> list[dict]:
    items = coco.get(key, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"{path}: '{key}' is not a list of objects")
    return items


def _categories(coco: dict, path: pathlib.Path) -> tuple[list[int], tuple[str, ...]]:
    """Category ids sorted, and their names in that order."""
    names: dict[int, str] = {}
    for category in _list_of(coco, "categories", path):
        category_id, name = category.get("id"), category.get("name")
        if not isinstance(category_id, int) or isinstance(category_id, bool):
            raise ValueError(f"{path}: category {category!r} has no integer 'id'")
        if not isinstance(name, str):
            raise ValueError(f"{path}: category {category_id} has no 'name'")
        if category_id in names:
            raise ValueError(f"{path}: category id {category_id} is used twice "
                             f"({names[category_id]!r} and {name!r})")
        if name in names.values():
            raise ValueError(f"{path}: category name {name!r} is used by two ids")
        names[category_id] = name
    category_ids = sorted(names)
    return category_ids, tuple(names[category_id] for category_id in category_ids)


def _image_entries(coco: dict, path: pathlib.Path, images_dir: pathlib.Path,
                   val_fraction: float, problems: DataProblems) -> dict[int, dict]:
    """Image id -> {file_name, path, split, size}; counts duplicates and unlisted files."""
    entries: dict[int, dict] = {}
    by_name: dict[str, int] = {}
    for image in _list_of(coco, "images", path):
        image_id, file_name = image.get("id"), image.get("file_name")
        if not isinstance(image_id, int) or not isinstance(file_name, str) or not file_name:
            raise ValueError(f"{path}: image entry {image!r} needs an integer 'id' and a "
                             "'file_name'")
        if image_id in entries:
            raise ValueError(f"{path}: image id {image_id} is used twice "
                             f"({entries[image_id]['file_name']!r} and {file_name!r})")
        split = hashed_split(file_name, val_fraction)
        if file_name in by_name:
            problems.skipped(split, "duplicate image entry", file_name,
                             f"ids {by_name[file_name]} and {image_id}")
            continue
        by_name[file_name] = image_id
        width, height = image.get("width"), image.get("height")
        size = ((int(width), int(height)) if isinstance(width, int | float) and
                isinstance(height, int | float) and width > 0 and height > 0 else None)
        entries[image_id] = {"file_name": file_name, "split": split, "size": size,
                             "path": _image_path(images_dir, file_name)}
    listed = {entry["path"] for entry in entries.values()}
    for file in image_files_under(images_dir):
        if file not in listed:
            relative = file.relative_to(images_dir).as_posix()
            problems.skipped(hashed_split(relative, val_fraction),
                             "image file not in the annotations", relative)
    return entries


def _image_path(images_dir: pathlib.Path, file_name: str) -> pathlib.Path:
    """``images_dir/file_name``; exports that prefix ``file_name`` with a folder of their own
    (``images/x.jpg``, an absolute path) are found by the base name when that is not there."""
    path = pathlib.Path(os.path.normpath(images_dir / file_name))
    if not path.exists():
        base = images_dir / posixpath.basename(file_name.replace("\\", "/"))
        if base.exists():
            return base
    return path


def _xywh(bbox) -> tuple[float, float, float, float] | None:
    if not isinstance(bbox, list | tuple) or len(bbox) != 4:
        return None
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in bbox):
        return None
    return tuple(float(value) for value in bbox)   # non-finite ones: fit_box_xyxy drops them

