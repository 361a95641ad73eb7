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

from ..runtime import category_models

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


CATEGORY_SOURCE_ITEMS = (
    ("FOLDER", "Folder of Meshes", "Every OBJ / glTF / GLB / PLY / .blend file of a folder is one object"),
    ("COLLECTION", "Scene Collection", "Every mesh object of a collection in this file is one object (with its "
                                       "image textures)"),
    ("PROCEDURAL", "Procedural", "Random variations of a built-in shape family with random textures"),
)

# texforge.mesh.procedural.GENERATORS (a test keeps them equal; the add-on registers without torch)
PROCEDURAL_ITEMS = (
    ("vase", "Vases", "Lathed vase profiles with random smooth deformations and patterned textures"),
    ("bottle", "Bottles", "Bottles with necks and labels, randomly deformed and coloured"),
)

# texforge.models.category_config.CategoryConfig presets
CATEGORY_PRESET_ITEMS = (
    ("tiny", "Tiny", "A check that the set-up works: seconds to minutes, rough objects"),
    ("small", "Small", "64 px renders and networks sized for a CPU (hours for a few hundred objects)"),
    ("full", "Full", "Paper-scale networks: meant for a CUDA GPU"),
)


def _model_names(self, context, edit_text):
    return [m.name for m in category_models.list_models(category_models.models_folder(context))
            if edit_text.lower() in m.name.lower()]


# the modes of texforge.pipelines.inversion.single_image.MODES
SINGLE_MODE_ITEMS = (
    ("inversion", "Inversion", "Search the category GAN's latent space and the camera to match the photo "
                               "(the unseen side comes from the model)"),
    ("encoder", "Encoder Preview", "The model's reconstruction network alone: one pass, a preview in seconds"),
)


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
    refine_focal: BoolProperty(name="Refine Focal Lengths", default=False,
                               description="Correct each camera's focal length too (not for calibrated cameras): "
                                           "for lenses that are guesses or come from EXIF. Where they are exact "
                                           "it costs a little quality")
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

    # --- category models (operators/train_category.py, operators/generate_object.py) ---
    category_source: EnumProperty(name="Source", items=CATEGORY_SOURCE_ITEMS, default="PROCEDURAL",
                                  description="Where the objects the model learns from come from")
    category_folder: StringProperty(name="Mesh Folder", subtype="DIR_PATH", default="",
                                    description="A folder of meshes of one category (read, never changed)")
    category_collection: PointerProperty(name="Collection", type=bpy.types.Collection,
                                         description="A collection whose mesh objects are the category's "
                                                     "examples (exported to the model's work folder, unchanged)")
    category_generator: EnumProperty(name="Generator", items=PROCEDURAL_ITEMS, default="vase",
                                     description="The procedural shape family")
    category_objects: IntProperty(name="Objects", default=250, min=2, max=100000,
                                  description="How many procedural objects to render (a fifth are held out "
                                              "for evaluation)")
    category_views: IntProperty(name="Views", default=8, min=1, max=256,
                                description="Rendered views per object, from random directions and lights")
    category_size: IntProperty(name="Image Size", default=64, min=16, max=1024, subtype="PIXEL",
                               description="Rendered image size; the small preset trains on 64 px")
    category_preset: EnumProperty(name="Preset", items=CATEGORY_PRESET_ITEMS, default="small",
                                  description="Size of the networks and of their training")
    category_model_name: StringProperty(name="Model Name", default="my_category",
                                        description="The new model is saved as MODELS/<name>/ in the Models "
                                                    "Folder of the add-on preferences")
    category_resume: BoolProperty(name="Resume", default=False,
                                  description="Continue the model of this name from its last checkpoint "
                                              "(and its rendered collection) instead of starting a new one")
    generate_model: StringProperty(name="Model", default="", search=_model_names,
                                   description="The category model that generates the new objects")
    generate_seed: IntProperty(name="Seed", default=0, min=0,
                               description="The first object's seed: a seed always gives the same object")
    generate_count: IntProperty(name="Count", default=4, min=1, max=256,
                                description="How many objects, with seeds Seed, Seed + 1, ...")
    generate_interpolate: BoolProperty(name="Interpolate", default=False,
                                       description="Objects on the way from one seed's object to another's "
                                                   "instead of Count separate seeds")
    generate_seed_to: IntProperty(name="To Seed", default=1, min=0, description="The interpolation's last seed")
    generate_steps: IntProperty(name="Steps", default=5, min=2, max=256,
                                description="Objects along the interpolation, both ends included")
    # --- single-image workflow (addon/operators/reconstruct_single.py, addon/operators/swap.py) ---
    single_image_path: StringProperty(name="Image", subtype="FILE_PATH", default="",
                                      description="The photo; empty: the active camera's background image, "
                                                  "with that camera (object at the world origin)")
    single_model_dir: StringProperty(name="Category Model", subtype="DIR_PATH", default="",
                                     description="A category model folder made by scripts/train_category.py")
    single_mode: EnumProperty(name="Mode", items=SINGLE_MODE_ITEMS, default="inversion",
                              description="GAN inversion, or the encoder alone for a preview in seconds")


CLASSES = (TexForgeViewResult, TexForgeSceneProperties)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register():
    _register_classes()
    bpy.types.Scene.texforge = bpy.props.PointerProperty(type=TexForgeSceneProperties)


def unregister():
    del bpy.types.Scene.texforge
    _unregister_classes()
