"""Scripts of ``tools/`` loaded as modules, so the tests call their ``main(argv)`` in-process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def load_tool(name: str, monkeypatch: pytest.MonkeyPatch | None = None) -> ModuleType:
    """``tools/<name>.py`` as a module.

    With ``monkeypatch`` the module is also registered in ``sys.modules`` (tools whose
    dataclasses look their module up) and ``tools/`` put on ``sys.path`` (tools that import
    its helpers), both undone after the test.
    """
    path = TOOLS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    mod = importlib.util.module_from_spec(spec)
    if monkeypatch is not None:
        monkeypatch.syspath_prepend(str(TOOLS))
        monkeypatch.setitem(sys.modules, name, mod)
    spec.loader.exec_module(mod)
    return mod
