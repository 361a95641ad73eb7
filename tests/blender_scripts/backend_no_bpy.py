"""Import texforge and every submodule with Blender's modules and the add-on blocked.

    .venv/bin/python backend_no_bpy.py

Prints ``RESULT: {json}``. Run by tests/test_import_direction.py in a fresh process.
"""

import importlib
import sys

import _common

BLOCKED = ["bpy", "mathutils", "bpy_extras", "bmesh", "gpu", "addon", "bl_ext"]
blocker = _common.block(BLOCKED, "missing")

R = {"failed": {}, "imported": []}
import texforge  # noqa: E402

R["version"] = texforge.__version__
R["backend_file"] = texforge.__file__
for name in _common.module_names(texforge.__path__[0], "texforge"):
    try:
        importlib.import_module(name)
        R["imported"].append(name)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        R["failed"][name] = f"{type(exc).__name__}: {exc}"
R["attempts"] = sorted(set(blocker.attempts))
R["blender_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
_common.emit(R)
