"""``overfeat classify``: the most probable classes of images (paper section 3.3).

By default each image runs at the six scales of Table 5 and mirrored, at fine stride: per
scale and flip the maximum of each class's probability over the output cells, averaged over
scales and flips. ``--scales center`` is the original release's single view instead (shorter
side resized to the field of view, central square, softmax of its one output cell). Class
names come from the release's class list (release weights) or the checkpoint.
"""

from __future__ import annotations

import argparse

from overfeat.commands import prediction


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "classify",
        help="top classes of images with their probabilities",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prediction.add_arguments(parser, "classify")


def run(args) -> int:
    return prediction.run(args, "classify")
