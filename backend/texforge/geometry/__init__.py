"""Camera geometry in plain numpy (no torch, no bpy): conventions and conversions between Blender,
transforms.json and OpenCV (camera_convert), rotations on scipy (rotations), camera layouts and look-at
poses (layouts). Importable in a Blender without PyTorch."""
