"""Differentiable rendering: DIB-R rasterizer with kaolin's semantics, cameras, texture sampling."""
