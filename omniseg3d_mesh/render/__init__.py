"""Pixel -> vertex correspondences ("fragments") for every view."""
