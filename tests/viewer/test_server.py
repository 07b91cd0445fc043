"""The viser server on loopback: answers HTTP, GUI callbacks drive the controller, stops cleanly;
and an end-to-end page load in headless Chromium (skipped without a chromium binary)."""

from __future__ import annotations

import argparse
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest

from omniseg3d_mesh.viewer.state import ViewerState
from tests.helpers.tools import load_tool

pytest.importorskip("viser")


def _screenshot_tool():
    return load_tool("screenshot_viewer")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def app(demo_ws):
    from omniseg3d_mesh.viewer.app import ViewerApp

    ws, _ = demo_ws
    before = set(threading.enumerate())
    a = ViewerApp(ViewerState.from_workspace(ws), host="127.0.0.1", port=0)
    yield a
    a.stop()
    deadline = time.time() + 10
    while time.time() < deadline and [t for t in threading.enumerate() if t not in before and not t.daemon]:
        time.sleep(0.1)
    left = [t for t in threading.enumerate() if t not in before and not t.daemon]
    assert not left, f"threads left running after stop: {left}"
    assert not _port_open(a.port)


def test_server_answers_http_and_gui_drives_the_state(app, demo_ws):
    _, gt = demo_ws
    html = urllib.request.urlopen(f"http://127.0.0.1:{app.port}/", timeout=10).read().decode()
    assert "<html" in html.lower()
    assert app.url == f"http://localhost:{app.port}"
    # a click ray straight down onto the green box (object 3) selects its lid part
    v = app.handle_click((0.9, 0.6, 5.0), (0.0, 0.0, -1.0))
    assert v is not None and gt["object"][v] == 3
    np.testing.assert_array_equal(app.state.selection(), gt["part"] == gt["part"][v])
    # the threshold slider (a GUI value set here runs the same callback as the browser's)
    app.g_threshold.value = float(app.state.steps[1].threshold)
    assert app.state.step == 1
    np.testing.assert_array_equal(app.state.selection(), gt["object"] == 3)
    # region growing checkbox and display dropdown
    app.g_grow.value = False
    assert app.state.grow is False
    app.g_mode.value = "score heat map"
    assert app.state.mode == "scores"
    # a click on the background hits nothing
    assert app.handle_click((0.0, 0.0, 5.0), (0.0, 0.0, 1.0)) is None
    # shift-click equivalent: a second object in the multi-selection
    app.handle_click((-1.0, -0.4, 5.0), (0.0, 0.0, -1.0), kind="new object (multi)")
    assert len(app.state.groups) == 1
    # the discretize panel
    app.g_min_size.value = 20
    app._discretize()
    assert app.state.mode == "parts" and app.state.parts is not None
    assert len(app._frusta) == len(app.state.cameras) == 8  # the demo's cameras.json
    app.g_cameras.value = True
    assert all(h.visible for h in app._frusta)


def test_points_transport_and_glb(demo_ws):
    import trimesh

    from omniseg3d_mesh.viewer.app import ViewerApp, encode_glb

    ws, _ = demo_ws
    st = ViewerState.from_workspace(ws)
    a = ViewerApp(st, port=0, transport="points")
    try:
        assert a.transport == "points"
        a.state.click(0)
        a.push_colors()
        np.testing.assert_array_equal(a._points_handle.colors, st.colors())
    finally:
        a.stop()
    cloud = ViewerApp(ViewerState(st.features, st.vertices, None, None), port=0)  # a point cloud
    try:
        assert cloud.transport == "points" and cloud._mesh_handle is None
        v = cloud.handle_click((0.9, 0.6, 5.0), (0.0, 0.0, -1.0))
        assert v is not None and cloud.state.selection()[v]
    finally:
        cloud.stop()
    glb = encode_glb(st.vertices, st.faces, st.colors("original"))
    mesh = trimesh.load(trimesh.util.wrap_as_stream(glb), file_type="glb", force="mesh", process=False)
    assert len(mesh.vertices) == st.num_vertices and len(mesh.faces) == len(st.faces)
    np.testing.assert_allclose(np.asarray(mesh.vertices), st.vertices, atol=1e-6)


def test_serve_refuses_remote_hosts_without_permission(demo_ws):
    from omniseg3d_mesh.viewer.app import ViewerApp, is_loopback, serve

    ws, _ = demo_ws
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    with pytest.raises(ValueError, match="refusing to serve on 0.0.0.0: the viewer has no authentication"):
        serve(ws, host="0.0.0.0", block=False)
    with pytest.raises(ValueError, match="unknown colour transport 'gif': expected auto, glb or points"):
        ViewerApp(ViewerState.from_workspace(ws), port=0, transport="gif")


def test_cli_view(demo_ws, monkeypatch, tmp_path):
    from omniseg3d_mesh.cli import main
    from omniseg3d_mesh.cli import view as view_cmd
    from omniseg3d_mesh.viewer.app import ViewerApp

    ws, _ = demo_ws
    served = []
    monkeypatch.setattr(ViewerApp, "wait", lambda self: (served.append(self.port), self.stop()))
    assert main(["view", "--workspace", str(ws.root), "--port", "0"]) == 0
    assert served and not _port_open(served[0])
    assert main(["view", "--demo", str(tmp_path / "demo"), "--port", "0"]) == 0  # writes and serves a demo workspace
    assert (tmp_path / "demo" / "field.npz").is_file() and len(served) == 2
    p = argparse.ArgumentParser()
    view_cmd.add_arguments(p)
    args = p.parse_args(["--workspace", str(ws.root), "--host", "0.0.0.0"])
    with pytest.raises(ValueError, match="refusing to bind 0.0.0.0: the viewer has no authentication"):
        view_cmd.run(args)
    with pytest.raises(SystemExit):
        main(["view", "--workspace", str(ws.root), "--host", "0.0.0.0"])


chromium = _screenshot_tool().find_chromium()


@pytest.mark.skipif(chromium is None, reason="no chromium binary (apt-get install chromium)")
def test_chromium_loads_the_page(app, tmp_path):
    """Headless Chromium (only ever talking to 127.0.0.1) renders the GUI and the mesh."""
    from PIL import Image

    tool = _screenshot_tool()
    shot = tmp_path / "shot.png"
    # one real click in the browser on the floor in front of the boxes -> a selection on the server
    text = tool.capture(
        chromium, f"http://127.0.0.1:{app.port}/", shot, settle_s=2.0, timeout_s=180, clicks=[(500, 650)]
    )
    assert len(app.state.clicks) == 1 and app.state.selection().any()
    assert "Threshold" in text and "Region growing" in text and "Show cameras" in text
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (800, 1280)
    # the mesh sits in the middle of the canvas: many non-background pixels there
    centre = img[250:550, 300:800]
    background = np.median(img[700:790, 100:300].reshape(-1, 3), axis=0)
    assert (np.abs(centre - background).sum(axis=2) > 40).mean() > 0.05, "the mesh was not drawn"
