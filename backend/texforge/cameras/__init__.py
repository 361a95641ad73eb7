"""Cameras beyond the renderer's ``Cameras`` batch: conversions between Blender, transforms.json and
the OpenCV convention (``convert``, numpy only, importable without torch)."""
