"""Optional, explicit PyTorch install into the extension's own user folder (texforge.install_torch).

Blender's extension rules: nothing is downloaded unless the user allowed online access
(``bpy.app.online_access``), so the operator is disabled otherwise, with a message saying how to allow it.
pip runs in a subprocess (``sys.executable -m pip install --target <user folder>/site-packages``) on a
worker thread; a timer on the main thread watches it and redraws the preferences, so the UI never
blocks. In background mode (``blender -b``, the bpy module) timers never fire, so it runs synchronously.
The user folder is appended (not prepended) to sys.path at register, so Blender's own modules win.
The folder, the pip command and the job's state are in runtime/torch_install.py.
"""

from __future__ import annotations

import sys
import threading

import bpy
from bpy.props import EnumProperty

from ..runtime import torch_status
from ..runtime.torch_install import JOB, InstallJob, add_site_dir, pip_command, site_packages_dir  # noqa: F401
from ..ui.preferences import get_preferences


def _finish() -> None:
    """Main thread, after pip ended: make the new torch importable and forget the old probe."""
    add_site_dir()
    torch_status.reset()
    for window in getattr(bpy.context.window_manager, "windows", ()):
        for area in window.screen.areas:
            area.tag_redraw()


def _watch_job():
    """Timer callback: redraw while pip runs; None (stop the timer) once it ended."""
    if JOB.state == "running":
        for window in getattr(bpy.context.window_manager, "windows", ()):
            for area in window.screen.areas:
                if area.type == "PREFERENCES":
                    area.tag_redraw()
        return 0.5
    _finish()
    return None


class TEXFORGE_OT_install_torch(bpy.types.Operator):
    """Install PyTorch into TexForge's own folder (needs online access; about 0.2 GB CPU, 3 GB CUDA)"""

    bl_idname = "texforge.install_torch"
    bl_label = "Install PyTorch"
    bl_options = {"INTERNAL"}

    variant: EnumProperty(name="Build", items=(
        ("CPU", "CPU", "The CPU-only build (smaller, works everywhere)"),
        ("CUDA", "CUDA", "The CUDA build for NVIDIA GPUs"),
    ), default="CPU")

    @classmethod
    def poll(cls, context):
        if not bpy.app.online_access:
            cls.poll_message_set("Online access is disabled. Enable Preferences > System > Network > "
                                 "Allow Online Access (or start Blender with --online-mode) to install PyTorch")
            return False
        if JOB.state == "running":
            cls.poll_message_set("A PyTorch install is already running")
            return False
        return True

    def execute(self, context):
        try:
            target = site_packages_dir(create=True)
        except ValueError:
            self.report({"ERROR"}, "PyTorch can only be installed by the installed TexForge extension; in a "
                                   "development checkout install it into the Python environment instead")
            return {"CANCELLED"}
        cmd = pip_command(self.variant, target, get_preferences(context).torch_index_url.strip())
        JOB.reset()
        JOB.state, JOB.variant = "running", self.variant
        if bpy.app.background:  # no timers in background mode: run to the end here
            JOB.run(cmd)
            _finish()
            if JOB.state != "done":
                self.report({"ERROR"}, JOB.summary() + ": " + " | ".join(JOB.tail(3)))
                return {"CANCELLED"}
            return {"FINISHED"}
        JOB.thread = threading.Thread(target=JOB.run, args=(cmd,), name="texforge-install-torch", daemon=True)
        JOB.thread.start()
        bpy.app.timers.register(_watch_job, first_interval=0.5)
        self.report({"INFO"}, f"Installing PyTorch ({self.variant}) into {target}; see the add-on preferences")
        return {"FINISHED"}


class TEXFORGE_OT_check_torch(bpy.types.Operator):
    """Import PyTorch again and list the devices it sees"""

    bl_idname = "texforge.check_torch"
    bl_label = "Check PyTorch"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        torch_status.reset()
        status = torch_status.probe(force=True)
        self.report({"INFO"} if status.available else {"WARNING"}, status.lines()[0])
        return {"FINISHED"}


CLASSES = (TEXFORGE_OT_install_torch, TEXFORGE_OT_check_torch)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register():
    add_site_dir()
    _register_classes()


def unregister():
    JOB.stop()
    if bpy.app.timers.is_registered(_watch_job):
        bpy.app.timers.unregister(_watch_job)
    _unregister_classes()
    try:
        path = site_packages_dir(create=False)
    except ValueError:
        return
    torch_file = getattr(sys.modules.get("torch"), "__file__", None) or ""
    if path in sys.path and not torch_file.startswith(path):  # keep it while a torch loaded from it is in use
        sys.path.remove(path)
