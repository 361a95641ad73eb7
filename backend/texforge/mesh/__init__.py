"""Mesh templates, deformation, regularisers and mesh I/O."""
