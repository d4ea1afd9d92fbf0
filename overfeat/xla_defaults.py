"""XLA flags that make the CPU backend fast out of the box.

jaxlib 0.10's CPU backend routes convolutions, dots, reductions and elementwise fusions
through its YNNPACK library fusions by default; on the convolutions of this network they run
1.3-17x slower than XLA's own emitters (measured with ``scripts/benchmark_dense.py``, see
NOTES.md). Turning those fusions off brings convolutions to the machine's matmul peak.

The flag is a CPU-backend flag: GPU and TPU programs ignore it. It is added only when

* the user has not set it already in ``XLA_FLAGS`` (theirs wins),
* ``OVERFEAT_XLA_DEFAULTS`` is not ``0`` (the opt-out), and
* the installed jaxlib is a version known to have the flag: XLA aborts on unknown flags.

It must be set before JAX initialises its first backend; ``import overfeat`` does that.
"""

from __future__ import annotations

import importlib.metadata
import os

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
YNN_VALUE = "-dot,-reduce,-eltwise,-individual_convolution,-individual_dot"
# jaxlib (major, minor) releases checked to accept the flag.
KNOWN_JAXLIB = {(0, 10)}


def _jaxlib_version() -> tuple[int, int] | None:
    try:
        major, minor = importlib.metadata.version("jaxlib").split(".")[:2]
        return int(major), int(minor)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


def apply() -> bool:
    """Add the CPU flag to ``XLA_FLAGS`` when safe; return whether it is in effect."""
    flags = os.environ.get("XLA_FLAGS", "")
    if YNN_FLAG in flags:
        return True
    if os.environ.get("OVERFEAT_XLA_DEFAULTS", "1") == "0":
        return False
    if _jaxlib_version() not in KNOWN_JAXLIB:
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {YNN_FLAG}={YNN_VALUE}".strip()
    return True
