"""Fixtures shared by every test; the helpers behind them live in :mod:`tests.helpers`."""

from __future__ import annotations

import pytest

from tests.helpers.scenes import make_box_scene


@pytest.fixture
def box_scene():
    return make_box_scene()
