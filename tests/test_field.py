"""The feature field: save/load round trip and scores."""

import numpy as np
import pytest

from omniseg3d_mesh.field import Field


def test_field_roundtrip_and_scores(tmp_path):
    f = Field(np.array([[1, 0], [0, 2], [1, 1]], np.float32), meta={"a": 1})
    f.save(tmp_path / "field.npz")
    g = Field.load(tmp_path / "field.npz")
    assert g.meta["a"] == 1 and g.meta["field_version"] == 1
    np.testing.assert_allclose(g.scores([1, 0]), [1, 0, np.sqrt(0.5)], atol=1e-6)
    with pytest.raises(FileNotFoundError, match="no field file"):
        Field.load(tmp_path / "missing.npz")
