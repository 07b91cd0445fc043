"""A small demo workspace (floor + 4 boxes, synthetic hierarchical field from GT labels)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    from omniseg3d_mesh.viewer.demo import make_demo_workspace

    ws = make_demo_workspace(tmp_path_factory.mktemp("viewer_ws") / "ws", resolution=1)
    with np.load(ws.root / "labels_gt.npz") as data:
        labels = {k: data[k] for k in data.files}
    return ws, labels


@pytest.fixture
def state(demo_ws):
    from omniseg3d_mesh.viewer.state import ViewerState

    ws, _ = demo_ws
    return ViewerState.from_workspace(ws)
