"""Losses shared by every pipeline."""
