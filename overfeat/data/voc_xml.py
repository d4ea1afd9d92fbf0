"""PASCAL-VOC-style annotation XML: the format of PASCAL VOC, of the ILSVRC (ImageNet) bounding
boxes, and of most annotation tools' "Pascal VOC" export.

Only parsing lives here; which pixel convention the coordinates follow depends on who wrote the
file (``overfeat.data.box_formats``).
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ElementTree


@dataclasses.dataclass(frozen=True)
class VocObject:
    """One ``<object>``: its class name and ``<bndbox>`` exactly as written in the file."""

    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool = False
    truncated: bool = False
    pose: str = "unspecified"


@dataclasses.dataclass(frozen=True)
class VocAnnotation:
    """One annotation file. ``width``/``height`` are None when ``<size>`` is missing or zero."""

    source: str                       # where the XML came from, for messages
    filename: str | None
    width: int | None
    height: int | None
    objects: tuple[VocObject, ...]


def parse_voc_xml(data: bytes | str, source: str) -> VocAnnotation:
    """Parses one annotation file; raises ``ValueError`` naming ``source`` when it is malformed."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise ValueError(f"{source}: not valid XML: {error}") from None
    if root.tag != "annotation":
        raise ValueError(f"{source}: root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    width = _optional_int(size, "width", source) if size is not None else None
    height = _optional_int(size, "height", source) if size is not None else None
    objects = tuple(_parse_object(element, index, source)
                    for index, element in enumerate(root.findall("object")))
    return VocAnnotation(
        source=source,
        filename=_text(root, "filename"),
        width=width or None,
        height=height or None,
        objects=objects,
    )


def _parse_object(element: ElementTree.Element, index: int, source: str) -> VocObject:
    where = f"{source}: <object> {index}"
    name = _text(element, "name")
    if not name:
        raise ValueError(f"{where} has no <name>")
    bndbox = element.find("bndbox")
    if bndbox is None:
        raise ValueError(f"{where} ({name}) has no <bndbox>")
    coordinates = {}
    for tag in ("xmin", "ymin", "xmax", "ymax"):
        text = _text(bndbox, tag)
        if text is None:
            raise ValueError(f"{where} ({name}) has no <{tag}>")
        try:
            coordinates[tag] = float(text)
        except ValueError:
            raise ValueError(f"{where} ({name}): <{tag}> is {text!r}, not a number") from None
    return VocObject(
        name=name,
        difficult=_flag(element, "difficult", where),
        truncated=_flag(element, "truncated", where),
        pose=(_text(element, "pose") or "unspecified").lower(),
        **coordinates,
    )


def _text(element: ElementTree.Element, tag: str) -> str | None:
    child = element.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _optional_int(element: ElementTree.Element, tag: str, source: str) -> int | None:
    text = _text(element, tag)
    if not text:
        return None
    try:
        return int(float(text))
    except ValueError:
        raise ValueError(f"{source}: <size><{tag}> is {text!r}, not a number") from None


def _flag(element: ElementTree.Element, tag: str, where: str) -> bool:
    text = _text(element, tag)
    if text in (None, "", "0"):
        return False
    if text == "1":
        return True
    raise ValueError(f"{where}: <{tag}> is {text!r}, expected 0 or 1")
