"""Cameras a fit optimises: where the object is (placement) and gauge-fixed per-view corrections
(rig). The camera model itself (K, R, t) is :class:`texforge.render.camera.Cameras`; the numpy camera
geometry they build on is :mod:`texforge.geometry`."""
