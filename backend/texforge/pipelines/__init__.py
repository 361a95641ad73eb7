"""One subpackage per method; each takes arrays, a config dataclass and progress / should_stop callbacks.

A pipeline composes the shared layers and never imports another pipeline (tests/test_layers.py):
errors, progress throttling, cancellation, determinism and timings from ``texforge.runtime``; the
result folder from ``texforge.results``; UV rasterisation, photo-to-UV projection and inpainting from
``texforge.texture``; placement, the gauge-fixed camera rig, layouts and rotations from
``texforge.cameras``; the learnable meshes (offsets, deformation maps) from ``texforge.mesh.model``;
the optimisation loop, checkpoints, EMA and batches from ``texforge.training``.
"""
