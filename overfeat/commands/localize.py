"""``overfeat localize``: boxes of the main objects of images (paper sections 4.1-4.3).

Each output cell's regressor box, mapped back to the image, carries its cell's class
probabilities; per scale the top ``--top`` classes' boxes from every cell of every scale are
merged by the paper's greedy accumulator (or ``--merge nms|nmm``), a merged box ranked by the
sum of its members' confidences and scored in [0, 1] by that sum calibrated
(``overfeat.predict.calibrated_scores``; ``--json`` keeps the sums as ``summed_scores``). Needs a
checkpoint with a box regressor, or a classifier with a background class (its confident
cells' windows are then the boxes).
"""

from __future__ import annotations

import argparse

from overfeat.commands import prediction


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "localize",
        help="boxes of the main objects in images (multi-scale regression, greedy merge)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prediction.add_arguments(parser, "localize")


def run(args) -> int:
    return prediction.run(args, "localize")
