"""The fragment contract: for each pixel of a view, which vertices it sees and how much.

A mesh pixel sees the triangle its ray hits first: its three vertex ids with the
barycentric weights of the hit point. A point-cloud pixel sees the nearest splatted
point (weight 1); point splats also mark the surface's *outline* (pixels no disc covers
near its centre, past the surface's edge as often as not): renders show them, the fit's
fragments (:func:`iter_fragments`) leave them empty. Background pixels have id -1 and weight 0.

Backends: ``cpu`` (Open3D ray casting, :mod:`.raycast`), ``nvdiffrast`` (GPU
rasterizer, :mod:`.nvdiffrast`), and point splatting (:mod:`.points`). Geometry is
static, so fragments are computed once per view and cached in the workspace, keyed
by a hash of geometry + camera + backend.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..progress import ProgressCallback, report
from ..scene import Camera, Scene
from ..workspace import Workspace, atomic_save_npz

log = logging.getLogger(__name__)

__all__ = ["Fragments", "compute_fragments", "load_or_compute_fragments", "iter_fragments", "resolve_backend"]

FRAGMENTS_VERSION = 2


@dataclass(init=False, eq=False)
class Fragments:
    """What each pixel of one view sees.

    Attributes:
        vertex_ids: [H, W, K] int32 vertex ids (-1 = background); K = 3 for meshes, 1 for points.
        weights: [H, W, K] float32 interpolation weights (sum to 1 on surface pixels, 0 on background).
        depth: [H, W] float32 camera-space depth along the optical axis (inf = background).
        face_ids: [H, W] int32 hit triangle (-1 = background or point cloud).
        outline: [H, W] bool or None: point splats' outline pixels (covered, but by no disc
            near its centre; :mod:`.points`). :meth:`without_outline` empties them.

    Mesh fragments may be built compactly (:meth:`from_faces`): the hit triangle and
    two barycentric weights per pixel, with ``vertex_ids`` and ``weights`` expanded
    from them (and kept) only when first read. Consumers that need just the training
    pixels (``fit.prepare_views``) read :attr:`bary` and ``face_ids`` and never pay
    for the [H, W, 3] arrays. ``dataclasses.replace`` gives explicit fragments (the
    compact form is dropped, so edits to the new arrays are what everyone reads).
    """

    vertex_ids: np.ndarray
    weights: np.ndarray
    depth: np.ndarray
    face_ids: np.ndarray
    outline: np.ndarray | None = field(default=None, repr=False)
    _bary: np.ndarray | None = field(default=None, repr=False)
    _faces: np.ndarray | None = field(default=None, repr=False)

    def __init__(self, vertex_ids=None, weights=None, depth=None, face_ids=None, outline=None, _bary=None, _faces=None):
        explicit = vertex_ids is not None and weights is not None
        if not explicit and (_bary is None or _faces is None):
            raise ValueError(
                "Fragments need vertex_ids and weights, or (via from_faces) barycentrics and the mesh faces"
            )
        if explicit:
            self.vertex_ids, self.weights = vertex_ids, weights
            _bary = _faces = None
        self.depth = depth
        self.face_ids = face_ids
        self.outline = outline
        self._bary, self._faces = _bary, _faces

    @classmethod
    def from_faces(cls, face_ids: np.ndarray, bary: np.ndarray, depth: np.ndarray, faces: np.ndarray) -> Fragments:
        """Mesh fragments from the hit triangle and two barycentric weights per pixel.

        Args:
            face_ids: [H, W] int32 hit triangle (-1 = background).
            bary: [H, W, 2] float weights of the triangle's second and third vertex
                (the first gets ``1 - sum``); any value on background pixels.
            depth: [H, W] float32 camera z (inf = background).
            faces: [F, 3] int32 the mesh's triangles (shared, not copied).
        """
        return cls(depth=depth, face_ids=np.asarray(face_ids, dtype=np.int32), _bary=bary, _faces=faces)

    def __getattr__(self, name: str):
        # only called for attributes not set yet: the lazily expanded arrays of the compact form
        if name == "vertex_ids":
            # take on clamped ids, then blank the background: 5x faster than boolean-mask indexing
            ids = np.take(np.asarray(self._faces), np.maximum(self.face_ids, 0), axis=0).astype(np.int32, copy=False)
            ids[self.face_ids < 0] = -1
            self.vertex_ids = ids
            return ids
        if name == "weights":
            bary = np.asarray(self._bary, dtype=np.float32)
            w = np.empty(self.face_ids.shape + (3,), dtype=np.float32)
            w[..., 1:] = bary
            w[..., 0] = 1.0 - (bary[..., 0] + bary[..., 1])
            w[self.face_ids < 0] = 0.0
            self.weights = w
            return w
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def is_compact(self) -> bool:
        """Built from face ids + barycentrics (mesh); :attr:`bary` is then free to read."""
        return self._bary is not None

    @property
    def bary(self) -> np.ndarray:
        """[H, W, 2] weights of the hit triangle's second and third vertex (meshes)."""
        if self._bary is None:
            if self.vertex_ids.shape[-1] != 3:
                raise ValueError("barycentric weights exist only for mesh fragments (K = 3)")
            return self.weights[..., 1:]
        return self._bary

    @property
    def height(self) -> int:
        return int(self.face_ids.shape[0])

    @property
    def width(self) -> int:
        return int(self.face_ids.shape[1])

    @property
    def valid(self) -> np.ndarray:
        """[H, W] bool: the pixel sees the surface."""
        if self.is_compact:
            return self.face_ids >= 0
        return self.vertex_ids[..., 0] >= 0

    def dominant_vertex(self) -> np.ndarray:
        """[H, W] int32: the vertex with the largest weight (-1 = background)."""
        k = np.argmax(self.weights, axis=-1)
        ids = np.take_along_axis(self.vertex_ids, k[..., None], axis=-1)[..., 0]
        return np.where(self.valid, ids, -1).astype(np.int32)

    def without_outline(self) -> Fragments:
        """These fragments with the outline pixels as background (itself when there is no outline).

        What the fit trains on: an outline pixel lies past the surface's edge as often as
        not, so its masks would go to the wrong points; a render shows it (the nearest
        disc is right more often than an empty pixel is, docs/results.md).
        """
        if self.outline is None or not self.outline.any():
            return self
        cut = self.outline
        return Fragments(
            vertex_ids=np.where(cut[..., None], -1, self.vertex_ids).astype(np.int32),
            weights=np.where(cut[..., None], 0, self.weights).astype(np.float32),
            depth=np.where(cut, np.float32(np.inf), self.depth).astype(np.float32),
            face_ids=self.face_ids,
        )

    def interpolate(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Interpolate per-vertex ``values`` [V, C] (or [V]) to an image [H, W, C] (or [H, W])."""
        vals = np.asarray(values)
        squeeze = vals.ndim == 1
        if squeeze:
            vals = vals[:, None]
        ids = np.clip(self.vertex_ids, 0, None)
        out = (vals[ids] * self.weights[..., None].astype(vals.dtype if vals.dtype.kind == "f" else np.float32)).sum(
            axis=2
        )
        out[~self.valid] = fill
        return out[..., 0] if squeeze else out

    # storage ---------------------------------------------------------------
    def to_npz_arrays(self) -> dict:
        """Compact arrays for the cache.

        Mesh fragments (K = 3 with face ids) keep only the face id, two barycentric
        weights (float16) and depth: 12 bytes a pixel instead of 26; the vertex ids are
        the face's and come back in :meth:`from_npz`.
        """
        if self.is_compact or (self.vertex_ids.shape[-1] == 3 and np.all((self.face_ids >= 0) == self.valid)):
            valid = self.face_ids >= 0
            bary = self.bary.astype(np.float16)
            bary[~valid] = 0
            return {
                "face_ids": self.face_ids.astype(np.int32),
                "bary": bary,
                "depth": self.depth.astype(np.float32),
            }
        out = {
            "vertex_ids": self.vertex_ids.astype(np.int32),
            "weights": self.weights.astype(np.float16),
            "depth": self.depth.astype(np.float32),
            "face_ids": self.face_ids.astype(np.int32),
        }
        if self.outline is not None:
            out["outline"] = self.outline.astype(bool)
        return out

    @classmethod
    def from_npz(cls, data, faces: np.ndarray | None = None) -> Fragments:
        """Inverse of :meth:`to_npz_arrays` (``faces`` [F, 3] needed for the compact mesh form).

        The compact form comes back compact (:meth:`from_faces`): vertex ids and
        weights are expanded only when read.
        """
        face_ids = np.asarray(data["face_ids"], dtype=np.int32)
        depth = np.asarray(data["depth"], dtype=np.float32)
        if "bary" not in data:
            return cls(
                vertex_ids=np.asarray(data["vertex_ids"], dtype=np.int32),
                weights=np.asarray(data["weights"], dtype=np.float32),
                depth=depth,
                face_ids=face_ids,
                outline=np.asarray(data["outline"], dtype=bool) if "outline" in data else None,
            )
        if faces is None:
            raise ValueError("compact mesh fragments need the mesh faces to restore vertex ids")
        return cls.from_faces(face_ids, np.asarray(data["bary"]), depth, faces)


def resolve_backend(backend: str, scene: Scene, camera: Camera | None = None) -> str:
    """``auto`` -> ``nvdiffrast`` when CUDA and nvdiffrast are importable, else ``cpu``; points -> ``points``.

    A rasterizer cannot bend straight edges, so ``auto`` sends distorted cameras to
    the exact per-pixel ray caster.
    """
    if scene.is_point_cloud:
        return "points"
    if backend == "auto" and camera is not None and camera.is_distorted:
        return "cpu"
    if backend == "auto":
        try:
            import torch

            if torch.cuda.is_available():
                import importlib.util

                if importlib.util.find_spec("nvdiffrast") is not None:
                    return "nvdiffrast"
        except ImportError:  # pragma: no cover
            pass
        return "cpu"
    if backend not in ("cpu", "nvdiffrast"):
        raise ValueError(f"unknown fragment backend {backend!r}; choose auto, cpu or nvdiffrast")
    return backend


def compute_fragments(
    scene: Scene, camera: Camera, backend: str = "auto", point_radius: float | None = None
) -> Fragments:
    """Fragments of one view (not cached; see :func:`load_or_compute_fragments`).

    Args:
        scene: geometry (mesh or point cloud).
        camera: the view (OpenCV axes; distorted cameras use exact per-pixel rays).
        backend: ``auto``, ``cpu`` or ``nvdiffrast``.
        point_radius: point clouds only: splat radius in world units.
    """
    kind = resolve_backend(backend, scene, camera)
    if kind == "points":
        from .points import splat_points

        return splat_points(scene, camera, radius=point_radius)
    if kind == "nvdiffrast":
        from .nvdiffrast import rasterize_fragments

        return rasterize_fragments(scene, camera)
    from .raycast import raycast_fragments

    return raycast_fragments(scene, camera)


def _cache_key(scene: Scene, camera: Camera, kind: str, point_radius: float | None, geometry_hash: str) -> str:
    from ..workspace import content_hash

    # point splats: version 2 = per-point radii from the local spacing by default; 3 = surfels
    # (tangent-plane discs, the disc nearest the ray within the front surface, fringes left out);
    # 4 = the outline kept (covered) and marked, :meth:`Fragments.without_outline` empties it
    extra: tuple = ()
    if kind == "points":
        from . import points

        extra = ("splat-v4", points.splat_settings())
    return content_hash(FRAGMENTS_VERSION, geometry_hash, camera.fingerprint(), kind, point_radius, *extra)


class _CacheWriter:
    """Writes cache entries on one background thread, at most one pending at a time.

    The write (mostly a CRC and a copy, both outside the GIL) then overlaps the next
    view's rasterization instead of following it; memory stays bounded because the
    next write waits for the previous one. :meth:`close` waits for the last write
    and raises its error, if any.
    """

    def __init__(self):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fragment-cache")
        self._pending = None

    def submit(self, fn, *args, **kwargs) -> None:
        self.wait()
        self._pending = self._pool.submit(fn, *args, **kwargs)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def load_or_compute_fragments(
    scene: Scene,
    camera: Camera,
    workspace: Workspace | None,
    backend: str = "auto",
    point_radius: float | None = None,
    geometry_hash: str | None = None,
    writer: _CacheWriter | None = None,
) -> Fragments:
    """Fragments of one view, from the workspace cache when geometry and camera are unchanged.

    ``writer``: write the cache entry in the background (:func:`iter_fragments` does).
    """
    kind = resolve_backend(backend, scene, camera)
    if workspace is None:
        return compute_fragments(scene, camera, backend, point_radius)
    key = _cache_key(
        scene, camera, kind if kind != "nvdiffrast" else "cpu", point_radius, geometry_hash or scene.geometry_hash()
    )
    path = workspace.fragments_path(camera.name)
    if path.is_file():
        try:
            with np.load(path) as data:
                if str(data["key"]) == key:
                    return Fragments.from_npz(data, scene.faces)
        except Exception as exc:  # a corrupt cache entry is recomputed, never fatal
            log.warning("recomputing unreadable fragment cache %s (%s)", path, exc)
    frags = compute_fragments(scene, camera, backend, point_radius)
    arrays = frags.to_npz_arrays()
    # uncompressed, no fsync: 3.7 MB a 640x480 view written in ~5 ms and read in ~2 ms,
    # against ~38 ms + 10 ms for DEFLATE (1.3 MB); docs/performance.md. Older
    # compressed entries hold the same arrays and are still read.
    if writer is not None:
        writer.submit(atomic_save_npz, path, compress=False, durable=False, key=np.array(key), **arrays)
    else:
        atomic_save_npz(path, compress=False, durable=False, key=np.array(key), **arrays)
    # hand back exactly what a later run reads from the cache (same rounding), so a
    # resumed fit sees the same fragments as the run that computed them; the arrays
    # are shared with the background write and never modified
    return Fragments.from_npz(arrays, scene.faces)


def iter_fragments(
    scene: Scene,
    cameras: Sequence[Camera] | None = None,
    workspace: Workspace | None = None,
    backend: str = "auto",
    point_radius: float | None = None,
    progress: ProgressCallback | None = None,
    keep_outline: bool = False,
) -> Iterator[tuple[Camera, Fragments]]:
    """Yield ``(camera, fragments)`` for each view, one at a time (bounded memory).

    These are the fit's fragments: point splats' outline pixels are background
    (:meth:`Fragments.without_outline`) unless ``keep_outline``; the cache holds them
    covered, as renders and clicks read them.

    New cache entries are written on a background thread while the next view is
    computed; every entry is on disk when the iteration ends.
    """
    cams = list(scene.cameras if cameras is None else cameras)
    ghash = scene.geometry_hash()
    writer = _CacheWriter() if workspace is not None else None
    try:
        for i, cam in enumerate(cams):
            frags = load_or_compute_fragments(
                scene, cam, workspace, backend, point_radius, geometry_hash=ghash, writer=writer
            )
            report(progress, "fragments", i + 1, len(cams))
            yield cam, (frags if keep_outline else frags.without_outline())
    finally:
        if writer is not None:
            writer.close()
