"""Pixel -> vertex correspondences ("fragments") for every view, and what is drawn through them.

:mod:`.fragments` is the contract and cache, with the backends :mod:`.raycast` (CPU),
:mod:`.nvdiffrast` (GPU) and :mod:`.points` (splats); :mod:`.labels` renders labels,
scores and feature colours onto the views; :mod:`.coverage` checks that cameras and
geometry fit together.
"""
