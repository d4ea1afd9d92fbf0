"""The configs ship with the package: a packaged config loads by name, the top-level
``configs/`` is the same folder, and a wheel installed into a fresh environment resolves every
packaged config from another folder (issue 14, point 1)."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import venv

import pytest

from overfeat.train import config as config_lib

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_top_level_configs_are_the_packaged_ones():
    assert (REPO / "configs").resolve() == config_lib.PACKAGED_CONFIGS
    assert config_lib.packaged_configs() == ("accurate", "custom", "fast", "synthetic")


def test_a_packaged_config_loads_by_name_and_a_path_still_works():
    by_name = config_lib.load_config("synthetic:detect,quick")
    by_path = config_lib.load_config(str(REPO / "configs" / "synthetic.py") + ":detect,quick")
    assert by_name.to_dict() == by_path.to_dict()
    with pytest.raises(ValueError, match="no packaged config 'synthtic'; packaged: accurate"):
        config_lib.load_config("synthtic:classify")


RESOLVE = """
import pathlib, sys
import overfeat
from overfeat.train.config import PACKAGED_CONFIGS, load_config, packaged_configs
assert "site-packages" in overfeat.__file__, overfeat.__file__
for name in packaged_configs():
    try:
        print(name, load_config(name).arch)
    except ValueError as error:  # custom needs its dataset: resolved, then refused
        assert "needs the dataset" in str(error), error
        print(name, "needs the dataset")
"""


def test_a_wheel_in_a_fresh_environment_resolves_every_packaged_config(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(wheels), str(REPO)],
                   check=True, capture_output=True)
    (wheel,) = wheels.glob("overfeat-*.whl")
    # The environment borrows this one's packages (jax, flax, ...: no network) but has its
    # own overfeat, the wheel's, ahead of the editable checkout.
    venv.create(tmp_path / "env", system_site_packages=True, with_pip=False)
    python = tmp_path / "env" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([str(python), "-c", RESOLVE], cwd=elsewhere, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:4] == [
        "accurate accurate", "custom needs the dataset", "fast fast", "synthetic fast_small"]
