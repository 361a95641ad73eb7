"""The state of the optional PyTorch install: the extension's private site-packages, the pip command
line, and the single background install job that the preferences draw and the operator
(operators/install_torch.py) starts.

It lives in runtime/ so that ui/preferences.py (which draws the job) and the operator (which reads the
preferences) do not import each other.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading

import bpy

from . import torch_status

CPU_INDEX_URL = "https://download.pytorch.org/whl/cpu"

_ADDON = __package__.rpartition(".")[0]  # the add-on package (this module sits in its runtime/)


def site_packages_dir(create: bool = False) -> str:
    """The extension's private site-packages folder (ValueError in a checkout that is not an extension)."""
    return bpy.utils.extension_path_user(_ADDON, path="site-packages", create=create)


def add_site_dir() -> str | None:
    """Append the private site-packages to sys.path when it exists; returns it (None when absent)."""
    try:
        path = site_packages_dir(create=False)
    except ValueError:
        return None
    if os.path.isdir(path) and path not in sys.path:
        sys.path.append(path)
    return path if os.path.isdir(path) else None


def pip_command(variant: str, target: str, index_url: str = "") -> list[str]:
    """The pip command line for the CPU or CUDA build of the pinned torch and the backend's other
    packages, installed into ``target``. The CPU wheel index is an *extra* index so the other packages
    still come from PyPI (the CPU build's local version, +cpu, wins over PyPI's for the same pin)."""
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
           "--upgrade", "--target", target, torch_status.TORCH_PIN, *torch_status.RUNTIME_PACKAGES]
    if variant == "CPU":
        cmd += ["--extra-index-url", CPU_INDEX_URL]
    elif index_url:
        cmd += ["--extra-index-url", index_url]
    return cmd


class InstallJob:
    """State of the (single) background install, read by the preferences' draw()."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.state = "idle"  # idle | running | done | failed
        self.variant = ""
        self.returncode: int | None = None
        self.log: collections.deque[str] = collections.deque(maxlen=200)
        self.process: subprocess.Popen | None = None
        self.thread: threading.Thread | None = None

    def summary(self) -> str:
        return {"running": f"Installing PyTorch ({self.variant}) ...",
                "done": f"PyTorch ({self.variant}) installed",
                "failed": f"PyTorch install failed (exit code {self.returncode})"}.get(self.state, "")

    def tail(self, n: int) -> list[str]:
        return [line[:200] for line in list(self.log)[-n:]]

    def run(self, cmd: list[str]) -> None:
        """Run pip to the end (worker thread, or the main thread in background mode). Touches no bpy data."""
        self.log.append(" ".join(cmd))
        try:
            self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            text=True, errors="replace")
            for line in self.process.stdout:
                self.log.append(line.rstrip())
            self.returncode = self.process.wait()
        except Exception as exc:  # noqa: BLE001 - on a worker thread: record it, the timer shows it
            self.log.append(f"could not run pip: {type(exc).__name__}: {exc}")
            self.returncode = -1
        self.state = "done" if self.returncode == 0 else "failed"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()


JOB = InstallJob()
