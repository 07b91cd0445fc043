"""Where each stage's results live, content hashing, and atomic writes.

Layout::

    <workspace>/
      scene.json            inputs, camera format, content hashes, versions
      masks/                per view proposals (when generated here)
      hierarchy/<view>.npz  patch map + votes
      fragments/<view>.npz  vertex ids + weights
      field.npz             features [V, D] + metadata
      geometry.npz          the fitted vertices/faces/colors (later stages need no inputs)
      cameras.json          the input cameras, in the project's own format
      checkpoints/          fit checkpoints (resume)
      parts/                discretize output (default)

Every write goes to a temporary name in the same folder and is renamed into place,
so a run never leaves a half-written file (or folder) under a final name.

This module owns the paths, hashing and the atomic reads and writes, not what a stage
puts there: :mod:`omniseg3d_mesh.pipeline` alone reads and writes stage results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, overload

import numpy as np

__all__ = [
    "Workspace",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_save_npz",
    "read_npz",
    "read_json",
    "atomic_directory",
    "make_temp_dir",
    "clean_stale_temp_dirs",
    "content_hash",
    "safe_view_name",
]

DEFAULT_WORKSPACE_NAME = "omniseg"


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(old)
    return old


_HOST = socket.gethostname().replace(".", "_").replace("-", "_") or "host"
_STALE_AFTER_S = 24 * 3600  # temp folders of other hosts (shared file systems) count as stale after a day


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_stale_temp_dirs(parent: str | Path, name: str) -> list[Path]:
    """Remove ``.<name>.*.tmp`` / ``.<name>.old.*`` folders that an interrupted run left in ``parent``.

    A temporary folder is named ``.<name>.<host>-<pid>.<random>.tmp``; it is stale when
    its process on this host is gone (or, from another host, after a day). Names from
    before this scheme (no host/pid) are stale too. Returns the removed folders.
    """
    parent = Path(parent)
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    pattern = re.compile(rf"^\.{re.escape(name)}\.(?:(?:(?P<host>\w+)-(?P<pid>\d+)\.)?\w+\.tmp|old\.(?P<oldpid>\d+))$")
    for entry in parent.iterdir():
        hit = pattern.match(entry.name)
        if hit is None or not entry.is_dir():
            continue
        pid = hit.group("pid") or hit.group("oldpid")
        host = hit.group("host")
        if pid is not None and (host is None or host == _HOST) and _pid_alive(int(pid)):
            continue
        if host is not None and host != _HOST:
            try:
                if time.time() - entry.stat().st_mtime < _STALE_AFTER_S:
                    continue
            except OSError:
                continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def make_temp_dir(parent: str | Path, name: str) -> Path:
    """A fresh ``.<name>.<host>-<pid>.<random>.tmp`` folder in ``parent`` (umask modes), after removing stale ones."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temp_dirs(parent, name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 whatever the umask
    return tmp


@contextlib.contextmanager
def _atomic_file(path: str | Path, durable: bool = True) -> Iterator[Any]:
    """A binary file handle on a temporary name in ``path``'s folder, renamed to ``path`` on success.

    ``durable`` also fsyncs before the rename (a crash then never leaves an empty file
    under the final name); caches that are checked on read and rebuilt when unreadable
    skip it, which costs them nothing on the hot path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 whatever the umask
        with os.fdopen(fd, "wb") as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, then rename).

    The file gets the mode a plain ``open()`` would give it (0666 less the umask).
    """
    with _atomic_file(path, durable) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def atomic_save_npz(path: str | Path, compress: bool = False, durable: bool = True, **arrays: Any) -> Path:
    """An ``.npz`` (readable by ``np.load``) written to ``path`` atomically.

    Non-array values are stored as 0-d arrays. ``compress`` uses DEFLATE at level 1:
    about 3x faster to write than ``np.savez_compressed`` (level 6) for caches of
    ids and weights, at nearly the same size. Uncompressed archives are streamed
    straight to the file (no copy in memory). ``durable=False`` skips the fsync (for
    caches that are validated on read and rebuilt when unreadable).
    """
    import zipfile

    with _atomic_file(path, durable) as fh:
        if not compress:
            np.savez(fh, **arrays)
        else:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                for name, value in arrays.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
    return Path(path)


def read_npz(path: str | Path, keys: Any = None, what: str = "array file", fix: str = "") -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (all, or ``keys``), with a clear error naming the file.

    Never unpickles: an object-dtype array is refused. A truncated or corrupt file,
    one that is not an npz, a missing key or an object array each raise ValueError
    saying which file, what was found and ``fix``.

    Args:
        path: the ``.npz`` file.
        keys: names to read (None = every array); a missing one is an error.
        what: what the file is, for messages ("field file", "mask stack").
        fix: how to repair it, appended to every message.
    """
    import zipfile

    path = Path(path)
    tail = f"; {fix}" if fix else ""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found{tail}")
    if not zipfile.is_zipfile(path):  # empty, cut short (no zip directory at the end) or not an npz at all
        size = path.stat().st_size
        raise ValueError(
            f"{path}: cannot read the {what}: the file is truncated or corrupt (no .npz/zip structure in its "
            f"{size} bytes){tail}"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            wanted = names if keys is None else list(keys)
            missing = [k for k in wanted if k not in names]
            if missing:
                raise ValueError(
                    f"{path}: {what} has no array {', '.join(map(repr, missing))} (found {sorted(names)}){tail}"
                )
            out = {}
            for k in wanted:
                try:
                    out[k] = np.asarray(data[k])
                except ValueError as exc:
                    if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                        raise ValueError(
                            f"{path}: array {k!r} of the {what} holds Python objects (dtype object), which are never "
                            f"loaded because unpickling can run code; save plain numeric or boolean arrays "
                            f"(e.g. np.savez(path, {k}=np.asarray(x, dtype=bool))){tail}"
                        ) from None
                    raise
            return out
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read the {what}: {exc} (corrupt or not an .npz?){tail}") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, zipfile.LargeZipFile) as exc:
        raise ValueError(
            f"{path}: cannot read the {what}: the file is truncated or corrupt ({type(exc).__name__}: {exc}){tail}"
        ) from None


def read_json(path: str | Path, what: str = "JSON file", fix: str = "") -> Any:
    """Parse a JSON file; a syntax error names the file, line and column (ValueError)."""
    path = Path(path)
    tail = f"; {fix}" if fix else ""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: the {what} is not UTF-8 text ({exc}){tail}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        end = " (the file ends there: truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise ValueError(
            f"{path}, line {exc.lineno}, column {exc.colno}: the {what} is not valid JSON: {exc.msg}{end}{tail}"
        ) from None


@contextlib.contextmanager
def atomic_directory(final: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Build a folder under a temporary name and move it to ``final`` on success.

    On an exception the temporary folder is removed and ``final`` is untouched.
    With ``overwrite`` an existing ``final`` is replaced only once the new one is
    complete. Temporary folders an interrupted (killed) run left behind are removed
    first (:func:`clean_stale_temp_dirs`); the folder gets umask modes.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} exists; pass overwrite=True or choose another output folder")
    tmp = make_temp_dir(final.parent, final.name)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old.{os.getpid()}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def content_hash(*parts: Any) -> str:
    """A short stable hash of arrays, bytes, strings, numbers, paths (file contents) and dicts."""
    h = hashlib.blake2b(digest_size=16)

    def feed(p: Any) -> None:
        if isinstance(p, np.ndarray):
            h.update(str(p.dtype).encode() + str(p.shape).encode())
            h.update(np.ascontiguousarray(p).tobytes())
        elif isinstance(p, (bytes, bytearray)):
            h.update(p)
        elif isinstance(p, Path):
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        elif isinstance(p, dict):
            h.update(json.dumps(p, sort_keys=True, default=_json_default).encode())
        elif isinstance(p, (list, tuple)):
            for q in p:
                feed(q)
        else:
            h.update(repr(p).encode())
        h.update(b"|")

    for part in parts:
        feed(part)
    return h.hexdigest()


def safe_view_name(name: str) -> str:
    """A file-name-safe version of a view name (``a/b.png`` -> ``a__b.png``)."""
    return name.replace("/", "__").replace("\\", "__")


class _Entry:
    """A file or folder of the workspace: ``workspace.<attribute>`` is ``workspace.root / name`` (read-only)."""

    def __init__(self, name: str, doc: str | None = None) -> None:
        self.name, self.attribute = name, ""
        self.__doc__ = doc or f"``<workspace>/{name}``"

    def __set_name__(self, owner: type, attribute: str) -> None:
        self.attribute = attribute

    @overload
    def __get__(self, ws: None, owner: type | None = None) -> _Entry: ...
    @overload
    def __get__(self, ws: Workspace, owner: type | None = None) -> Path: ...
    def __get__(self, ws: Workspace | None, owner: type | None = None) -> Path | _Entry:
        return self if ws is None else ws.root / self.name

    def __set__(self, ws: Workspace, value: object) -> None:
        raise AttributeError(f"Workspace.{self.attribute} is read-only (always root / {self.name!r})")


class Workspace:
    """The folder where one scene's stages keep their results.

    Args:
        root: the workspace folder (created on first write).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def default_for(cls, mesh_path: str | Path) -> Workspace:
        """``omniseg/`` beside the mesh: where ``fit`` writes when no workspace is given."""
        return cls(Path(mesh_path).resolve().parent / DEFAULT_WORKSPACE_NAME)

    @classmethod
    def find(cls, root: str | Path | None = None) -> Workspace:
        """The workspace to read from: ``root`` if given, else ``./omniseg`` if it holds a field.

        Raises:
            FileNotFoundError: no fitted field where expected, with the fix.
        """
        candidates = [Path(root)] if root is not None else [Path.cwd() / DEFAULT_WORKSPACE_NAME, Path.cwd()]
        for cand in candidates:
            if (cand / "field.npz").is_file():
                return cls(cand)
        where = candidates[0]
        raise FileNotFoundError(
            f"no fitted field at {where / 'field.npz'}: run `omniseg-mesh fit MESH IMAGES/` first "
            "(it writes omniseg/ beside the mesh), or pass --workspace DIR"
        )

    # paths ---------------------------------------------------------------
    scene_json = _Entry("scene.json")
    masks_dir = _Entry("masks")
    hierarchy_dir = _Entry("hierarchy")
    fragments_dir = _Entry("fragments")
    checkpoints_dir = _Entry("checkpoints")
    field_path = _Entry("field.npz")
    parts_dir = _Entry("parts")
    geometry_path = _Entry("geometry.npz", "A copy of the fitted geometry, so later stages need no input files.")
    cameras_path = _Entry("cameras.json", "The input cameras in the project's own cameras.json format.")

    def save_geometry(self, vertices: np.ndarray, faces: np.ndarray | None, colors: np.ndarray | None) -> Path:
        """Store vertices [V,3] f32, faces [F,3] i32 (or none) and colors [V,3] u8 (or none)."""
        arrays: dict[str, Any] = {"vertices": np.asarray(vertices, np.float32)}
        if faces is not None:
            arrays["faces"] = np.asarray(faces, np.int32)
        if colors is not None:
            arrays["colors"] = np.asarray(colors, np.uint8)
        return atomic_save_npz(self.geometry_path, **arrays)

    def load_geometry(self) -> dict:
        """``{"vertices", "faces", "colors"}`` as stored by :meth:`save_geometry` (missing -> None)."""
        if not self.geometry_path.is_file():
            raise FileNotFoundError(
                f"no geometry in workspace {self.root} (expected {self.geometry_path.name}): "
                "run `omniseg-mesh fit` to create the workspace"
            )
        data = read_npz(
            self.geometry_path, what="workspace geometry", fix="re-run `omniseg-mesh fit` to write it again"
        )
        if "vertices" not in data:
            raise ValueError(
                f"{self.geometry_path}: workspace geometry has no array 'vertices' (found {sorted(data)}); "
                "re-run `omniseg-mesh fit` to write it again"
            )
        return {k: data.get(k) for k in ("vertices", "faces", "colors")}

    def exported_parts_dir(self) -> Path:
        """Where ``discretize`` last wrote this workspace's parts (recorded in scene.json), else ``parts/``."""
        recorded = self.read_scene_info().get("parts")
        if recorded:
            path = Path(recorded)
            path = path if path.is_absolute() else self.root / path
            if path.is_dir():
                return path
        return self.parts_dir

    def record_parts(self, out_dir: str | Path) -> None:
        """Remember where ``discretize`` wrote the parts, so ``render`` and the viewer use the same ones."""
        if self.root.is_dir():
            self.update_scene_info(parts=str(Path(out_dir).resolve()))

    def fragments_path(self, view_name: str) -> Path:
        return self.fragments_dir / f"{safe_view_name(view_name)}.npz"

    def hierarchy_path(self, view_name: str) -> Path:
        return self.hierarchy_dir / f"{safe_view_name(view_name)}.npz"

    # scene.json ------------------------------------------------------------
    def read_scene_info(self) -> dict:
        """The contents of ``scene.json`` ({} when absent)."""
        if not self.scene_json.is_file():
            return {}
        return read_json(self.scene_json, "workspace scene.json", "delete it and re-run `omniseg-mesh fit`")

    def write_scene_info(self, info: dict) -> None:
        atomic_write_json(self.scene_json, info)

    def update_scene_info(self, **entries: Any) -> dict:
        info = self.read_scene_info()
        info.update(entries)
        self.write_scene_info(info)
        return info

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"
