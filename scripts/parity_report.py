"""Per-layer agreement with the original OverFeat binary: max |ours - theirs| and that over
max |theirs|, for every layer of both networks, on the synthetic weights of
``../shared/reference/parity`` (make them with the commands in its README).

    python scripts/parity_report.py --fast net_weight_0.seed1 --accurate net_weight_1.seed2 \\
        [--reference ../shared/reference/parity] [--precision highest]

Prints a Markdown table; the last line is one JSON object (the worst relative error per net).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from overfeat.features import FeatureExtractor
from overfeat.images import load_image

CASES = {"fast": ("fast_seed1_231x231.npz", "img231.png"),
         "accurate": ("accurate_seed2_221x221.npz", "img221.png")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", required=True, help="net_weight_0 made with seed 1")
    parser.add_argument("--accurate", required=True, help="net_weight_1 made with seed 2")
    default = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "parity"
    parser.add_argument("--reference", type=Path, default=default)
    parser.add_argument("--precision", default="highest", help="matmul precision (JAX)")
    args = parser.parse_args()
    print("| net | layer | shape [C, H, W] | max abs error | max abs of reference | relative |")
    print("|---|---|---|---|---|---|")
    worst = {}
    for arch, (npz, png) in CASES.items():
        extractor = FeatureExtractor.from_release(arch, getattr(args, arch),
                                                  precision=args.precision)
        reference = np.load(args.reference / npz)
        ours = extractor.extract(load_image(args.reference / png), layer=reference.files)
        for name in reference.files:
            theirs = reference[name]
            error = float(np.abs(ours[name].transpose(2, 0, 1) - theirs).max())
            scale = float(np.abs(theirs).max())
            worst[arch] = max(worst.get(arch, 0.0), error / scale)
            shape = "x".join(map(str, theirs.shape))
            relative = error / scale
            print(f"| {arch} | {name} | {shape} | {error:.2e} | {scale:.2f} | {relative:.1e} |")
    print(json.dumps({"worst_relative_error": worst, "tolerance": 1e-4}))


if __name__ == "__main__":
    main()
