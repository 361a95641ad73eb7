"""Scene settings of TexForge: ``bpy.types.Scene.texforge`` (a TexForgeSceneProperties).

Add new settings as annotations in the class body, grouped by workflow under a comment; keep
defaults that work on a CPU (the ``small`` preset). Settings that belong to the machine rather than the
scene (device, cache folder) live in the add-on preferences; ``device`` here only overrides them.
"""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

PRESET_ITEMS = (
    ("small", "Small", "Few iterations at low resolution: a quick result on a CPU"),
    ("full", "Full", "Paper-scale settings: slow, meant for a CUDA GPU"),
)

DEVICE_OVERRIDE_ITEMS = (
    ("PREFERENCES", "From Preferences", "Use the device chosen in the add-on preferences"),
    ("AUTO", "Auto", "CUDA when PyTorch sees a GPU, else CPU"),
    ("CUDA", "CUDA", "Run on the first CUDA GPU"),
    ("CPU", "CPU", "Run on the CPU"),
)


class TexForgeSceneProperties(bpy.types.PropertyGroup):
    """Per-scene TexForge settings (saved in the .blend)."""

    # --- general ---
    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="small",
                         description="Size of the optimisation: quick on a CPU, or paper scale on a GPU")
    device: EnumProperty(name="Device", items=DEVICE_OVERRIDE_ITEMS, default="PREFERENCES",
                         description="Where the models run (overrides the add-on preferences for this scene)")
    output_dir: StringProperty(name="Output Folder", subtype="DIR_PATH", default="//texforge/",
                               description="Each run writes a new sub-folder here (mesh.glb, texture.png, "
                                           "result.json); existing files are never overwritten")


CLASSES = (TexForgeSceneProperties,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.texforge = bpy.props.PointerProperty(type=TexForgeSceneProperties)


def unregister():
    del bpy.types.Scene.texforge
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
