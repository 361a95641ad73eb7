"""Where the add-on finds the backend.

In the built extension the backend ships inside the add-on's own package (``<extension>.backend``),
so no top-level ``backend`` module ever lands on Blender's sys.path. In a development checkout
(tests, scripts) the repository root is on sys.path and the backend is the top-level package.
Import it through ``get_backend()`` or ``backend_module("render.camera")``; never at add-on import
time when the module needs torch.
"""

from __future__ import annotations

import importlib


def _root_name() -> str:
    parent = __package__ or "addon"
    try:
        importlib.import_module(f"{parent}.backend")
        return f"{parent}.backend"
    except ImportError:
        return "backend"


def get_backend():
    return importlib.import_module(_root_name())


def backend_module(name: str):
    """``backend_module("render.camera")`` -> the module ``<backend>.render.camera``."""
    return importlib.import_module(f"{_root_name()}.{name}")
