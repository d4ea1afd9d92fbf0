"""``overfeat classify``: the most probable classes of images, with their names.

Each image is classified as the original release did: its shorter side resized to the
network's field of view (231 fast, 221 accurate), the central square taken, and the softmax
of the network's one output cell reported. Class names come from the release's class list
(release weights) or the checkpoint.
"""

from __future__ import annotations

from overfeat.commands.model_source import add_model_arguments, load_extractor
from overfeat.predict import classify


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "classify", help="top classes of images with their probabilities", description=__doc__
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG, PNG or PPM files")
    add_model_arguments(parser)
    parser.add_argument("--top", type=int, default=5, help="classes to print per image (5)")


def run(args) -> int:
    extractor = load_extractor(args)
    for image in args.images:  # one at a time: a bad file names itself before the others run
        (scores,) = classify(extractor, [image], top=args.top)
        print(image)
        for rank, score in enumerate(scores, 1):
            name = score.name if score.name is not None else f"class {score.index}"
            print(f"  {rank}. {score.probability:.4f}  {name}")
    return 0
