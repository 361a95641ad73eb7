"""texforge.flat_preview: show the result's texture as it is, without the scene's lights.

The texture is made from the photos, so it already holds their lighting (baked lighting). Lit again by
the scene, the result looks dark wherever the scene's light is dim, for example from behind. This
operator changes only how the 3D Views draw (Solid shading, Flat lighting, Texture colour), never the
material, so what Export Game Asset writes stays the same.
"""

from __future__ import annotations

import bpy


def set_flat_preview(shading) -> None:
    """Make a ``View3DShading`` draw textures unlit."""
    shading.type = "SOLID"
    shading.light = "FLAT"
    shading.color_type = "TEXTURE"


def view3d_spaces(screen) -> list:
    return [space for area in (screen.areas if screen else ()) if area.type == "VIEW_3D"
            for space in area.spaces if space.type == "VIEW_3D"]


class TEXFORGE_OT_flat_preview(bpy.types.Operator):
    """Show textures unlit in this screen's 3D Views (Solid, Flat lighting, Texture colour): the photos'
    lighting is already in the texture"""

    bl_idname = "texforge.flat_preview"
    bl_label = "Unlit Preview"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        if not view3d_spaces(context.screen):
            cls.poll_message_set("Needs a 3D View")
            return False
        return True

    def execute(self, context):
        for space in view3d_spaces(context.screen):
            set_flat_preview(space.shading)
        for area in context.screen.areas:
            area.tag_redraw()
        self.report({"INFO"}, "TexForge: 3D Views show textures unlit (Solid, Flat, Texture)")
        return {"FINISHED"}


CLASSES = (TEXFORGE_OT_flat_preview,)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
