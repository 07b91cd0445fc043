"""Mask generation: Segment Anything's automatic mask generator (``masks.sam``).

Reading and writing masks lives in :mod:`omniseg3d_mesh.io.masks`. Importing this
package is cheap: torch and segment-anything load when a function needs them.
"""

from omniseg3d_mesh.masks.sam import build_tiny_sam, ensure_masks, generate_masks, load_sam_model

__all__ = ["generate_masks", "ensure_masks", "load_sam_model", "build_tiny_sam"]
