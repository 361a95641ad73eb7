"""Create / reuse the project's virtual environment and re-run the calling script inside it.

Used by the README's two commands (scripts/demo.py and scripts/run_tests.py) so that a fresh clone on
a machine with only Python 3.11 and pip works: the first run creates ``.venv`` and installs torch
(pinned), bpy and the project; later runs reuse it (a stamp records what was installed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
TORCH = "torch==2.13.0"
NODE_TOOLS = ROOT / ".venv" / "node"  # npm tools used by the tests (Khronos gltf-validator)


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _has_nvidia_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _stamp(extras: str) -> str:
    h = hashlib.sha256()
    h.update((ROOT / "pyproject.toml").read_bytes())
    h.update(f"{TORCH}|{extras}|{sys.version_info[:2]}".encode())
    return h.hexdigest()


def _pip(*args: str) -> None:
    cmd = [str(_venv_python()), "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("[setup]", " ".join(cmd[3:]), flush=True)
    subprocess.run(cmd, check=True)


def ensure_environment(extras: str = "blender,dev") -> None:
    """Make sure we run inside ``.venv`` with everything installed; re-exec the script if needed."""
    inside = Path(sys.prefix).resolve() == VENV.resolve()
    if sys.version_info[:2] != (3, 11) and not inside:
        print(f"[setup] warning: bpy 5.0.1 needs Python 3.11, this is {sys.version.split()[0]}", flush=True)
    stamp_file = VENV / ".texforge-stamp"
    want = _stamp(extras)
    if not _venv_python().exists():
        print(f"[setup] creating virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    if not stamp_file.exists() or stamp_file.read_text() != want:
        # torch first and pinned: an unpinned torch would pull the newest CUDA build (gigabytes)
        # on machines without a GPU. Where there is an NVIDIA GPU, the same pin on Linux gets the
        # CUDA build from PyPI. TEXFORGE_TORCH_INDEX may name another wheel index (e.g. a CPU-only one).
        torch_args = [TORCH]
        if os.environ.get("TEXFORGE_TORCH_INDEX"):
            torch_args += ["--index-url", os.environ["TEXFORGE_TORCH_INDEX"]]
        print(f"[setup] installing {TORCH} ({'NVIDIA GPU found' if _has_nvidia_gpu() else 'no NVIDIA GPU'})",
              flush=True)
        _pip(*torch_args)
        _pip("-e", f"{ROOT}[{extras}]")
        stamp_file.write_text(want)
    if not inside:
        script = Path(sys.argv[0]).resolve()
        cmd = [str(_venv_python()), str(script), *sys.argv[1:]]
        if os.name == "nt":
            sys.exit(subprocess.call(cmd))
        os.execv(cmd[0], cmd)


def ensure_node_package(package: str) -> Path | None:
    """Install an npm package into .venv/node once and return its folder; None when npm is missing
    or the install failed (tests that need it then fail, saying how to install it)."""
    folder = NODE_TOOLS / "node_modules" / package
    if (folder / "package.json").is_file():
        return folder
    npm = shutil.which("npm")
    if not npm:
        return None
    NODE_TOOLS.mkdir(parents=True, exist_ok=True)
    print(f"[setup] npm install {package}", flush=True)
    r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(NODE_TOOLS), package])
    return folder if r.returncode == 0 and (folder / "package.json").is_file() else None
