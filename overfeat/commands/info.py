"""``overfeat info``: an architecture's size and geometry, and its maps for given input sizes."""

from __future__ import annotations

import argparse
import json

from overfeat.architectures import ARCHITECTURES, Architecture, get_architecture


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="parameter count, strides, field of view and map sizes of an architecture",
        description=__doc__,
    )
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
        action="append",
        help="architecture (repeat for several; default: fast and accurate)",
    )
    parser.add_argument(
        "--size",
        type=_size,
        action="append",
        default=[],
        metavar="HxW",
        help="an input size, e.g. 245x245 or 461 (repeatable)",
    )
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="one JSON object per architecture")


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        sides = tuple(int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must look like 461x569 or 461, got {text!r}"
        ) from None
    if len(sides) == 1:
        sides = sides * 2
    if len(sides) != 2 or min(sides) < 1:
        raise argparse.ArgumentTypeError(f"size must look like 461x569 or 461, got {text!r}")
    return sides


def describe(arch: Architecture, sizes: list[tuple[int, int]], num_classes: int = 1000) -> dict:
    """The facts ``overfeat info --json`` prints, as a dict."""

    def maps(h: int, w: int) -> dict:
        return {
            "input": [h, w],
            "layer5": [arch.layer5_size(h), arch.layer5_size(w)],
            "coarse": [arch.output_size(h, "coarse"), arch.output_size(w, "coarse")],
            "fine": [arch.output_size(h, "fine"), arch.output_size(w, "fine")],
        }

    return {
        "arch": arch.name,
        "param_count": arch.param_count(num_classes),
        "stride": arch.stride,
        "fine_stride": arch.fine_stride,
        "offsets": list(arch.offsets),
        "field_of_view": arch.field_of_view,
        "layers": list(arch.layer_names),
        "sizes": [maps(h, w) for h, w in (sizes or [(arch.field_of_view,) * 2])],
    }


def run(args) -> int:
    names = args.arch or ["fast", "accurate"]
    for name in names:
        facts = describe(get_architecture(name), args.size, args.num_classes)
        if args.json:
            print(json.dumps(facts))
            continue
        print(f"{facts['arch']}: {get_architecture(name).description}")
        print(f"  parameters     {facts['param_count']:,} ({args.num_classes} classes)")
        print(
            f"  stride         {facts['stride']} coarse, {facts['fine_stride']} fine "
            f"(last-pool offsets {facts['offsets']})"
        )
        print(f"  field of view  {facts['field_of_view']}x{facts['field_of_view']}")
        print(f"  layers         {' '.join(facts['layers'])}")
        print("  input      layer 5    coarse map  fine map")
        for row in facts["sizes"]:
            cells = ["x".join(map(str, row[key])) for key in ("input", "layer5", "coarse", "fine")]
            print("  " + "".join(cell.ljust(11) for cell in cells))
    return 0
