"""Sidebar sub-panel of the category models (child of TEXFORGE_PT_main): train a model from a folder, a
collection or a procedural family (progress bar with time left and Cancel while it runs), the models
found in the Models Folder with their finished stages, and Generate Objects.
Drawing reads only cheap state: model.json files, no torch.
"""

from __future__ import annotations

import bpy

from ..runtime import category_models
from ..runtime import job as job_mod
from .panels import SidebarPanel

CATEGORY_JOBS = ("train category model", "generate objects")  # the labels of their jobs


class TEXFORGE_PT_category(SidebarPanel, bpy.types.Panel):
    bl_idname = "TEXFORGE_PT_category"
    bl_label = "Category Models"
    bl_parent_id = "TEXFORGE_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        props = context.scene.texforge
        job = job_mod.active_job()
        if job is not None and not job.done and job.label in CATEGORY_JOBS:
            layout.progress(factor=job.fraction, type="BAR", text=job.status_text())
            row = layout.row()
            row.enabled = not job.cancel_requested
            row.operator("texforge.cancel_job", text="Cancel (Esc)", icon="CANCEL")

        box = layout.box()
        box.label(text="Train", icon="MOD_ARRAY")
        col = box.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.prop(props, "category_source")
        if props.category_source == "FOLDER":
            col.prop(props, "category_folder")
        elif props.category_source == "COLLECTION":
            col.prop(props, "category_collection")
        else:
            col.prop(props, "category_generator")
            col.prop(props, "category_objects")
        col.prop(props, "category_views")
        col.prop(props, "category_size")
        col.prop(props, "category_preset")
        col.prop(props, "category_model_name")
        col.prop(props, "category_resume")
        box.operator("texforge.train_category_model", icon="PLAY")

        folder = category_models.models_folder(context)
        models = category_models.list_models(folder)
        box = layout.box()
        box.label(text=f"Models ({len(models)})", icon="FILE_FOLDER")
        col = box.column(align=True)
        if not models:
            col.label(text="None yet in the Models Folder (add-on preferences)")
        for m in models:
            row = col.row()
            row.label(text=m.name, icon="CHECKMARK" if m.can_generate else ("ERROR" if m.problem else "TIME"))
            row.label(text=m.summary())

        box = layout.box()
        box.label(text="Generate", icon="OUTLINER_OB_MESH")
        col = box.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.prop(props, "generate_model")
        col.prop(props, "generate_seed")
        col.prop(props, "generate_interpolate")
        if props.generate_interpolate:
            col.prop(props, "generate_seed_to")
            col.prop(props, "generate_steps")
        else:
            col.prop(props, "generate_count")
        box.operator("texforge.generate_object", icon="ADD")


CLASSES = (TEXFORGE_PT_category,)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
