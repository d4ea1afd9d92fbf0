"""Feature extraction speed: our compiled forward pass vs the original OverFeat binary.

    python scripts/benchmark_features.py [--arch fast accurate] [--size 231 461x569]
        [--repeats 3] [--weights-fast PATH --weights-accurate PATH]

Times ``FeatureExtractor.extract`` (logits layer, coarse stride, one image, compiled before
timing) per image and prints it beside the original binary's time on the same 2-core machine
(built from source with -O3, 2 threads; ../shared/reference/weight_format.md). Weights do not
change the speed: without ``--weights-*`` the nets get random ones. The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from overfeat.features import FeatureExtractor
from overfeat.models import RELEASE_MEAN, RELEASE_STD, create_model

# Seconds per image of the original binary, 2 threads (weight_format.md).
RELEASE_SECONDS = {("fast", (231, 231)): 0.37, ("fast", (461, 569)): 3.36,
                   ("accurate", (221, 221)): 0.81, ("accurate", (461, 569)): 3.80}
NOMINAL = {"fast": 231, "accurate": 221}


def parse_size(text: str) -> tuple[int, int]:
    sides = tuple(int(side) for side in text.lower().split("x"))
    return sides * 2 if len(sides) == 1 else sides


def extractor_for(arch: str, weights: str | None) -> FeatureExtractor:
    if weights is not None:
        return FeatureExtractor.from_release(arch, weights)
    return FeatureExtractor(create_model(arch, mean=RELEASE_MEAN, std=RELEASE_STD))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["fast", "accurate"])
    parser.add_argument("--size", nargs="+", default=["nominal", "461x569"],
                        help="HxW or S; 'nominal' is 231 fast, 221 accurate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights-fast")
    parser.add_argument("--weights-accurate")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("arch      input     map     ours s/img  release s/img  release/ours")
    for arch in args.arch:
        extractor = extractor_for(arch, getattr(args, f"weights_{arch}"))
        layer = extractor.arch.classifier_names[-1]
        for text in args.size:
            size = (NOMINAL[arch],) * 2 if text == "nominal" else parse_size(text)
            image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            maps = extractor.extract(image, layer=layer)  # compile, warm up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                extractor.extract(image, layer=layer)
                times.append(time.perf_counter() - start)
            ours = statistics.median(times)
            release = RELEASE_SECONDS.get((arch, size))
            ratio = None if release is None else release / ours
            rows.append({"arch": arch, "size": list(size), "map": list(maps.shape[:2]),
                         "seconds": ours, "release_seconds": release, "speedup": ratio})
            sides, cells = "x".join(map(str, size)), "x".join(map(str, maps.shape[:2]))
            print(f"{arch:9s} {sides:9s} {cells:7s} {ours:10.3f}  "
                  f"{'' if release is None else f'{release:13.2f}':>13s}  "
                  f"{'' if ratio is None else f'{ratio:11.1f}x'}")
    print(json.dumps({"benchmark": "features", "rows": rows}))


if __name__ == "__main__":
    main()
