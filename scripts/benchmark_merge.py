"""Speed of the greedy accumulator (section 4.3): the fast exact merge against the naive loop,
with NMS and NMM for comparison.

    python scripts/benchmark_merge.py                        # 10,000 boxes, ~1 min on 2 cores
    python scripts/benchmark_merge.py --boxes 2000 --naive-boxes 150 300
    nice -n -20 python scripts/benchmark_merge.py            # (as root) on a shared machine

Two kinds of input, 10,000 boxes each by default:

* ``dense``: what the accurate net's dense pass gives for one 400x500 image with two objects:
  every fine-stride cell of Table 5's six scales, with flips (3,150 cells), one box per cell
  for each of the top classes (a shared regressor: the same box for every class). Cells whose
  window covers half an object regress onto it (6% noise); the others return their window
  with 15% noise. Almost every box merges: the hard case.
* ``uniform``: boxes of 20-200 pixels anywhere in a 1000x1000 image, 5 classes.

The naive loop is O(n^3): it runs at the small sizes ``--naive-boxes`` (on random subsets of
the same boxes, next to the fast merge on the same subsets, checked equal) and is
extrapolated to the full size with the exponent fitted between them. Times are process CPU
seconds, the minimum of ``--repeats`` runs (other work on a shared machine only ever adds
time); the load average is printed. ``greedy_merge`` is compiled code (numba): its first call
in a process compiles it, or loads it from numba's on-disk cache, and is timed apart
(``first_call_s``). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import numpy as np

from overfeat import boxes as box_ops
from overfeat import merge, scales
from overfeat.architectures import get_architecture

GOAL_SECONDS = 0.1  # issue 6: merging 10,000 boxes


def dense_boxes(count: int, seed: int):
    """``count`` boxes as the dense pipeline produces them (see the module docstring)."""
    rng = np.random.default_rng(seed)
    arch = get_architecture("accurate")
    height, width = 400, 500
    objects = np.array([[60.0, 50, 330, 300], [300, 180, 480, 390]])
    per_cell = []
    for scaled in scales.scale_plan(arch, height, width, rule="table5"):
        out_h, out_w = (arch.output_size(side) for side in scaled.size)
        windows = box_ops.cell_windows_xyxy(arch, out_h, out_w)  # [h, w, 4] scaled pixels
        for flipped in (False, True):
            seen = box_ops.boxes_in_original_image_xyxy(
                np.zeros_like(windows),
                windows,
                scaled_size=scaled.size,
                original_size=(height, width),
                flipped=flipped,
            ).reshape(-1, 4)  # each cell's window in original pixels
            side = (seen[:, 2:] - seen[:, :2]).max(axis=1, keepdims=True)
            predicted = seen + rng.normal(0, 0.15, seen.shape) * side
            for target in objects:
                covered = box_ops.intersection_xyxy(seen, target[None])[:, 0]
                on_object = covered >= 0.5 * box_ops.area_xyxy(target)
                size = np.tile(target[2:] - target[:2], 2)
                noise = rng.normal(0, 0.06, (on_object.sum(), 4)) * size
                predicted[on_object] = target + noise
            predicted[:, 2:] = np.maximum(predicted[:, 2:], predicted[:, :2] + 1)
            per_cell.append(predicted)
    cells = np.concatenate(per_cell)  # [3150, 4]
    classes = math.ceil(count / len(cells))
    boxes = np.concatenate([cells] * classes)[:count]
    labels = np.repeat(np.arange(classes), len(cells))[:count]
    return boxes, rng.uniform(0.01, 1, count), labels


def uniform_boxes(count: int, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1000, (count, 2))
    sizes = rng.uniform(20, 200, (count, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    return boxes, rng.uniform(0.01, 1, count), rng.integers(0, 5, count)


def cpu_seconds(function, *args, repeats: int, **kwargs):
    """The least process CPU time of ``repeats`` calls, and the result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.process_time()
        result = function(*args, **kwargs)
        times.append(time.process_time() - start)
    return min(times), result


def first_call_seconds() -> float:
    """Wall seconds of the process's first ``greedy_merge`` call: numba compiles the merge
    (first run on a machine) or loads it from its cache."""
    start = time.perf_counter()
    merge.greedy_merge(np.array([[0.0, 0, 10, 10], [1, 0, 11, 10]]), np.ones(2), np.zeros(2, int))
    return time.perf_counter() - start


def run(name, make, args) -> dict:
    boxes, scores, labels = make(args.boxes, args.seed)
    params = dict(threshold=args.threshold)
    greedy_s, merged = cpu_seconds(
        merge.greedy_merge, boxes, scores, labels, repeats=args.repeats, **params
    )
    nms_s, kept = cpu_seconds(merge.nms, boxes, scores, labels, repeats=args.repeats)
    nmm_s, _ = cpu_seconds(merge.nmm, boxes, scores, labels, repeats=args.repeats)

    rng = np.random.default_rng(args.seed + 1)
    small = []
    for size in args.naive_boxes:
        subset = np.sort(rng.choice(len(boxes), size, replace=False))
        sub = (boxes[subset], scores[subset], labels[subset])
        naive_small, naive_out = cpu_seconds(
            merge.greedy_merge_naive, *sub, repeats=args.repeats, **params
        )
        fast_small, fast_out = cpu_seconds(merge.greedy_merge, *sub, repeats=args.repeats, **params)
        equal = all(np.array_equal(a, b) for a, b in zip(fast_out, naive_out, strict=True))
        small.append((size, naive_small, fast_small, equal))
    (n1, t1, _, _), (n2, t2, _, _) = small[0], small[-1]
    exponent = math.log(t2 / t1) / math.log(n2 / n1) if n2 > n1 else 3.0
    naive_s = t2 * (args.boxes / n2) ** exponent

    print(f"\n[{name}] {args.boxes} boxes, {len(np.unique(labels))} classes, t={args.threshold}")
    print(f"  {'method':<28}{'seconds':>12}{'vs greedy':>12}{'boxes out':>11}")
    rows = [
        ("greedy (fast, exact)", greedy_s, len(merged[0])),
        ("greedy naive (extrapolated)", naive_s, len(merged[0])),
        ("nms (iou 0.5)", nms_s, len(kept[0])),
        ("nmm (iou 0.5)", nmm_s, None),
    ]
    for label, seconds, out in rows:
        ratio = seconds / greedy_s
        print(f"  {label:<28}{seconds:>12.4f}{ratio:>11.1f}x{out if out is not None else '':>11}")
    for size, naive_small, fast_small, equal in small:
        print(
            f"  measured at {size} boxes: naive {naive_small:.3f} s, fast {fast_small:.4f} s "
            f"({naive_small / max(fast_small, 1e-9):.0f}x), same result: {equal}"
        )
    print(
        f"  naive extrapolated from {n2} to {args.boxes} boxes as n^{exponent:.2f} "
        f"(fitted between {n1} and {n2}): not run at full size"
    )
    goal = "met" if greedy_s <= GOAL_SECONDS else "NOT met"
    print(f"  goal <= {GOAL_SECONDS} s for {args.boxes} boxes: {goal} ({greedy_s:.3f} s)")
    return {
        "boxes": args.boxes,
        "greedy_s": round(greedy_s, 4),
        "naive_s_extrapolated": round(naive_s, 2),
        "naive_exponent": round(exponent, 2),
        "naive_over_greedy": round(naive_s / greedy_s, 1),
        "nms_s": round(nms_s, 4),
        "nmm_s": round(nmm_s, 4),
        "greedy_over_nms": round(greedy_s / nms_s, 2),
        "boxes_out": len(merged[0]),
        "equal_to_naive": all(equal for *_, equal in small),
        "goal_met": greedy_s <= GOAL_SECONDS,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=10_000)
    parser.add_argument("--naive-boxes", type=int, nargs=2, default=(200, 400))
    parser.add_argument("--threshold", type=float, default=merge.DEFAULT_THRESHOLD)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--inputs", nargs="+", default=["dense", "uniform"], choices=["dense", "uniform"]
    )
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load:.1f}; times are process CPU seconds, least of {args.repeats}"
    )
    first_s = first_call_seconds()
    print(f"greedy_merge's first call (numba compiles, or loads its cache): {first_s:.2f} s wall")
    makers = {"dense": dense_boxes, "uniform": uniform_boxes}
    results = {name: run(name, makers[name], args) for name in args.inputs}
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        json.dumps(
            {
                "benchmark": "merge",
                "cpus": os.cpu_count(),
                "load": round(load, 1),
                "load_after": round(load_after, 1),
                "threshold": args.threshold,
                "first_call_s": round(first_s, 2),
                **results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
