"""Synthetic weight files in the original release's layout, for parity tests.

The real OverFeat weights cannot be downloaded in CI, so parity is checked on SYNTHETIC
weights made by ``../shared/reference/synthetic_release.py`` (a counter-based hash: any
machine regenerates them bit for bit), against what the original binary computed on them
(``../shared/reference/parity``). The session fixtures in ``conftest.py`` use these helpers.
"""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO.parent / "shared" / "reference"
PARITY_DIR = SHARED_REFERENCE / "parity"
# (net index, seed) of the parity data (parity/README.md).
RELEASE_SEEDS = {"fast": (0, 1), "accurate": (1, 2)}


def load_synthetic_release_module():
    """``synthetic_release.py`` imported by its path in the shared folder."""
    script = SHARED_REFERENCE / "synthetic_release.py"
    spec = importlib.util.spec_from_file_location("synthetic_release", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_synthetic_weights(module, path: pathlib.Path, net: int, seed: int, chunk: int = 1 << 20):
    """``module.weights(net, seed)`` written to ``path`` a chunk at a time.

    ``weights`` builds the whole file in memory with uint64 temporaries (several GB, ~13 s);
    its values are ``uniform(global index) * scale`` per tensor, so computing them in slices
    of indices gives the same bytes with bounded memory (~3 s per file).
    """
    with open(path, "wb") as file, np.errstate(over="ignore"):
        offset = 0
        for out_ch, in_ch, kernel in module.LAYOUT[net]:
            count, fan_in = out_ch * in_ch * kernel * kernel, in_ch * kernel * kernel
            scale = np.float32(np.sqrt(6.0 / fan_in))
            for start in range(0, count, chunk):
                values = module.uniform(offset + start, min(chunk, count - start), seed) * scale
                values.astype("<f4").tofile(file)
            offset += count
            (module.uniform(offset, out_ch, seed) * np.float32(0.01)).astype("<f4").tofile(file)
            offset += out_ch
