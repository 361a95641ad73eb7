"""Ctrl-C on the command line: reconstruct.py gets a real SIGINT mid-fit, stops, and leaves only its log."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    pytest.importorskip("bpy")
    out = tmp_path_factory.mktemp("sigint") / "example"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "render_dataset.py"), "example", "--out", str(out),
                        "--views", "8", "--size", "48", "--holdout", "0", "--samples", "4", "--seed", "3"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def test_ctrl_c_stops_reconstruct_and_writes_nothing_but_the_log(tiny_dataset, tmp_path):
    out = tmp_path / "result"
    proc = subprocess.Popen([sys.executable, "-u", str(ROOT / "scripts" / "reconstruct.py"), str(tiny_dataset),
                             "--out", str(out), "--preset", "small"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 240
    try:
        for line in proc.stdout:  # wait until the optimisation itself is running
            lines.append(line)
            if "%" in line and "loading" not in line and len(lines) > 3:
                break
            assert time.monotonic() < deadline, "".join(lines)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + rest
    assert proc.returncode == 130, text
    assert "cancelled" in text or "aborted" in text
    # the pipeline polls the stop request every iteration: at most a couple of progress lines follow it
    after = rest.split("Ctrl-C", 1)[-1]
    assert sum("%" in line for line in after.splitlines()) <= 2, text
    assert sorted(os.listdir(out)) == ["reconstruct.log"]
    assert not [p for p in os.listdir(tmp_path) if p != "result"], "a temporary folder was left behind"
