"""``overfeat features``: write one layer's maps for images, as float32 ``[H, W, C]`` arrays.

Where the maps go (``--out``):

* ``OUT.npy``: one image, its ``[H, W, C]`` map.
* ``OUT.npz``: any number of images, one array per image keyed by its file name without
  extension (``cat.jpg`` -> ``cat``).
* anything else is a directory (made if missing): one ``<name>.npy`` per image.

Each image is used at its own size unless ``--size S`` resizes its shorter side to S.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from overfeat.cli import UserError
from overfeat.commands.model_source import add_model_arguments, load_extractor
from overfeat.features import release_layer_name


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "features",
        help="extract any layer's feature maps from images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG, PNG or PPM files")
    add_model_arguments(parser)
    parser.add_argument("--layer", required=True,
                        help="layer name (conv1 ... pool5 ... fc8; `overfeat info` lists them), "
                             "or the original release's module index as in `overfeat -L`")
    parser.add_argument("--stride", choices=("coarse", "fine"), default="coarse",
                        help="map stride for layers past the last pool (default: coarse, "
                             "as the original release)")
    parser.add_argument("--size", type=int, metavar="S",
                        help="resize each image so that its shorter side is S pixels")
    parser.add_argument("--out", required=True, help="OUT.npy, OUT.npz or a directory")


def output_paths(images: list[str], out: str) -> tuple[str, dict[str, str]]:
    """``(kind, {image: key or file})`` for ``--out``; kind is ``npy``, ``npz`` or ``dir``."""
    if out.endswith(".npy"):
        if len(images) != 1:
            raise UserError(f"--out {out} holds one image's maps; for {len(images)} images "
                            "give an .npz file or a directory")
        return "npy", {images[0]: out}
    names = {image: Path(image).stem for image in images}
    clashes = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if clashes:
        raise UserError(f"several images are named {', '.join(clashes)}; their maps would "
                        "overwrite each other: run them separately")
    if out.endswith(".npz"):
        return "npz", names
    return "dir", {image: os.path.join(out, f"{name}.npy") for image, name in names.items()}


def run(args) -> int:
    kind, targets = output_paths(args.images, args.out)
    extractor = load_extractor(args)
    layer = args.layer
    if layer.isdigit():
        layer = release_layer_name(extractor.arch, int(layer))
    if layer not in extractor.layer_names:
        raise UserError(f"unknown layer {layer!r}; the {extractor.arch.name} network's layers "
                        f"are: {' '.join(extractor.layer_names)}")
    if kind == "dir":
        os.makedirs(args.out, exist_ok=True)
    archive = {}
    for image in args.images:
        maps = extractor.extract(image, layer=layer, stride=args.stride, size=args.size)
        if kind == "npz":
            archive[targets[image]] = maps
            where = f"{args.out}[{targets[image]}]"
        else:
            np.save(targets[image], maps)
            where = targets[image]
        print(f"{image}: {layer} {'x'.join(map(str, maps.shape))} -> {where}")
    if kind == "npz":
        np.savez(args.out, **archive)
    return 0
