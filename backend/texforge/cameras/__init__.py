"""Cameras around an object: where the object is (placement), gauge-fixed per-view corrections a fit
optimises (rig), camera layouts and look-at poses (layouts), numpy rotation helpers on scipy
(rotations). The camera model itself (K, R, t) is :class:`texforge.render.camera.Cameras`."""
