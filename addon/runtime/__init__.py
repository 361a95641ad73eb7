"""Code that runs the backend from Blender: worker-thread jobs and the PyTorch availability check.
Nothing here draws UI or registers operators."""
