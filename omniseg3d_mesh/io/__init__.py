"""Readers and writers at the boundary: geometry, cameras, masks, exported parts."""
