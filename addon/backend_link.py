"""Where the add-on finds the backend.

In the built extension the backend ships inside the add-on's own package (``<extension>.backend``),
so no top-level ``backend`` module ever lands on Blender's sys.path. In a development checkout
(tests, scripts) the repository root is on sys.path and the backend is the top-level package.
Import it through ``get_backend()`` or ``backend_module("render.camera")``; never at add-on import
time when the module needs torch.
"""

from __future__ import annotations

import importlib
import importlib.util


def _root_name() -> str:
    # Decide by where the package *is*, not by whether importing it succeeds: an ImportError raised
    # inside the bundled backend must surface, never fall through to some other top-level "backend".
    parent = __package__ or "addon"
    if importlib.util.find_spec(f"{parent}.backend") is not None:
        return f"{parent}.backend"
    return "backend"


def get_backend():
    return importlib.import_module(_root_name())


def backend_module(name: str):
    """``backend_module("render.camera")`` -> the module ``<backend>.render.camera``."""
    return importlib.import_module(f"{_root_name()}.{name}")
