"""Import every add-on module and register the add-on with ``import torch`` blocked (development checkout).

    .venv/bin/python addon_no_torch.py REPO_ROOT

Prints ``RESULT: {json}``: modules that failed to import, whether torch was asked for, and whether
register()/unregister() ran. Run by tests/test_import_direction.py in a fresh process.
"""

import importlib
import pkgutil
import sys
import traceback

import _common

blocker = _common.block(["torch"], "missing")
sys.path.insert(0, sys.argv[1])

import bpy  # noqa: E402,F401

R = {"failed": {}, "imported": [], "errors": []}
import addon  # noqa: E402

for info in pkgutil.walk_packages(addon.__path__, "addon."):
    name = info.name
    try:
        importlib.import_module(name)
        R["imported"].append(name)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        R["failed"][name] = f"{type(exc).__name__}: {exc}"
R["attempts_at_import"] = sorted(set(blocker.attempts))
try:
    addon.register()
    R["registered"] = [m.__name__ for m in addon._modules]
    R["panel"] = hasattr(bpy.types, "TEXFORGE_PT_main")
    addon.unregister()
    R["panel_after_unregister"] = hasattr(bpy.types, "TEXFORGE_PT_main")
except Exception:  # noqa: BLE001
    R["errors"].append(traceback.format_exc())
# a module that fails during register() must leave nothing half-registered
names = addon._MODULE_NAMES
addon._MODULE_NAMES = ("ui.properties", "ui.preferences", "no_such_module")
try:
    addon.register()
    R["failed_register"] = "no error"
except ImportError as exc:
    R["failed_register"] = f"{type(exc).__name__}: {exc}"
R["after_failed_register"] = {"scene_prop": hasattr(bpy.types.Scene, "texforge"), "modules": len(addon._modules)}
addon._MODULE_NAMES = names
R["attempts"] = sorted(set(blocker.attempts))
R["torch_modules"] = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
_common.emit(R)
