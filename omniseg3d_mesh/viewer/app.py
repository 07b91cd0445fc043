"""The web viewer (viser): the mesh or point cloud with vertex colours, clicks, GUI.

Everything the GUI does is a call on :class:`~omniseg3d_mesh.viewer.state.ViewerState`;
this module only maps browser events onto it and sends colours back.

Colour transport (viser 1.1 meshes take one colour, so vertex colours travel in a GLB):

* ``glb``: the mesh is a GLB whose positions, normals and triangles are encoded once;
  a colour change re-sends that GLB with the new colour buffer (simple, best looking,
  ~52 bytes per vertex per update).
* ``points``: the mesh is sent once in one shade, and the vertex colours ride on a
  point cloud drawn on its vertices, whose ``colors`` alone are updated (3 bytes per
  vertex per update): for big meshes over a slow link.
* ``auto``: ``glb`` up to 300k vertices, else ``points``. Point clouds always use points.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._deps import require
from ..workspace import Workspace
from .state import DISPLAY_MODES, ViewerState

__all__ = ["ViewerApp", "serve", "encode_glb", "is_loopback", "GLB_MAX_VERTICES"]

log = logging.getLogger(__name__)

GLB_MAX_VERTICES = 300_000
"""``auto`` colour transport switches from GLB to a point-cloud overlay above this."""

CLICK_MODES = ("select", "add click", "exclude (negative)", "new object (multi)")

_MODE_LABELS = {
    "original": "original colours",
    "pca": "feature PCA",
    "scores": "score heat map",
    "selection": "selection / multi-selection",
    "parts": "discovered parts",
}


def is_loopback(host: str) -> bool:
    """True when ``host`` only binds the local machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- GLB encoding
def _srgb_to_linear_u16() -> np.ndarray:
    c = np.arange(256) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return np.round(lin * 65535).astype(np.uint16)


_SRGB_LUT = _srgb_to_linear_u16()


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    v = vertices.astype(np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])  # area-weighted
    n = np.zeros_like(v)
    for k in range(3):
        for c in range(3):
            n[:, c] += np.bincount(faces[:, k], weights=fn[:, c], minlength=len(v))
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(norm > 1e-20, n / np.maximum(norm, 1e-20), np.array([0.0, 0.0, 1.0]))
    return n.astype(np.float32)


class _GlbEncoder:
    """Builds GLB bytes of a vertex-coloured mesh; geometry is encoded once, colours per call."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        v = np.ascontiguousarray(vertices, np.float32)
        f = np.ascontiguousarray(faces, np.uint32)
        nrm = _vertex_normals(v, faces)
        self.num_vertices = len(v)
        static = [v.tobytes(), nrm.tobytes(), f.tobytes()]
        offsets = np.cumsum([0] + [len(b) for b in static])
        color_bytes = 8 * len(v)  # RGBA u16 normalised
        total = int(offsets[-1]) + color_bytes
        views = [
            {"buffer": 0, "byteOffset": int(offsets[0]), "byteLength": len(static[0]), "target": 34962},
            {"buffer": 0, "byteOffset": int(offsets[1]), "byteLength": len(static[1]), "target": 34962},
            {"buffer": 0, "byteOffset": int(offsets[2]), "byteLength": len(static[2]), "target": 34963},
            {"buffer": 0, "byteOffset": int(offsets[3]), "byteLength": color_bytes, "target": 34962},
        ]
        accessors = [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": len(v),
                "type": "VEC3",
                "min": v.min(axis=0).tolist(),
                "max": v.max(axis=0).tolist(),
            },
            {"bufferView": 1, "componentType": 5126, "count": len(v), "type": "VEC3"},
            {"bufferView": 2, "componentType": 5125, "count": int(f.size), "type": "SCALAR"},
            {"bufferView": 3, "componentType": 5123, "normalized": True, "count": len(v), "type": "VEC4"},
        ]
        gltf = {
            "asset": {"version": "2.0", "generator": "omniseg3d_mesh viewer"},
            "scene": 0,
            "scenes": [{"nodes": [0]}],
            "nodes": [{"mesh": 0}],
            "meshes": [
                {
                    "primitives": [
                        {"attributes": {"POSITION": 0, "NORMAL": 1, "COLOR_0": 3}, "indices": 2, "material": 0}
                    ]
                }
            ],
            "materials": [
                {
                    "pbrMetallicRoughness": {
                        "baseColorFactor": [1, 1, 1, 1],
                        "metallicFactor": 0.0,
                        "roughnessFactor": 0.85,
                    },
                    "doubleSided": True,
                }
            ],
            "buffers": [{"byteLength": total}],
            "bufferViews": views,
            "accessors": accessors,
        }
        js = json.dumps(gltf, separators=(",", ":")).encode()
        js += b" " * (-len(js) % 4)
        length = 12 + 8 + len(js) + 8 + total
        self._prefix = b"".join(
            [
                struct.pack("<III", 0x46546C67, 2, length),
                struct.pack("<II", len(js), 0x4E4F534A),
                js,
                struct.pack("<II", total, 0x004E4942),
            ]
            + static
        )

    def encode(self, colors: np.ndarray) -> bytes:
        """GLB bytes with ``colors`` [V, 3] uint8 (sRGB) as the vertex colours."""
        rgba = np.empty((self.num_vertices, 4), np.uint16)
        rgba[:, :3] = _SRGB_LUT[np.asarray(colors, np.uint8)]
        rgba[:, 3] = 65535
        return self._prefix + rgba.tobytes()


def encode_glb(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray) -> bytes:
    """GLB (binary glTF 2.0) bytes of a triangle mesh with vertex colours.

    Args:
        vertices: [V, 3] float32. faces: [F, 3] int. colors: [V, 3] uint8 sRGB.
    """
    return _GlbEncoder(vertices, faces).encode(colors)


# --------------------------------------------------------------------------- the app
class ViewerApp:
    """A running viser server showing one :class:`ViewerState`.

    Args:
        state: the controller.
        host: address to bind (loopback by default).
        port: TCP port (0 = a free one).
        transport: ``auto`` | ``glb`` | ``points`` (see the module docstring).
    """

    def __init__(
        self,
        state: ViewerState,
        host: str = "127.0.0.1",
        port: int = 8080,
        transport: Literal["auto", "glb", "points"] = "auto",
    ):
        viser = require("viser", "the web viewer")
        if transport not in ("auto", "glb", "points"):
            raise ValueError(f"unknown colour transport {transport!r}: expected auto, glb or points")
        self.state = state
        self._lock = threading.RLock()
        self._syncing = False
        if port == 0:
            port = _free_port(host)
        self.server = viser.ViserServer(host=host, port=port, verbose=False)
        self.host, self.port = host, int(self.server.get_port())
        if state.faces is None:
            self.transport = "points"
        elif transport == "auto":
            self.transport = "glb" if state.num_vertices <= GLB_MAX_VERTICES else "points"
        else:
            self.transport = transport
        self._glb: _GlbEncoder | None = None
        self._mesh_handle: Any = None
        self._points_handle: Any = None
        self._frusta: list[Any] = []
        self._build_scene()
        self._build_gui()
        self._register_clicks()
        self.last_message = ""

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("127.0.0.1", "::1", "localhost") else self.host
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------------ scene
    def _build_scene(self) -> None:
        st = self.state
        lo, hi = st.vertices.min(axis=0), st.vertices.max(axis=0)
        self.extent = float(np.linalg.norm(hi - lo)) or 1.0
        self.center = (lo + hi) / 2
        scene = self.server.scene
        colors = st.colors()
        if self.transport == "glb":
            assert st.faces is not None  # the glb transport is chosen for meshes only
            glb = self._glb = _GlbEncoder(st.vertices, st.faces)
            self._mesh_handle = scene.add_glb(
                "/mesh", glb_data=glb.encode(colors), cast_shadow=False, receive_shadow=False
            )
        else:
            if st.faces is not None:
                self._mesh_handle = scene.add_mesh_simple(
                    "/mesh", st.vertices, st.faces, color=(120, 120, 125), cast_shadow=False, receive_shadow=False
                )
            spacing = self._point_spacing()
            self._points_handle = scene.add_point_cloud(
                "/points",
                st.vertices,
                np.ascontiguousarray(colors),
                point_size=spacing,
                point_shape="circle" if st.faces is None else "square",
                precision="float32",
                point_shading="flat",
            )
        for k, cam in enumerate(st.cameras):
            self._frusta.append(self._add_frustum(k, cam))
        self._set_initial_view()

    def _point_spacing(self) -> float:
        st = self.state
        if st.faces is not None:
            f = st.faces[: min(len(st.faces), 20000)]
            e = np.linalg.norm(st.vertices[f[:, 0]] - st.vertices[f[:, 1]], axis=1)
            return float(np.median(e)) * 1.3
        return self.extent / max(np.sqrt(st.num_vertices), 1.0) * 0.8

    def _add_frustum(self, k: int, cam: Any) -> Any:
        import viser.transforms as vtf

        c2w = np.asarray(cam.cam_to_world, np.float64)
        fov = 2.0 * np.arctan2(cam.height / 2.0, float(cam.K[1, 1]))
        return self.server.scene.add_camera_frustum(
            f"/cameras/{k:04d}",
            fov=float(fov),
            aspect=cam.width / cam.height,
            scale=0.04 * self.extent,
            thickness=0.002 * self.extent,
            color=(230, 120, 30),
            wxyz=vtf.SO3.from_matrix(c2w[:3, :3]).wxyz,
            position=c2w[:3, 3],
            visible=False,
        )

    def _set_initial_view(self) -> None:
        center = self.center
        eye = center + np.array([0.38, -0.92, 0.75]) * self.extent * 0.5

        @self.server.on_client_connect
        def _(client: Any) -> None:
            client.camera.up_direction = (0.0, 0.0, 1.0)
            client.camera.position = tuple(float(x) for x in eye)
            client.camera.look_at = tuple(float(x) for x in center)

    def push_colors(self) -> None:
        """Send the current display mode's colours to the browsers and refresh the GUI."""
        with self._lock:
            colors = self.state.colors()
            if self._glb is not None:  # the glb transport
                self._mesh_handle.glb_data = self._glb.encode(colors)
            else:
                self._points_handle.colors = np.ascontiguousarray(colors)
            self._sync_gui()

    # ------------------------------------------------------------------ GUI
    def _build_gui(self) -> None:
        gui = self.server.gui
        st = self.state
        gui.configure_theme(control_width="large") if hasattr(gui, "configure_theme") else None
        self.g_status = gui.add_markdown(self._status_text())
        self.g_mode = gui.add_dropdown(
            "Display", [_MODE_LABELS[m] for m in DISPLAY_MODES], initial_value=_MODE_LABELS[st.mode]
        )
        with gui.add_folder("Selection"):
            self.g_click = gui.add_dropdown(
                "Click does",
                CLICK_MODES,
                initial_value=CLICK_MODES[0],
                hint="shift-click: new object, alt-click: exclude, ctrl-click: add click",
            )
            self.g_threshold = gui.add_slider(
                "Threshold", min=-1.0, max=1.0, step=0.005, initial_value=float(st.threshold)
            )
            self.g_smaller = gui.add_button("Smaller", hint="previous step of the click's hierarchy (part)")
            self.g_bigger = gui.add_button("Bigger", hint="next step of the click's hierarchy (object, group)")
            self.g_grow = gui.add_checkbox("Region growing", st.grow, hint="keep only parts connected to a click")
            self.g_new = gui.add_button("New object", hint="keep the current object in the multi-selection")
            self.g_undo = gui.add_button("Undo click")
            self.g_clear = gui.add_button("Clear", color="red")
        with gui.add_folder("Discretize", expand_by_default=False):
            self.g_level = gui.add_number("Level", 0, min=0, max=10, step=1, hint="0 = finest parts, larger = coarser")
            self.g_min_size = gui.add_number("Min part size", 50, min=1, step=1, hint="vertices")
            self.g_run = gui.add_button("Run discretize")
        with gui.add_folder("Export", expand_by_default=False):
            self.g_export_sel = gui.add_button("Export selection")
            self.g_export_parts = gui.add_button("Export parts")
            self.g_export_msg = gui.add_markdown("")
        self.g_cameras = gui.add_checkbox(
            "Show cameras",
            False,
            disabled=not st.cameras and not self._frusta,
            hint=f"{len(st.cameras)} input views" if st.cameras else "no cameras.json in the workspace",
        )

        self.g_mode.on_update(self._guarded(lambda: self.state.set_mode(_mode_from_label(self.g_mode.value))))
        self.g_threshold.on_update(self._latest_only(lambda: self.state.set_threshold(self.g_threshold.value)))
        self.g_smaller.on_click(self._guarded(self.state.step_smaller))
        self.g_bigger.on_click(self._guarded(self.state.step_bigger))
        self.g_grow.on_update(self._guarded(lambda: self.state.set_grow(self.g_grow.value)))
        self.g_new.on_click(self._guarded(self.state.commit_group))
        self.g_undo.on_click(self._guarded(self.state.undo))
        self.g_clear.on_click(self._guarded(self.state.clear))
        self.g_run.on_click(self._guarded(self._discretize))
        self.g_export_sel.on_click(self._guarded(lambda: self._export("selection")))
        self.g_export_parts.on_click(self._guarded(lambda: self._export("parts")))
        self.g_cameras.on_update(self._guarded(self._toggle_cameras, push=False))

    def _guarded(self, fn: Any, push: bool = True) -> Any:
        """Wrap a state call as a GUI callback: lock, ignore our own GUI syncs, report errors."""

        def callback(_event: Any = None) -> None:
            if self._syncing:
                return
            with self._lock:
                try:
                    fn()
                    self.last_message = ""
                except (ValueError, FileNotFoundError, ImportError) as exc:
                    self.last_message = f"**error:** {exc}"
                    log.warning("%s", exc)
                if push:
                    self.push_colors()
                else:
                    self._sync_gui()

        return callback

    def _latest_only(self, fn: Any) -> Any:
        """Like :meth:`_guarded`, but events arriving while one runs collapse into one run
        with the latest value (a dragged slider sends many more events than a big mesh can
        answer; only the last one matters)."""
        run = self._guarded(fn)
        pending = threading.Event()
        busy = threading.Lock()

        def callback(_event: Any = None) -> None:
            if self._syncing:
                return
            pending.set()
            while pending.is_set() and busy.acquire(blocking=False):
                try:
                    while pending.is_set():
                        pending.clear()
                        run()
                finally:
                    busy.release()

        return callback

    def _discretize(self) -> None:
        self.g_status.content = "**discretizing ...** (a new minimum part size refits; another level is a cut)"
        self.state.discretize(int(self.g_level.value), int(self.g_min_size.value))

    def _export(self, what: str) -> None:
        st = self.state
        if what == "selection":
            result = st.export_selection()
            where = result["mesh"] + (f" and `{result['objects']}/`" if "objects" in result else "")
        else:
            where = st.export_parts()["out"] + "/"
        self.g_export_msg.content = f"wrote {what}: `{where}`"
        log.info("exported %s to %s", what, where)

    def _toggle_cameras(self) -> None:
        for h in self._frusta:
            h.visible = bool(self.g_cameras.value)

    def _status_text(self) -> str:
        s = self.state.status()
        step = step_label(s["step"], s["steps"])
        lines = [
            f"**{self.state.num_vertices:,} vertices** · mode: {_MODE_LABELS[s['mode']]}",
            f"clicks {s['clicks']} ({s['negatives']} negative) · objects {s['groups'] + (1 if s['clicks'] else 0)} · "
            f"step {step} · threshold {s['threshold']:.3f} · selected {s['selected']:,}",
        ]
        if s["parts"] is not None:
            lines.append(f"parts: {s['parts']} ({s.get('parts_source')})")
        if getattr(self, "last_message", ""):
            lines.append(self.last_message)
        return "  \n".join(lines)

    def _sync_gui(self) -> None:
        self._syncing = True
        try:
            st = self.state
            self.g_threshold.value = float(np.clip(st.threshold, -1.0, 1.0))
            self.g_grow.value = bool(st.grow)
            self.g_mode.value = _MODE_LABELS[st.mode]
            self.g_status.content = self._status_text()
        finally:
            self._syncing = False

    # ------------------------------------------------------------------ clicks
    def _register_clicks(self) -> None:
        scene = self.server.scene

        def handler(kind: str | None):
            def cb(event: Any) -> None:
                self.handle_click(event.ray_origin, event.ray_direction, kind)

            return cb

        scene.on_click()(handler(None))
        scene.on_click(modifier="shift")(handler("new object (multi)"))
        scene.on_click(modifier="alt")(handler("exclude (negative)"))
        scene.on_click(modifier="cmd/ctrl")(handler("add click"))

    def handle_click(self, ray_origin: Any, ray_direction: Any, kind: str | None = None) -> int | None:
        """Pick the vertex under a click ray and apply the click (``kind``: one of CLICK_MODES,
        default the GUI's "Click does"). Returns the picked vertex (None: nothing hit)."""
        with self._lock:
            v = self.state.pick(ray_origin, ray_direction)
            if v is None:
                return None
            kind = kind or self.g_click.value
            self.state.click(
                v,
                positive=kind != "exclude (negative)",
                add_group=kind == "new object (multi)",
                append=kind == "add click",
            )
            self.push_colors()
            return v

    # ------------------------------------------------------------------ lifetime
    def stop(self) -> None:
        """Stop the server (closes the port)."""
        self.server.stop()

    def wait(self) -> None:
        """Block until Ctrl-C, then stop."""
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


def _mode_from_label(label: str) -> str:
    for m, text in _MODE_LABELS.items():
        if text == label:
            return m
    return label


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(
    workspace: Workspace | str | Path | ViewerState | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    allow_remote: bool = False,
    transport: Literal["auto", "glb", "points"] = "auto",
    block: bool = True,
) -> ViewerApp:
    """Serve the viewer of a workspace (or of a ready :class:`ViewerState`).

    Args:
        workspace: the fitted workspace folder (default ``./omniseg``) or a state.
        host: bind address; anything but loopback needs ``allow_remote=True``.
        port: TCP port (0 = a free one).
        allow_remote: allow a non-loopback ``host`` (anyone who can reach it can use the viewer).
        transport: colour transport (see the module docstring).
        block: wait until Ctrl-C (False: return the running app; call ``app.stop()``).

    Raises:
        ValueError: a non-loopback host without ``allow_remote``.
    """
    if not is_loopback(host) and not allow_remote:
        raise ValueError(
            f"refusing to serve on {host}: the viewer has no authentication, so it binds to 127.0.0.1 by default; "
            "use an SSH tunnel (ssh -L 8080:localhost:8080 HOST), or pass --allow-remote to bind a non-local address"
        )
    state = (
        workspace
        if isinstance(workspace, ViewerState)
        else ViewerState.from_workspace(workspace if isinstance(workspace, Workspace) else Workspace.find(workspace))
    )
    state.warm_up()
    app = ViewerApp(state, host=host, port=port, transport=transport)
    if block:
        app.wait()
    return app


def step_label(step: int | None, steps: int) -> str:
    """The hierarchy step as the CLI numbers it (``select --step N`` and its table): 0 = smallest."""
    return "-" if step is None else f"{step} of 0..{steps - 1}"
