"""Install the built extension zip into a temporary Blender user folder, enable, inspect, disable.

    BLENDER_USER_RESOURCES=TMP .venv/bin/python install_extension.py ZIP --torch present|missing

Run by tests/test_extension.py in a fresh process each time. ``--torch missing`` blocks ``import torch``
before bpy is imported (first as absent, later as a broken install). Prints ``RESULT: {json}``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

import _common

# A user's Blender has no development checkout: hide the editable install of texforge and texforge_blender,
# so that the only copies this process can import are the wheel's that the extension ships. With two
# source folders (backend/, blender_tools/) setuptools installs them through a meta-path finder, not a
# sys.path entry; both kinds are dropped.
sys.path[:] = [p for p in sys.path if not os.path.isfile(os.path.join(p, "texforge", "__init__.py"))]
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable___texforge")]

parser = argparse.ArgumentParser()
parser.add_argument("zip")
parser.add_argument("--torch", choices=("present", "missing"), default="present")
args = parser.parse_args()

blocker = _common.block(["torch"], "missing") if args.torch == "missing" else None

import bpy  # noqa: E402

REPO = "user_default"
PKG = f"bl_ext.{REPO}.texforge"
OPERATORS = ("TEXFORGE_OT_install_torch", "TEXFORGE_OT_check_torch")
R: dict = {"errors": []}


def registered_state() -> dict:
    return {
        "panel": hasattr(bpy.types, "TEXFORGE_PT_main"),
        "panel_category": getattr(getattr(bpy.types, "TEXFORGE_PT_main", None), "bl_category", None),
        "scene_prop": hasattr(bpy.types.Scene, "texforge"),
        "prefs": PKG in bpy.context.preferences.addons,
        "operators": [name for name in OPERATORS if hasattr(bpy.types, name)],
        "load_post_handlers": [getattr(h, "__module__", "") for h in bpy.app.handlers.load_post
                               if getattr(h, "__module__", "").startswith(PKG)],
    }


def install() -> None:
    R["user_resources"] = os.environ.get("BLENDER_USER_RESOURCES")
    R["repos"] = [r.module for r in bpy.context.preferences.extensions.repos]
    R["install"] = sorted(bpy.ops.extensions.package_install_files(
        filepath=args.zip, repo=REPO, enable_on_install=True))
    R["installed_dir"] = os.path.dirname(importlib.import_module(PKG).__file__)
    R["user_dir"] = bpy.utils.resource_path("USER")
    R["torch_after_enable"] = "torch" in sys.modules
    R["enabled"] = registered_state()
    R["preset"] = bpy.context.scene.texforge.preset
    prefs = bpy.context.preferences.addons[PKG].preferences
    R["prefs_values"] = {"device": prefs.device, "default_preset": prefs.default_preset}
    # the preferences' default preset reaches scenes that never chose one, and only those
    chosen = bpy.data.scenes.new("Chosen")
    chosen.texforge.preset = "small"
    prefs.default_preset = "full"
    R["default_preset_full"] = {"current": bpy.context.scene.texforge.preset, "chosen": chosen.texforge.preset}
    prefs.default_preset = "small"


def backend_checks() -> None:
    backend = importlib.import_module("texforge")
    R["backend_name"] = backend.__name__
    R["backend_file"] = backend.__file__
    R["backend_version"] = backend.__version__
    if args.torch == "present":  # every library module must import inside Blender
        failed = {}
        names = []
        blender_side = importlib.import_module("texforge_blender")
        R["blender_side_file"] = blender_side.__file__
        for name in [*_common.module_names(backend.__path__[0], "texforge"),
                     *_common.module_names(blender_side.__path__[0], "texforge_blender")]:
            try:
                importlib.import_module(name)
                names.append(name)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                failed[name] = f"{type(exc).__name__}: {exc}"
        R["backend_modules"] = names
        R["backend_failed"] = failed
    R["toplevel_backend"] = sorted(m for m in sys.modules if m == "backend" or m.startswith("backend."))


def status_checks() -> None:
    ts = importlib.import_module(f"{PKG}.runtime.torch_status")
    prefs_mod = importlib.import_module(f"{PKG}.ui.preferences")
    panels = importlib.import_module(f"{PKG}.ui.panels")
    R["quick_status"] = ts.quick_status().lines()
    R["torch_before_draw"] = "torch" in sys.modules
    panel_layout = _common.RecordingLayout()
    panels.draw_torch_warning(panel_layout)
    R["panel_texts"] = panel_layout.texts()
    layout = _common.RecordingLayout()
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs_mod.draw_torch_status(layout, prefs)
    R["prefs_texts"] = layout.texts()
    R["prefs_operators"] = [item[1:] for item in layout.items if item[0] == "operator"]
    R["torch_after_draw"] = "torch" in sys.modules
    status = ts.probe()
    R["status"] = {"available": status.available, "version": status.version, "devices": list(status.devices),
                   "error": status.error}
    if blocker is not None:  # now torch is "installed" but its import fails
        blocker.mode = "broken"
        ts.reset()
        broken = ts.probe()
        R["broken_status"] = {"available": broken.available, "error": broken.error}
        layout = _common.RecordingLayout()
        prefs_mod.draw_torch_status(layout, prefs)
        R["broken_prefs_texts"] = layout.texts()
        R["torch_attempts"] = sorted(set(blocker.attempts))


def device_checks() -> None:
    prefs_mod = importlib.import_module(f"{PKG}.ui.preferences")
    prefs = bpy.context.preferences.addons[PKG].preferences
    scene = bpy.context.scene
    out = {}
    for pref_device, scene_device in (("AUTO", "PREFERENCES"), ("CUDA", "PREFERENCES"), ("CUDA", "CPU")):
        prefs.device, scene.texforge.device = pref_device, scene_device
        try:
            out[f"{pref_device}/{scene_device}"] = prefs_mod.resolve_device(bpy.context)
        except RuntimeError as exc:
            out[f"{pref_device}/{scene_device}"] = f"error: {exc}"
    prefs.device, scene.texforge.device = "AUTO", "PREFERENCES"
    R["devices"] = out
    cache = prefs_mod.cache_folder(bpy.context)
    R["cache"] = {"in_user_dir": cache.startswith(os.environ["BLENDER_USER_RESOURCES"]),
                  "exists": os.path.isdir(cache)}


def poll_checks() -> None:
    op = bpy.ops.texforge.install_torch
    system = bpy.context.preferences.system
    system.use_online_access = False
    R["online_off"] = {"online_access": bpy.app.online_access, "poll": op.poll()}
    try:
        op(variant="CPU")
        R["online_off"]["call"] = "ran"
    except RuntimeError as exc:  # Blender raises the poll message when poll() fails
        R["online_off"]["call"] = str(exc)
    system.use_online_access = True
    R["online_on"] = {"online_access": bpy.app.online_access, "poll": op.poll()}
    system.use_online_access = False
    mod = importlib.import_module(f"{PKG}.operators.install_torch")
    R["pip_cpu"] = mod.pip_command("CPU", "/target")[1:]
    R["pip_cuda"] = mod.pip_command("CUDA", "/target")[1:]
    # the worker's pip runner, with harmless commands instead of a download
    job = mod.InstallJob()
    job.run([sys.executable, "-c", "print('collected torch'); print('installed')"])
    R["job_ok"] = {"state": job.state, "returncode": job.returncode, "tail": job.tail(2)}
    job = mod.InstallJob()
    job.variant = "CPU"
    job.run([sys.executable, "-c", "import sys; print('ERROR: no matching distribution'); sys.exit(1)"])
    R["job_failed"] = {"state": job.state, "summary": job.summary(), "tail": job.tail(1)}


def disable_checks() -> None:
    bpy.ops.preferences.addon_disable(module=PKG)
    R["disabled"] = registered_state()
    # a PyTorch installed by texforge.install_torch lives here; enabling appends it to sys.path (last)
    site = bpy.utils.extension_path_user(PKG, path="site-packages", create=True)
    with open(os.path.join(site, "texforge_probe_module.py"), "w") as f:
        f.write("VALUE = 42\n")
    bpy.ops.preferences.addon_enable(module=PKG)
    R["reenabled"] = registered_state()
    R["user_site"] = {"in_user_dir": site.startswith(os.environ["BLENDER_USER_RESOURCES"]),
                      "on_path_last": sys.path[-1] == site,
                      "import": importlib.import_module("texforge_probe_module").VALUE}
    bpy.ops.preferences.addon_disable(module=PKG)
    R["disabled_again"] = registered_state()
    R["user_site"]["on_path_after_disable"] = site in sys.path


for step in (install, status_checks, backend_checks, device_checks, poll_checks, disable_checks):
    try:
        step()
    except Exception:  # noqa: BLE001 - keep going so the test sees every fact; it fails on errors
        R["errors"].append(f"{step.__name__}: {traceback.format_exc()}")
_common.emit(R)
