"""``python -m xdifferland`` runs the command line (xdifferland/__main__.py)."""

from __future__ import annotations

import subprocess
import sys


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "xdifferland", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "simulate" in done.stdout and "usage:" in done.stdout


def test_python_dash_m_passes_the_exit_status():
    done = subprocess.run([sys.executable, "-m", "xdifferland", "no-such-command"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2  # argparse's status for a usage error
    assert "invalid choice" in done.stderr
