"""Workspace files: atomic writes and folders, content hashes, the find error, the umask, stale temp folders."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from omniseg3d_mesh.workspace import (
    Workspace,
    atomic_directory,
    atomic_save_npz,
    atomic_write_text,
    clean_stale_temp_dirs,
    content_hash,
)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_outputs_respect_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        f = atomic_write_text(tmp_path / "a.txt", "x")
        n = atomic_save_npz(tmp_path / "b.npz", x=np.zeros(3))
        with atomic_directory(tmp_path / "parts") as tmp:
            (tmp / "labels.txt").write_text("0\n")
    finally:
        os.umask(old)
    assert _mode(f) == _mode(n) == 0o666 & ~mask  # not 0600
    assert _mode(tmp_path / "parts") == 0o777 & ~mask  # not 0700


def test_interrupted_write_folder_is_cleaned_up_by_the_next_run(tmp_path, umask_022):
    """A run killed inside atomic_directory (kill -9: no cleanup) leaves .parts.*.tmp; the next run removes it."""
    code = textwrap.dedent(f"""
        import os
        from omniseg3d_mesh.workspace import atomic_directory
        with atomic_directory({str(tmp_path / "parts")!r}) as tmp:
            (tmp / "half.txt").write_text("x")
            os._exit(9)
    """)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".parts.") and left[0].endswith(".tmp")
    legacy = tmp_path / ".parts.abc123_x.tmp"  # the name used before temp folders carried host and pid
    legacy.mkdir()
    with atomic_directory(tmp_path / "parts") as tmp:
        (tmp / "labels.txt").write_text("0\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]


def test_a_live_run_keeps_its_temp_folder(tmp_path):
    with atomic_directory(tmp_path / "parts") as tmp:
        assert clean_stale_temp_dirs(tmp_path, "parts") == []  # our own process is alive
        assert tmp.is_dir()
    assert (tmp_path / "parts").is_dir()


def test_atomic_directory_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "parts"
    with pytest.raises(RuntimeError), atomic_directory(final) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("boom")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with atomic_directory(final) as tmp:
        (tmp / "a.txt").write_text("ok")
    assert (final / "a.txt").read_text() == "ok"
    with pytest.raises(RuntimeError), atomic_directory(final) as tmp:
        raise RuntimeError("second run fails")
    assert (final / "a.txt").read_text() == "ok"  # the earlier result survives


def test_content_hash_changes_with_content(tmp_path):
    a = np.arange(10)
    assert content_hash(a) == content_hash(a.copy())
    assert content_hash(a) != content_hash(a + 1)
    atomic_save_npz(tmp_path / "x.npz", x=a)
    assert np.array_equal(np.load(tmp_path / "x.npz")["x"], a)


def test_workspace_find_error_names_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `omniseg-mesh fit"):
        Workspace.find(tmp_path)
