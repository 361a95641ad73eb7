"""Dataset loading (transforms.json), masks and image I/O."""
