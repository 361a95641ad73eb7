"""TexForge backend: pure PyTorch / NumPy, never imports bpy.

Importing this package is cheap (no torch import); subpackages import torch when they are used.
Inside the built Blender extension this package lives at ``<extension>.backend``, so every import
inside it is relative.
"""

__version__ = "0.1.0"
