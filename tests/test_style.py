"""The house stays clean: Snakemake's linter, snakefmt and ruff report nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "snakemake", "--lint"],
        [str(BIN / "snakefmt"), "--check", "."],
        [str(BIN / "ruff"), "check", "src", "tests", "benchmarks", "workflow/scripts"],
        [str(BIN / "ruff"), "format", "--check", "src", "tests", "benchmarks", "workflow/scripts"],
    ],
    ids=["snakemake-lint", "snakefmt", "ruff-check", "ruff-format"],
)
def test_style(command):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
