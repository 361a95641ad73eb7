"""TexForge library: pure PyTorch / NumPy; it never imports bpy (the Blender side is the separate
package texforge_blender, in blender_tools/, which builds on this one).

Importing this package is cheap (no torch import); subpackages import torch when they are used.

Layers, lowest first; a package imports only from its own layer or lower ones, packages never import
each other in a cycle, and one pipeline never imports another (what two pipelines share moves down
into a shared layer). tests/test_layers.py enforces this.

1. runtime (errors, progress, cancel, determinism), atomic (atomic files / folders), results (the
   result-folder writer);
2. geometry: camera conventions, rotations and layouts in plain numpy (no torch: Blender without
   PyTorch imports it);
3. render, mesh, data, nets, losses, metrics, texture, cameras: the building blocks;
4. training (loop, checkpoints, EMA), eval (evaluation as a library), models (trained category models:
   the model folder and its networks, shared by the pipelines that train and use them);
5. pipelines (one subpackage per method: multiview, texture_gan, category, inversion).
"""

__version__ = "0.1.0"
