"""Blender data <-> the library's plain arrays, main thread only: selected cameras and their photos in,
reconstruction results (objects, materials, cameras) out. Camera math is in ``texforge_blender.camera``."""
