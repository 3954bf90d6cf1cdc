"""Every benchmark script answers ``--help`` with its usage, and runs nothing (CONTRIBUTING.md:
"--help for its options"): bench_service had no options and ran the whole benchmark, servers
and all, on ``--help``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_prints_the_usage_and_runs_nothing(script):
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{script}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a guard, not a measure: without the fix it ran for minutes
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:"), done.stdout[:300]
