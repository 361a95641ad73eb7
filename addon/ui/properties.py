"""Scene settings of TexForge: ``bpy.types.Scene.texforge`` (a TexForgeSceneProperties).

Add new settings as annotations in the class body, grouped by workflow under a comment; keep
defaults that work on a CPU (the ``small`` preset). Settings that belong to the machine rather than the
scene (device, cache folder) live in the add-on preferences; ``device`` here only overrides them.
"""

from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)
from texforge.data.working_size import DEFAULT_MAX_SIZE

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


# keys of texforge.pipelines.multiview.config.CAMERA_TRUST (a test keeps them equal)
CAMERA_TRUST_ITEMS = (
    ("calibrated", "Calibrated", "Cameras from COLMAP or a photogrammetry tool: they move only within a tight prior"),
    ("approximate", "Approximate", "Cameras that are about right: the fit corrects them"),
    ("rough", "Rough", "Cameras placed by hand or a turntable rig: a looser prior lets the fit move them further"),
)

MASK_SOURCE_ITEMS = (
    ("AUTO", "Auto", "The photo's alpha channel when it has transparent pixels, else a background-colour model"),
    ("ALPHA", "Alpha Channel", "Use the photo's alpha channel as the object mask (cut-out photos, renders)"),
    ("BACKGROUND", "Background Colour", "Estimate a plain backdrop colour from the photo's border; pixels that "
                                        "differ from it are the object"),
    ("SEGMENT", "Automatic Segmentation", "Any background: colour models seeded by where the cameras look, "
                                          "made consistent across the views (photos without alpha or masks)"),
)


def _show_material_slot(props, context) -> None:
    """Shown Slot changed: every face of the active mesh shows that material slot (0: its own material).
    Only the faces' slot index changes, never a material or an image, and Ctrl-Z undoes it."""
    obj = context.active_object
    if obj is None or obj.type != "MESH" or not obj.data.materials:
        return
    slot = min(props.texture_shown_slot, len(obj.data.materials) - 1)
    obj.data.polygons.foreach_set("material_index", [slot] * len(obj.data.polygons))
    obj.data.update()


class TexForgeViewResult(bpy.types.PropertyGroup):
    """One input view of the last multi-view reconstruction (``name`` = the source camera's name)."""

    camera: PointerProperty(name="Camera", type=bpy.types.Object, description="The input camera")
    corrected: PointerProperty(name="Corrected", type=bpy.types.Object,
                               description="The new camera at the corrected pose (None when pruned)")
    iou: FloatProperty(name="IoU", default=-1.0, description="Silhouette IoU of the result in this view (-1: n/a)")
    psnr: FloatProperty(name="PSNR", default=-1.0, description="PSNR (dB) of the result in this view (-1: n/a)")
    pruned: BoolProperty(name="Pruned", default=False, description="The view was left out of the final fit")
    reason: StringProperty(name="Reason", default="", description="Why the view was pruned")


class TexForgeSceneProperties(bpy.types.PropertyGroup):
    """Per-scene TexForge settings (saved in the .blend)."""

    # --- general ---
    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="small",
                         description="Size of the optimisation: quick on a CPU, or paper scale on a GPU")
    device: EnumProperty(name="Device", items=DEVICE_OVERRIDE_ITEMS, default="PREFERENCES",
                         description="Where the models run (overrides the add-on preferences for this scene)")
    output_dir: StringProperty(name="Output Folder", subtype="DIR_PATH", default="//texforge/",
                               description="Each run writes a new sub-folder here (mesh.glb, texture.png, "
                                           "result.json); existing files are never overwritten. Relative to "
                                           "the .blend: while it is unsaved, nothing is written")

    # --- multi-view workflow (addon/scene_inputs.py, addon/ops_reconstruct.py) ---
    mask_source: EnumProperty(name="Mask Source", items=MASK_SOURCE_ITEMS, default="AUTO",
                              description="Where the object's outline in each photo comes from")
    camera_trust: EnumProperty(name="Camera Trust", items=CAMERA_TRUST_ITEMS, default="approximate",
                               description="How far the reconstruction may move the cameras")
    max_image_size: IntProperty(name="Working Size", default=DEFAULT_MAX_SIZE, min=32, max=8192, subtype="PIXEL",
                                description="Photos are scaled down so that their longest side is at most "
                                            "this many pixels before reconstruction")
    views: CollectionProperty(type=TexForgeViewResult, name="Views",
                              description="Per-view figures of the last reconstruction")
    views_index: IntProperty(name="Active View", default=0)
    result_object: PointerProperty(name="Result", type=bpy.types.Object,
                                   description="Mesh object made by the last reconstruction")
    result_collection: PointerProperty(name="Result Collection", type=bpy.types.Collection)
    result_summary: StringProperty(name="Summary", default="")

    # --- texture variations (addon/operators/texture_variations.py) ---
    texture_gan_preset: EnumProperty(name="GAN Preset", items=PRESET_ITEMS, default="small",
                                     description="Size of the texture GAN: a 64x128 texture on a CPU (minutes), "
                                                 "or 512x512 on a GPU")
    texture_gan_iterations: IntProperty(name="Iterations", default=0, min=0, max=1000000,
                                        description="Generator steps (0: the preset's). A trained GAN of the same "
                                                    "settings is reused; more iterations continue its training")
    texture_gan_variations: IntProperty(name="Variations", default=4, min=0, max=64,
                                        description="How many variation textures to add besides the best texture")
    texture_gan_seed: IntProperty(name="Variation Seed", default=0, min=0,
                                  description="Seeds the variations: another seed gives new variations from the "
                                              "same trained GAN without training again")
    texture_shown_slot: IntProperty(name="Shown Slot", default=0, min=0, max=1024, update=_show_material_slot,
                                    description="Which material slot the active mesh's faces show: 0 its own "
                                                "material, 1 and up the added best texture and variations")


CLASSES = (TexForgeViewResult, TexForgeSceneProperties)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register():
    _register_classes()
    bpy.types.Scene.texforge = bpy.props.PointerProperty(type=TexForgeSceneProperties)


def unregister():
    del bpy.types.Scene.texforge
    _unregister_classes()
