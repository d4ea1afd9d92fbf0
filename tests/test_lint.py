"""The code base stays lint-clean (ruff settings in pyproject.toml)."""

import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_ruff_check_passes():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    folders = [
        name for name in ("overfeat", "tests", "scripts", "configs") if (REPO / name).is_dir()
    ]
    result = subprocess.run([ruff, "check", *folders], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
