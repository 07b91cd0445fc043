"""The interactive web viewer: a framework-free controller (:mod:`.state`) and the viser app (:mod:`.app`).

Importing this package stays light (numpy only); viser is imported when the app starts.
"""

from .state import DISPLAY_MODES, HierarchyStep, ViewerClick, ViewerState

__all__ = ["DISPLAY_MODES", "HierarchyStep", "ViewerClick", "ViewerState", "serve"]


def serve(*args, **kwargs):
    """Start the viewer server (see :func:`omniseg3d_mesh.viewer.app.serve`)."""
    from .app import serve as _serve

    return _serve(*args, **kwargs)
