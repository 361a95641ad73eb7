"""Add-on preferences: PyTorch status and install, compute device, default preset, cache and models folders.

Drawing the preferences is the one place (besides operators) where torch is really imported, once,
through ``torch_status.probe()``; a failed import is shown as text. Helpers for other modules:
``get_preferences(context)``, ``resolve_device(context)``, ``cache_folder(context)``; the models folder itself is
``runtime.category_models.models_folder`` (scene properties list models through it).
"""

from __future__ import annotations

import os
import tempfile

import bpy
from bpy.app.handlers import persistent
from bpy.props import EnumProperty, StringProperty

from ..runtime import torch_install, torch_status
from .properties import PRESET_ITEMS

DEVICE_ITEMS = (
    ("AUTO", "Auto", "CUDA when PyTorch sees a GPU, else CPU"),
    ("CUDA", "CUDA", "Always the first CUDA GPU (an error when there is none)"),
    ("CPU", "CPU", "Always the CPU"),
)

_ADDON = __package__.rpartition(".")[0]  # "addon" in a checkout, "bl_ext.<repository>.texforge" installed


def get_preferences(context=None) -> "TexForgePreferences":
    context = context or bpy.context
    return context.preferences.addons[_ADDON].preferences


def _apply_default_preset(scenes) -> None:
    """Give scenes whose preset was never chosen the preferences' default."""
    try:
        default = get_preferences().default_preset
    except (KeyError, AttributeError):  # add-on not (yet) registered in the preferences
        return
    for scene in scenes:
        props = getattr(scene, "texforge", None)
        if props is not None and not props.is_property_set("preset") and props.preset != default:
            props.preset = default


def _on_default_preset(self, context):
    _apply_default_preset(bpy.data.scenes)


@persistent
def _on_load_post(_filepath=None, *_args):
    _apply_default_preset(bpy.data.scenes)


class TexForgePreferences(bpy.types.AddonPreferences):
    bl_idname = _ADDON

    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default="AUTO",
                         description="Where TexForge runs its models (scenes may override it)")
    default_preset: EnumProperty(name="Default Preset", items=PRESET_ITEMS, default="small",
                                 update=_on_default_preset,
                                 description="Preset given to scenes that have not chosen one")
    cache_dir: StringProperty(name="Cache Folder", subtype="DIR_PATH", default="",
                              description="Trained models and intermediate files (empty: the extension's "
                                          "own user folder)")
    models_dir: StringProperty(name="Models Folder", subtype="DIR_PATH", default="",
                               description="Category models (Train Category Model writes MODELS/<name>/, Generate "
                                           "Objects lists them); empty: the extension's own user folder")
    torch_index_url: StringProperty(name="Wheel Index (CUDA)", default="",
                                    description="Optional package index for the CUDA build of PyTorch (e.g. a "
                                                "download.pytorch.org/whl/cuXXX index on Windows); empty uses "
                                                "PyPI, whose Linux wheels are CUDA builds")

    def draw(self, context):
        layout = self.layout
        draw_torch_status(layout.box(), self)
        col = layout.column()
        col.use_property_split = True
        col.prop(self, "device")
        col.prop(self, "default_preset")
        col.prop(self, "cache_dir")
        col.prop(self, "models_dir")


def draw_torch_status(layout, prefs=None) -> None:
    """PyTorch's state (version, devices, or why it is missing) and the install buttons, into ``layout``."""
    status = torch_status.probe()  # the real import happens here, once, and is cached
    head = layout.row()
    head.label(text="PyTorch", icon="CHECKMARK" if status.available else "ERROR")
    head.operator("texforge.check_torch", text="Check Again", icon="FILE_REFRESH")
    col = layout.column(align=True)
    for line in status.lines():
        col.label(text=line)
    if not status.available:
        col.label(text=torch_status.INSTALL_HINT)
        if not bpy.app.online_access:
            col.label(text="Online access is disabled: enable Preferences > System > Network > "
                           "Allow Online Access to install PyTorch here", icon="INFO")
        row = layout.row()
        op = row.operator("texforge.install_torch", text="Install PyTorch (CPU)", icon="IMPORT")
        op.variant = "CPU"
        op = row.operator("texforge.install_torch", text="Install PyTorch (CUDA)", icon="IMPORT")
        op.variant = "CUDA"
        if prefs is not None:
            layout.prop(prefs, "torch_index_url")
    job = torch_install.JOB
    if job.state != "idle":
        col = layout.column(align=True)
        col.label(text=job.summary(), icon="TIME" if job.state == "running" else "INFO")
        for line in job.tail(4):
            col.label(text=line)


def resolve_device(context=None) -> str:
    """'cuda' or 'cpu' for this scene: scene override, else the preferences; probes torch.

    Raises RuntimeError with a readable message when torch is missing or CUDA was asked for but absent.
    """
    context = context or bpy.context
    choice = get_preferences(context).device
    scene_choice = getattr(getattr(context.scene, "texforge", None), "device", "PREFERENCES")
    if scene_choice != "PREFERENCES":
        choice = scene_choice
    status = torch_status.probe()
    if not status.available:
        raise RuntimeError(f"{status.error}. {torch_status.INSTALL_HINT}")
    if choice == "CPU":
        return "cpu"
    if choice == "CUDA" and not status.has_cuda:
        raise RuntimeError(f"Device CUDA was chosen but PyTorch {status.version} sees no CUDA GPU "
                           f"({', '.join(status.devices)}); choose Auto or CPU")
    return "cuda" if status.has_cuda else "cpu"


def cache_folder(context=None) -> str:
    """The cache folder (created): the preferences' choice, else the extension's user folder."""
    chosen = get_preferences(context).cache_dir
    path = bpy.path.abspath(chosen) if chosen else ""
    if not path:
        try:
            path = bpy.utils.extension_path_user(_ADDON, path="cache", create=True)
        except ValueError:  # a development checkout is not an extension
            path = os.path.join(tempfile.gettempdir(), "texforge-cache")
    os.makedirs(path, exist_ok=True)
    return path


CLASSES = (TexForgePreferences,)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register():
    _register_classes()
    bpy.app.handlers.load_post.append(_on_load_post)
    if isinstance(bpy.data, bpy.types.BlendData):  # restricted while Blender itself starts up
        _apply_default_preset(bpy.data.scenes)


def unregister():
    if _on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load_post)
    _unregister_classes()


def job_device(context) -> str:
    """:func:`resolve_device`, also where the add-on was registered without its preferences entry (tests
    that call register()): then the scene's override, else CUDA when torch sees it."""
    try:
        return resolve_device(context)
    except KeyError:
        import torch
        choice = getattr(context.scene.texforge, "device", "PREFERENCES")
        if choice == "CPU" or not torch.cuda.is_available():
            return "cpu"
        return "cuda"
