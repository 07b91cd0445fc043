"""Geometry loading: meshes and point clouds with the input file's vertex ids.

Formats: PLY (ascii, binary little/big endian), OBJ, OFF, GLB/GLTF.

The one promise of this module: **vertex ``i`` of the result is vertex ``i`` of the
file.** Nothing is merged, reordered or dropped, so per-vertex results (labels,
features) map straight back onto the user's mesh. PLY, OBJ and OFF are parsed here
(small readers that keep every vertex and every polygon); GLB/GLTF goes through
trimesh with ``process=False`` and ``maintain_order=True``, one primitive after the
other in scene-graph order, node transforms applied.

Polygons are fan-triangulated (``(a, b, c, d) -> (a, b, c), (a, c, d)``); faces
with fewer than 3 vertices are refused. Degenerate and duplicate faces are kept
(ids unchanged) with a warning that counts them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..scene import Scene

log = logging.getLogger(__name__)

__all__ = [
    "GEOMETRY_SUFFIXES",
    "load_geometry",
    "load_scene",
    "save_ply",
    "ply_bytes",
    "save_vertex_labels",
    "load_vertex_labels",
    "triangulate_polygons",
    "validate_geometry",
    "count_duplicate_faces",
]

GEOMETRY_SUFFIXES = (".ply", ".obj", ".off", ".glb", ".gltf")


# --------------------------------------------------------------------- helpers
def triangulate_polygons(polygons: Sequence[Sequence[int]], path: str | Path = "<mesh>") -> np.ndarray:
    """Fan-triangulate polygons, keeping vertex ids.

    Args:
        polygons: faces as vertex-id sequences (any length >= 3).
        path: the file the polygons came from (for error messages).

    Returns:
        [F, 3] int64 triangles, polygons in input order, each fanned from its first vertex.

    Raises:
        ValueError: a face has fewer than 3 vertices.
    """
    tris: list[tuple[int, int, int]] = []
    for k, poly in enumerate(polygons):
        n = len(poly)
        if n < 3:
            raise ValueError(
                f"{path}: face {k} has {n} vertex id(s) {list(poly)}, but a face needs at least 3; "
                "it cannot be triangulated. Fix: delete such faces (lines/points) in a mesh editor, "
                "or load the file as a point cloud (--point-mode)"
            )
        a = poly[0]
        for j in range(1, n - 1):
            tris.append((a, poly[j], poly[j + 1]))
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def _faces_from_lists(lists: list[np.ndarray] | np.ndarray, path: Path) -> np.ndarray:
    """Faces from a ragged list (or a regular [F, n] array) of polygons -> [F', 3] int64."""
    if isinstance(lists, np.ndarray) and lists.ndim == 2:
        if lists.shape[1] == 3:
            return lists.astype(np.int64)
        if lists.shape[1] >= 3:
            n = lists.shape[1]
            fans = [np.stack([lists[:, 0], lists[:, j], lists[:, j + 1]], axis=1) for j in range(1, n - 1)]
            return np.stack(fans, axis=1).reshape(-1, 3).astype(np.int64)
        lists = list(lists)
    return triangulate_polygons([np.asarray(p).astype(np.int64).tolist() for p in lists], path)


def _colors_to_u8(colors: np.ndarray | None, integer: bool | None = None) -> np.ndarray | None:
    """[V, 3|4] colours -> [V, 3] uint8.

    ``integer``: the file declares integer colours (0..255, never rescaled); ``None``
    guesses from the values (all in [0, 1] -> floats in [0, 1], scaled by 255).
    """
    if colors is None:
        return None
    c = np.asarray(colors)
    if c.ndim != 2 or c.shape[1] < 3:
        return None
    c = c[:, :3]
    if c.dtype == np.uint8:
        return np.ascontiguousarray(c)
    c = np.nan_to_num(c.astype(np.float64))
    if integer is None:
        integer = np.issubdtype(np.asarray(colors).dtype, np.integer) or (c.size > 0 and c.max() > 1.0)
    if not integer:
        c = c * 255.0
    return np.clip(np.rint(c), 0, 255).astype(np.uint8)


def count_duplicate_faces(faces: np.ndarray, num_vertices: int) -> int:
    """How many faces repeat an earlier face's vertex set (any order).

    One int64 key per face (``(a * V + b) * V + c`` of the sorted ids), sorted, while
    ``V**3`` fits in int64 (V <= 2,097,152). Above that, a 64-bit hash of the sorted
    ids is sorted instead and only the faces whose hash repeats are compared exactly:
    still one vectorised sort, where a row-wise ``np.unique`` was about 5x slower.

    Args:
        faces: [F, 3] int vertex ids in [0, num_vertices).
        num_vertices: V.
    """
    f = np.sort(np.asarray(faces, dtype=np.int64).reshape(-1, 3), axis=1)
    if len(f) < 2:
        return 0
    nv = max(int(num_vertices), 1)
    if nv <= 2_097_152:
        keys = (f[:, 0] * nv + f[:, 1]) * nv + f[:, 2]
        keys.sort()
        return int(np.count_nonzero(keys[1:] == keys[:-1]))
    u = f.astype(np.uint64)  # wrap-around arithmetic: a hash, verified below
    h = (
        u[:, 0] * np.uint64(0x9E3779B97F4A7C15)
        ^ u[:, 1] * np.uint64(0xC2B2AE3D27D4EB4F)
        ^ u[:, 2] * np.uint64(0x165667B19E3779F9)
    )
    hs = np.sort(h)
    repeated = np.unique(hs[1:][hs[1:] == hs[:-1]])
    if repeated.size == 0:
        return 0
    pos = np.minimum(np.searchsorted(repeated, h), len(repeated) - 1)  # O(F log k), k = repeated hashes
    rows = f[repeated[pos] == h]
    return int(len(rows) - len(np.unique(rows, axis=0)))


def validate_geometry(
    vertices: np.ndarray, faces: np.ndarray | None, path: str | Path = "<mesh>"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Check loaded geometry; raise on what cannot be used, warn on what is odd.

    Args:
        vertices: [V, 3] positions.
        faces: [F, 3] triangle vertex ids, or None.
        path: the source file (named in messages).

    Returns:
        (vertices [V, 3] float32, faces [F, 3] int32 | None), unchanged in order.

    Raises:
        ValueError: no vertices, non-finite coordinates, face ids out of range.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[0] == 0:
        raise ValueError(
            f"{path}: no vertices found (expected at least one 'x y z' vertex, found {vertices.shape[0] if vertices.ndim else 0}). "
            "Fix: check that the file is a mesh or point-cloud export and not empty"
        )
    if vertices.shape[1] != 3:
        raise ValueError(f"{path}: vertices must have 3 coordinates, found shape {vertices.shape}")
    bad = ~np.all(np.isfinite(vertices), axis=1)
    if bad.any():
        ids = np.flatnonzero(bad)
        raise ValueError(
            f"{path}: {len(ids)} vertices have NaN or inf coordinates (first ids: {ids[:5].tolist()}). "
            "Fix: remove or repair those vertices in a mesh editor (e.g. MeshLab 'Remove unreferenced/NaN vertices') "
            "and export again"
        )
    if faces is not None:
        faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
        if len(faces) == 0:
            faces = None
    if faces is not None:
        nv = len(vertices)
        out = (faces < 0) | (faces >= nv)
        if out.any():
            rows = np.flatnonzero(out.any(axis=1))
            raise ValueError(
                f"{path}: face vertex ids must lie in [0, {nv - 1}] for {nv} vertices, but {len(rows)} faces "
                f"do not (face {rows[0]} = {faces[rows[0]].tolist()}; ids found in [{faces.min()}, {faces.max()}]). "
                "Fix: the file is truncated or its faces index another vertex list; export the mesh again"
            )
        degenerate = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
        v = vertices
        area2 = np.linalg.norm(np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]]), axis=1)
        scale = max(float(np.ptp(v, axis=0).max()), 1e-30)
        zero_area = (area2 <= 1e-14 * scale * scale) & ~degenerate
        duplicates = count_duplicate_faces(faces, nv)
        if degenerate.any() or zero_area.any() or duplicates:
            log.warning(
                "%s: %d faces repeat a vertex, %d have zero area, %d duplicate another face; "
                "kept as they are (vertex ids unchanged) — they only cost a little time",
                path,
                int(degenerate.sum()),
                int(zero_area.sum()),
                duplicates,
            )
        faces = faces.astype(np.int32)
    return vertices.astype(np.float32), faces


# ------------------------------------------------------------------------- PLY
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


class _PlyElement:
    def __init__(self, name: str, count: int):
        self.name = name
        self.count = count
        self.props: list[tuple[str, str, str | None]] = []  # (name, dtype, list count dtype or None)

    @property
    def has_lists(self) -> bool:
        return any(p[2] is not None for p in self.props)


def _ply_header(fh, path: Path) -> tuple[str, list[_PlyElement]]:
    magic = fh.readline().strip()
    if magic != b"ply":
        raise ValueError(f"{path}: not a PLY file (expected the first line 'ply', found {magic[:20]!r})")
    fmt = None
    elements: list[_PlyElement] = []
    while True:
        line = fh.readline()
        if not line:
            raise ValueError(f"{path}: PLY header has no 'end_header' line (file truncated?)")
        words = line.decode("ascii", errors="replace").split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "end_header":
            break
        if words[0] == "format":
            fmt = words[1]
        elif words[0] == "element":
            elements.append(_PlyElement(words[1], int(words[2])))
        elif words[0] == "property":
            if not elements:
                raise ValueError(f"{path}: PLY property before any element: {line!r}")
            try:
                if words[1] == "list":
                    elements[-1].props.append((words[4], _PLY_TYPES[words[3]], _PLY_TYPES[words[2]]))
                else:
                    elements[-1].props.append((words[2], _PLY_TYPES[words[1]], None))
            except KeyError as exc:
                raise ValueError(f"{path}: unknown PLY property type {exc.args[0]!r} in {line!r}") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ValueError(
            f"{path}: unknown PLY format {fmt!r} (expected ascii, binary_little_endian or binary_big_endian)"
        )
    return fmt, elements


def _ply_read_ascii(el: _PlyElement, tokens: list[bytes], pos: int, path: Path) -> tuple[dict, int]:
    """Read one element from whitespace tokens; returns ({prop: array or list of arrays}, new pos)."""
    if el.count == 0:
        return {p[0]: np.zeros(0) for p in el.props}, pos
    if not el.has_lists:
        n = len(el.props)
        chunk = tokens[pos : pos + n * el.count]
        if len(chunk) < n * el.count:
            raise ValueError(f"{path}: PLY element '{el.name}' is truncated (expected {el.count} rows)")
        table = np.array(chunk, dtype=np.float64).reshape(el.count, n)
        return {p[0]: table[:, i] for i, p in enumerate(el.props)}, pos + n * el.count
    # fast path: every row has the same list lengths as the first row
    widths, p = [], pos
    for _name, _dt, cdt in el.props:
        if cdt is None:
            widths.append(1)
            p += 1
        else:
            c = int(tokens[p])
            widths.append(1 + c)
            p += 1 + c
    row = sum(widths)
    chunk = tokens[pos : pos + row * el.count]
    if len(chunk) == row * el.count:
        arr: np.ndarray | None
        try:
            arr = np.array(chunk, dtype=np.float64).reshape(el.count, row)
        except ValueError:
            arr = None
        if arr is not None:
            ok, col = True, 0
            for (_n, _dt, cdt), w in zip(el.props, widths):
                if cdt is not None and not np.all(arr[:, col] == w - 1):
                    ok = False
                    break
                col += w
            if ok:
                columns: dict[str, np.ndarray] = {}
                col = 0
                for (name, _dt, cdt), w in zip(el.props, widths):
                    columns[name] = arr[:, col] if cdt is None else arr[:, col + 1 : col + w]
                    col += w
                return columns, pos + row * el.count
    # general path: row by row
    out: dict[str, list] = {p[0]: [] for p in el.props}
    try:
        for _ in range(el.count):
            for name, _dt, cdt in el.props:
                if cdt is None:
                    out[name].append(float(tokens[pos]))
                    pos += 1
                else:
                    c = int(tokens[pos])
                    items = tokens[pos + 1 : pos + 1 + c]
                    if len(items) < c:
                        raise IndexError
                    out[name].append(np.array(items, dtype=np.float64))
                    pos += 1 + c
    except (IndexError, ValueError):
        raise ValueError(
            f"{path}: PLY element '{el.name}' is truncated or malformed (expected {el.count} rows)"
        ) from None
    scalars = {p_[0] for p_ in el.props if p_[2] is None}
    return {k: (np.array(v) if k in scalars else v) for k, v in out.items()}, pos


def _ply_read_binary(el: _PlyElement, buf: memoryview, pos: int, endian: str, path: Path) -> tuple[dict, int]:
    if el.count == 0:
        return {p[0]: np.zeros(0) for p in el.props}, pos
    if not el.has_lists:
        dt_flat = np.dtype([(f"p{i}", endian + p[1]) for i, p in enumerate(el.props)])
        if pos + dt_flat.itemsize * el.count > len(buf):
            raise ValueError(f"{path}: PLY element '{el.name}' is truncated (expected {el.count} rows)")
        flat = np.frombuffer(buf, dtype=dt_flat, count=el.count, offset=pos)
        return {p[0]: flat[f"p{i}"] for i, p in enumerate(el.props)}, pos + dt_flat.itemsize * el.count
    # fast path: list lengths of the first row for all rows
    fields: list[tuple] = []
    p = pos
    for i, (_name, dt, cdt) in enumerate(el.props):
        if cdt is None:
            fields.append((f"p{i}", endian + dt))
            p += np.dtype(dt).itemsize
        else:
            c = int(np.frombuffer(buf, dtype=endian + cdt, count=1, offset=p)[0])
            fields.append((f"c{i}", endian + cdt))
            fields.append((f"p{i}", endian + dt, (c,)))
            p += np.dtype(cdt).itemsize + c * np.dtype(dt).itemsize
    dt_row = np.dtype(fields)
    if pos + dt_row.itemsize * el.count <= len(buf):
        arr = np.frombuffer(buf, dtype=dt_row, count=el.count, offset=pos)
        ok = all(
            np.all(arr[f"c{i}"] == (arr.dtype[f"p{i}"].shape[0] if arr.dtype[f"p{i}"].shape else 1))
            for i, p_ in enumerate(el.props)
            if p_[2] is not None
        )
        if ok:
            return {p_[0]: arr[f"p{i}"] for i, p_ in enumerate(el.props)}, pos + dt_row.itemsize * el.count
    # general path: row by row
    out: dict[str, list] = {p_[0]: [] for p_ in el.props}
    try:
        for _ in range(el.count):
            for name, dt, cdt in el.props:
                if cdt is None:
                    out[name].append(np.frombuffer(buf, dtype=endian + dt, count=1, offset=pos)[0])
                    pos += np.dtype(dt).itemsize
                else:
                    c = int(np.frombuffer(buf, dtype=endian + cdt, count=1, offset=pos)[0])
                    pos += np.dtype(cdt).itemsize
                    out[name].append(np.frombuffer(buf, dtype=endian + dt, count=c, offset=pos))
                    pos += c * np.dtype(dt).itemsize
    except ValueError:
        raise ValueError(f"{path}: PLY element '{el.name}' is truncated (expected {el.count} rows)") from None
    scalars = {p_[0] for p_ in el.props if p_[2] is None}
    return {k: (np.array(v) if k in scalars else v) for k, v in out.items()}, pos


def _check_ply_trailing(body: bytes, pos: int, tokens: list | None, elements: list[_PlyElement], path: Path) -> None:
    """Data after the last declared element means the header under-counts an element: refuse it."""
    if tokens is not None:
        extra = len(tokens) - pos
        unit = "values"
    else:
        extra = len(body[pos:].rstrip(b" \t\r\n"))  # a trailing newline is harmless
        unit = "bytes"
    if extra <= 0:
        return
    counts = ", ".join(f"{el.count} {el.name}" for el in elements)
    raise ValueError(
        f"{path}: {extra} {unit} of data follow the last element the header declares ({counts}): the header "
        f"under-counts an element (e.g. the face count), so part of the mesh would be silently dropped. "
        "Fix: export the mesh again, or correct the 'element' counts in the header"
    )


def _load_ply(path: Path) -> tuple[np.ndarray, list | np.ndarray | None, np.ndarray | None]:
    with open(path, "rb") as fh:
        fmt, elements = _ply_header(fh, path)
        body = fh.read()
    data: dict[str, dict] = {}
    pos = 0
    tokens = None
    if fmt == "ascii":
        tokens = body.split()
        for el in elements:
            data[el.name], pos = _ply_read_ascii(el, tokens, pos, path)
    else:
        endian = "<" if fmt == "binary_little_endian" else ">"
        buf = memoryview(body)
        for el in elements:
            data[el.name], pos = _ply_read_binary(el, buf, pos, endian, path)
    _check_ply_trailing(body, pos, tokens if fmt == "ascii" else None, elements, path)
    vert = data.get("vertex")
    if vert is None or not all(k in vert for k in "xyz"):
        if vert is None or not len(next(iter(vert.values()), [])):
            return np.zeros((0, 3)), None, None
        raise ValueError(f"{path}: PLY 'vertex' element has no x, y, z properties (found {list(vert)})")
    vertices = np.stack([np.asarray(vert[k], dtype=np.float64) for k in "xyz"], axis=1)
    colors = None
    declared = {name: dt for el in elements if el.name == "vertex" for name, dt, _c in el.props}
    for names in (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue")):
        if all(n in vert for n in names):
            integer = not declared[names[0]].startswith("f")
            colors = _colors_to_u8(np.stack([np.asarray(vert[n]) for n in names], axis=1), integer=integer)
            break
    faces = None
    face = data.get("face")
    if face:
        key = next((k for k in ("vertex_indices", "vertex_index") if k in face), None)
        if key is None:
            list_props = [p[0] for el in elements if el.name == "face" for p in el.props if p[2] is not None]
            key = list_props[0] if list_props else None
        if key is not None:
            faces = face[key]
            if isinstance(faces, np.ndarray) and faces.ndim == 1:  # a 'face' element with zero rows
                faces = None if faces.size == 0 else faces.reshape(-1, 1)
    return vertices, faces, colors


# ------------------------------------------------------------------------- OBJ
def _load_obj_slow(path: Path) -> tuple[np.ndarray, list | None, np.ndarray | None]:
    verts: list[list[float]] = []
    polys: list[list[int]] = []
    has_color = True
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.startswith("v "):
                parts = line.split()
                try:
                    vals = [float(x) for x in parts[1:]]
                except ValueError:
                    raise ValueError(f"{path}:{lineno}: vertex line is not numbers: {line.strip()!r}") from None
                if len(vals) < 3:
                    raise ValueError(f"{path}:{lineno}: a vertex needs x y z, found {line.strip()!r}")
                if len(vals) < 6:
                    has_color = False
                verts.append(vals[:6] if len(vals) >= 6 else vals[:3] + [0.0, 0.0, 0.0])
            elif line.startswith("f ") or line.startswith("f\t"):
                ids = []
                nv = len(verts)
                for tok in line.split()[1:]:
                    if tok.startswith("#"):
                        break
                    ref = tok.split("/", 1)[0]
                    try:
                        k = int(ref)
                    except ValueError:
                        raise ValueError(f"{path}:{lineno}: face refers to vertex {ref!r}, not an integer") from None
                    if k == 0:
                        raise ValueError(
                            f"{path}:{lineno}: face refers to vertex 0, but OBJ vertex ids start at 1 "
                            f"(negative ids count back from the last vertex): {line.strip()[:80]!r}. "
                            "Fix: the exporter wrote 0-based ids; add 1 to every face id or export the mesh again"
                        )
                    ids.append(k - 1 if k > 0 else nv + k)  # OBJ ids are 1-based, negative = relative
                polys.append(ids)
    vertices = np.asarray(verts, dtype=np.float64).reshape(-1, 6)
    colors = _colors_to_u8(vertices[:, 3:6]) if has_color and len(vertices) else None
    return vertices[:, :3], (polys if polys else None), colors


# ------------------------------------------------------------------------- OFF
def _load_off_slow(path: Path) -> tuple[np.ndarray, list | None, np.ndarray | None]:
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [ln.split("#", 1)[0].split() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise ValueError(f"{path}: empty OFF file (expected a header 'OFF' then 'nv nf ne')")
    head = lines[0]
    if not re.fullmatch(r"(ST)?C?N?4?n?OFF", head[0]):
        raise ValueError(f"{path}: not an OFF file (expected first word 'OFF', found {head[0]!r})")
    rest = head[1:]
    i = 1
    if not rest:
        rest = lines[1]
        i = 2
    try:
        nv, nf = int(rest[0]), int(rest[1])
    except (IndexError, ValueError):
        raise ValueError(f"{path}: OFF counts line must be 'nv nf ne', found {' '.join(rest)!r}") from None
    vlines = lines[i : i + nv]
    flines = lines[i + nv : i + nv + nf]
    if len(vlines) < nv or len(flines) < nf:
        raise ValueError(f"{path}: OFF file is truncated (header says {nv} vertices and {nf} faces)")
    ncols = {len(v) for v in vlines}
    if len(ncols) == 1:
        arr = np.array(vlines, dtype=np.float64).reshape(nv, -1)
    else:
        arr = np.array([v[:3] for v in vlines], dtype=np.float64).reshape(nv, 3)
    colors = None
    if (head[0].startswith("C") or "COFF" in head[0]) and arr.shape[1] >= 6:
        colors = _colors_to_u8(arr[:, 3:6])
    vertices = arr[:, :3]
    polys = []
    for k, fl in enumerate(flines):
        n = int(fl[0])
        ids = fl[1 : 1 + n]
        if len(ids) < n:
            raise ValueError(f"{path}: OFF face {k} says {n} vertices but lists {len(ids)}")
        polys.append([int(x) for x in ids])
    return vertices, (polys if polys else None), colors


# ---------------------------------------------------------- OBJ / OFF (fast)
def _split_rows(rows: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged rows of integer tokens -> (flat int64 ids, row lengths); raises ValueError on bad tokens."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = [t for r in rows for t in r]
    return np.array(flat, dtype=np.int64) if flat else np.zeros(0, np.int64), lengths


def _rows_to_polys(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray | list:
    if lengths.size and np.all(lengths == lengths[0]):
        return ids.reshape(len(lengths), int(lengths[0]))
    return np.split(ids, np.cumsum(lengths)[:-1])


_OBJ_V = re.compile(r"^v[ \t]+([^\n#]*)", re.M)
_OBJ_F = re.compile(r"^f[ \t]+([^\n#]*)", re.M)
_OBJ_REF_TAIL = re.compile(r"/\S*")


def _load_obj(path: Path) -> tuple[np.ndarray, list | np.ndarray | None, np.ndarray | None]:
    """OBJ ``v`` / ``f`` lines, vectorised; negative ids or any oddity -> the line-by-line reader."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        vlines = _OBJ_V.findall(text)
        vwidths = np.fromiter(map(len, map(str.split, vlines)), dtype=np.int64, count=len(vlines))
        if vwidths.size and (vwidths.min() < 3 or vwidths.min() != vwidths.max()):
            raise ValueError("ragged vertex rows")
        verts = np.array(" ".join(vlines).split(), dtype=np.float64).reshape(len(vlines), -1)
        colors = _colors_to_u8(verts[:, 3:6]) if verts.shape[1] >= 6 and len(verts) else None
        flines = _OBJ_F.findall(text)
        if not flines:
            return verts[:, :3], None, colors
        joined = "\n".join(flines)
        if "/" in joined:
            joined = _OBJ_REF_TAIL.sub("", joined)
        rows = joined.split("\n")
        lengths = np.fromiter(map(len, map(str.split, rows)), dtype=np.int64, count=len(rows))
        ids = np.array(joined.split(), dtype=np.int64)
        if ids.size and ids.min() <= 0:
            raise ValueError("relative or zero ids")
        return verts[:, :3], _rows_to_polys(ids - 1, lengths), colors
    except ValueError:
        return _load_obj_slow(path)


def _load_off(path: Path) -> tuple[np.ndarray, list | np.ndarray | None, np.ndarray | None]:
    """OFF with uniform vertex rows and face rows ``n i1 .. in`` (no per-face colours) fast; else line by line."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        if "#" in text:
            lines = [ln.split("#", 1)[0] for ln in lines]
        lines = [ln for ln in lines if ln.strip()]
        head = lines[0].split()
        if head[0] not in ("OFF", "COFF"):
            raise ValueError("unusual header")
        rest, i = (head[1:], 1) if len(head) > 1 else (lines[1].split(), 2)
        nv, nf = int(rest[0]), int(rest[1])
        vrows = [ln.split() for ln in lines[i : i + nv]]
        frows = [ln.split() for ln in lines[i + nv : i + nv + nf]]
        if len(vrows) < nv or len(frows) < nf or len({len(r) for r in vrows}) > 1:
            raise ValueError("truncated or ragged")
        arr = np.array(vrows, dtype=np.float64).reshape(nv, -1)
        colors = _colors_to_u8(arr[:, 3:6]) if head[0] == "COFF" and arr.shape[1] >= 6 else None
        ids, lengths = _split_rows(frows)
        counts = ids[np.concatenate([[0], np.cumsum(lengths)[:-1]])] if nf else ids[:0]
        if np.any(counts != lengths - 1):
            raise ValueError("face rows with extra values")
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if nf else ids[:0]
        keep = np.ones(ids.size, bool)
        keep[starts] = False
        polys = _rows_to_polys(ids[keep], lengths - 1) if nf else None
        return arr[:, :3], polys, colors
    except (ValueError, IndexError):
        return _load_off_slow(path)


# -------------------------------------------------------------------- GLB/GLTF
_GLTF_FIX = "Fix: export the mesh again (glTF 2.0), or convert it to .ply with Blender or MeshLab"


def _check_gltf_container(path: Path) -> None:
    """Refuse an empty, truncated or non-glTF file before trimesh sees it (its errors name no file)."""
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes); expected a glTF 2.0 {path.suffix} mesh. {_GLTF_FIX}")
    if path.suffix.lower() == ".glb":
        import struct

        with open(path, "rb") as fh:
            head = fh.read(12)
        if len(head) < 12 or head[:4] != b"glTF":
            raise ValueError(
                f"{path}: not a binary glTF file (expected the magic bytes 'glTF', found {head[:4]!r}). {_GLTF_FIX}"
            )
        version, length = struct.unpack("<II", head[4:12])
        if version != 2:
            raise ValueError(f"{path}: glTF version {version} is not supported (expected 2). {_GLTF_FIX}")
        if length > size:
            raise ValueError(
                f"{path}: the file is truncated (its header says {length} bytes, the file has {size}). {_GLTF_FIX}"
            )
    else:
        from ..workspace import read_json

        doc = read_json(path, "glTF file", _GLTF_FIX)
        if not isinstance(doc, dict) or "asset" not in doc:
            found = sorted(doc)[:8] if isinstance(doc, dict) else type(doc).__name__
            raise ValueError(
                f"{path}: not a glTF file (expected a JSON object with an 'asset' key, found {found}). {_GLTF_FIX}"
            )


def _load_gltf(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    import trimesh

    _check_gltf_container(path)
    try:
        loaded = trimesh.load(str(path), process=False, maintain_order=True, force="scene")
    except Exception as exc:  # trimesh raises IndexError/KeyError/NotImplementedError/... naming no file
        raise ValueError(f"{path}: cannot read this glTF file ({type(exc).__name__}: {exc}). {_GLTF_FIX}") from None
    assert isinstance(loaded, trimesh.Scene)  # force="scene"
    # file order: primitives in the order the file lists them (trimesh keeps it in
    # ``geometry``), instances of one mesh in node order; node transforms applied
    geom_rank = {name: i for i, name in enumerate(loaded.geometry)}
    listed = list(loaded.graph.nodes_geometry)
    position = {n: i for i, n in enumerate(listed)}
    nodes = sorted(listed, key=lambda n: (geom_rank.get(loaded.graph[n][1], len(geom_rank)), -position[n]))
    geoms = []
    for node in nodes:
        matrix, gname = loaded.graph[node]
        g = loaded.geometry[gname].copy()
        g.apply_transform(matrix)
        geoms.append(g)
    verts, faces, cols = [], [], []
    offset = 0
    any_faces = False
    for g in geoms:
        v = np.asarray(g.vertices, dtype=np.float64)
        if v.size == 0:
            continue
        f = getattr(g, "faces", None)
        if f is not None and len(f):
            faces.append(np.asarray(f, dtype=np.int64) + offset)
            any_faces = True
        c = None
        visual = getattr(g, "visual", None)
        if visual is not None and getattr(visual, "kind", None) == "vertex":
            c = np.asarray(visual.vertex_colors)
        elif hasattr(g, "colors") and len(getattr(g, "colors", [])) == len(v):
            c = np.asarray(g.colors)
        cols.append(c)
        verts.append(v)
        offset += len(v)
    if not verts:
        return np.zeros((0, 3)), None, None
    colors = None
    if any(c is not None for c in cols):
        colors = np.concatenate(
            [_colors_to_u8(c) if c is not None else np.full((len(v), 3), 255, np.uint8) for c, v in zip(cols, verts)]
        )
    return np.concatenate(verts), (np.concatenate(faces) if any_faces else None), colors


_LOADERS = {".ply": _load_ply, ".obj": _load_obj, ".off": _load_off, ".glb": _load_gltf, ".gltf": _load_gltf}


def load_geometry(
    path: str | Path, point_mode: bool = False
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Load a mesh or point cloud, keeping the file's vertex ids.

    Args:
        path: a .ply (ascii or binary), .obj, .off, .glb or .gltf file.
        point_mode: treat a mesh as a point cloud (faces dropped).

    Returns:
        vertices: [V, 3] float32, in file order.
        faces: [F, 3] int32 triangles (polygons fan-triangulated), or None for a point cloud.
        colors: [V, 3] uint8 vertex colours, or None.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unsupported format or unusable content (message names the fix).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"geometry file {path} does not exist; pass the path of a mesh or point cloud ({', '.join(GEOMETRY_SUFFIXES)})"
        )
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise ValueError(
            f"{path}: unsupported geometry format {path.suffix!r}; supported: {', '.join(GEOMETRY_SUFFIXES)}. "
            "Fix: convert it, e.g. with MeshLab or `python -c \"import trimesh; trimesh.load('in').export('out.ply')\"`"
        )
    vertices, faces, colors = loader(path)
    tri = None
    if faces is not None and not point_mode:
        tri = _faces_from_lists(faces, path)
    vertices, tri = validate_geometry(vertices, tri, path)
    if colors is not None and len(colors) != len(vertices):
        log.warning("%s: %d colours for %d vertices; colours ignored", path, len(colors), len(vertices))
        colors = None
    log.info(
        "loaded %s: %d vertices, %s, %s",
        path,
        len(vertices),
        f"{len(tri)} triangles" if tri is not None else "point cloud",
        "vertex colours" if colors is not None else "no colours",
    )
    return vertices, tri, colors


# ----------------------------------------------------------------- writers
def ply_bytes(
    vertices: np.ndarray,
    faces: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    vertex_properties: dict[str, np.ndarray] | None = None,
) -> bytes:
    """A binary little-endian PLY, vertex ids as given.

    Args:
        vertices: [V, 3] float positions.
        faces: [F, 3] int triangles, or None for a point cloud.
        colors: [V, 3] uint8, or None.
        vertex_properties: more per-vertex scalars, name -> [V] array (int32 -> ``int``,
            float -> ``float``), e.g. ``{"label": labels}`` (read by MeshLab, Blender, CloudCompare).
    """
    v = np.asarray(vertices, dtype=np.float32).reshape(-1, 3)
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(v)}"]
    header += [f"property float {a}" for a in "xyz"]
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        header += [f"property uchar {a}" for a in ("red", "green", "blue")]
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    extra = {}
    for name, values in (vertex_properties or {}).items():
        arr = np.asarray(values).reshape(-1)
        if arr.shape != (len(v),):
            raise ValueError(
                f"vertex property {name!r} must have one value per vertex ({len(v)}), got shape {arr.shape}"
            )
        integer = np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool
        header.append(f"property {'int' if integer else 'float'} {name}")
        fields.append((name, "<i4" if integer else "<f4"))
        extra[name] = arr
    rows = np.zeros(len(v), dtype=fields)
    rows["x"], rows["y"], rows["z"] = v[:, 0], v[:, 1], v[:, 2]
    if colors is not None:
        c = np.asarray(colors, dtype=np.uint8)
        rows["red"], rows["green"], rows["blue"] = c[:, 0], c[:, 1], c[:, 2]
    for name, arr in extra.items():
        rows[name] = arr
    body = [rows.tobytes()]
    if faces is not None:
        f = np.asarray(faces, dtype=np.int32).reshape(-1, 3)
        header += [f"element face {len(f)}", "property list uchar int vertex_indices"]
        frows = np.zeros(len(f), dtype=[("n", "u1"), ("i", "<i4", (3,))])
        frows["n"], frows["i"] = 3, f
        body.append(frows.tobytes())
    header.append("end_header")
    return ("\n".join(header) + "\n").encode("ascii") + b"".join(body)


def save_ply(
    path: str | Path,
    vertices: np.ndarray,
    faces: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    vertex_properties: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write :func:`ply_bytes` to ``path`` atomically."""
    from ..workspace import atomic_write_bytes

    return atomic_write_bytes(path, ply_bytes(vertices, faces, colors, vertex_properties))


def save_vertex_labels(path: str | Path, labels: np.ndarray) -> Path:
    """Write one integer label per vertex, line ``i`` = vertex ``i`` of the input file (atomic).

    ``.npy`` writes a numpy array; any other suffix (``.txt`` is usual) writes text.

    Args:
        labels: [V] integer labels (-1 = unlabelled).
    """
    from ..workspace import atomic_write_bytes, atomic_write_text

    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"vertex labels must be a 1-D array [V], got shape {labels.shape}")
    labels = labels.astype(np.int64)
    path = Path(path)
    if path.suffix == ".npy":
        import io

        buf = io.BytesIO()
        np.save(buf, labels.astype(np.int32))
        return atomic_write_bytes(path, buf.getvalue())
    return atomic_write_text(path, "".join(f"{int(x)}\n" for x in labels))


def load_vertex_labels(path: str | Path) -> np.ndarray:
    """Read labels written by :func:`save_vertex_labels` -> [V] int32."""
    path = Path(path)
    if path.suffix == ".npy":
        return np.load(path).astype(np.int32)
    return np.loadtxt(path, dtype=np.int64, ndmin=1).astype(np.int32)


# ------------------------------------------------------------------ scenes
def load_scene(
    mesh: str | Path,
    images: str | Path | None = None,
    cameras: str | Path | None = None,
    point_mode: bool = False,
    world_transform=None,
) -> Scene:
    """Geometry plus calibrated views, in one world frame.

    Args:
        mesh: geometry file (see :func:`load_geometry`).
        images: the images folder (cameras are matched to its files by name); None for geometry only.
        cameras: an explicit camera file/folder; default: auto-detected next to / inside ``images``.
        point_mode: treat a mesh as a point cloud.
        world_transform: optional 4x4 (array or .txt/.npy/.json file) mapping the cameras' world
            frame onto the mesh's (see :func:`omniseg3d_mesh.io.cameras.load_cameras`).
    """
    vertices, faces, colors = load_geometry(mesh, point_mode=point_mode)
    cams: list = []
    fmt = None
    if images is not None or cameras is not None:
        from .cameras import load_cameras

        cams, fmt = load_cameras(images, cameras=cameras, world_transform=world_transform)
    return Scene(vertices=vertices, faces=faces, colors=colors, cameras=cams, source=Path(mesh), camera_format=fmt)
