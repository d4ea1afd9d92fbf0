"""``overfeat convert-weights``: turn an original OverFeat weight file into a checkpoint.

The checkpoint (see ``overfeat.weights``) carries the release's input normalization and its
class names and WNIDs, in the release's class order (ILSVRC2012 devkit order) or, with
``--class-order tfds``, permuted into TFDS ``imagenet2012``'s sorted-WNID label order.
"""

from __future__ import annotations

import argparse
import os

from overfeat import imagenet_classes
from overfeat.cli import UserError
from overfeat.commands.model_source import release_arch
from overfeat.weights import RELEASE_FILES, load_release, reorder_classes, save_model


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert-weights",
        help="convert an original OverFeat weight file into a checkpoint directory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--weights", required=True, metavar="PATH",
                        help="net_weight_0 (fast) or net_weight_1 (accurate)")
    parser.add_argument("--arch", choices=sorted(RELEASE_FILES),
                        help="the network in the file (default: told by the file's size)")
    parser.add_argument("--out", required=True, metavar="DIR", help="checkpoint directory")
    parser.add_argument("--class-order", choices=("release", "tfds"), default="release",
                        help="output order of the classes: the release's (ILSVRC2012 devkit) "
                             "or TFDS imagenet2012's sorted WNIDs (default: release)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint")


def run(args) -> int:
    arch = release_arch(args)
    model = load_release(arch, args.weights)
    names = imagenet_classes.release_class_names()
    wnids = imagenet_classes.release_wnids()
    if args.class_order == "tfds":
        order = imagenet_classes.tfds_to_release()
        reorder_classes(model, order)
        names, wnids = tuple(names[i] for i in order), tuple(wnids[i] for i in order)
    metadata = {
        "source": "original OverFeat release weights",
        "source_file": os.path.basename(args.weights),
        "source_bytes": os.path.getsize(args.weights),
        "class_order": args.class_order,
    }
    try:
        out = save_model(model, args.out, class_names=names, class_ids=wnids,
                         metadata=metadata, overwrite=args.overwrite)
    except FileExistsError as error:
        if args.overwrite:  # not a checkpoint there: never replaced
            raise UserError(str(error)) from None
        raise UserError(f"{args.out} exists: pass --overwrite to replace it") from None
    print(f"{args.weights} ({arch} net) -> {out} (classes in {args.class_order} order)")
    return 0
