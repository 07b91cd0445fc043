"""Shared by the in-process CLI tests."""

import logging

import pytest


@pytest.fixture(autouse=True)
def _restore_logging():
    """The CLI installs a rich handler on the package logger; undo it so caplog works elsewhere."""
    logger = logging.getLogger("omniseg3d_mesh")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield
    logger.handlers[:] = handlers
    logger.propagate, logger.level = propagate, level
