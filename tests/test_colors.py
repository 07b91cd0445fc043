"""One palette: a part has the same colour in the viewer, the rendered overlay and the exported file."""

from __future__ import annotations

import numpy as np
import pytest

from omniseg3d_mesh.colors import label_colors, part_palette, pca_colors, score_colors


def test_label_k_has_one_colour_in_viewer_overlay_and_export(tmp_path, box_scene):
    import trimesh

    from omniseg3d_mesh.io.export import export_parts
    from omniseg3d_mesh.render.fragments import compute_fragments
    from omniseg3d_mesh.render.labels import overlay, render_label_map
    from omniseg3d_mesh.viewer.state import ViewerState

    scene, labels = box_scene
    labels = labels.astype(np.int32)
    rng = np.random.default_rng(0)
    state = ViewerState(rng.normal(size=(scene.num_vertices, 4)).astype(np.float32), scene.vertices, scene.faces)
    state.parts = labels
    viewer = state.colors("parts")

    lab_map = render_label_map(compute_fragments(scene, scene.cameras[0], "cpu"), labels)
    painted = overlay(None, lab_map, alpha=1.0, boundaries=False)

    export_parts(tmp_path / "parts", scene.vertices, scene.faces, None, labels)
    seg = trimesh.load(tmp_path / "parts" / "segmented.ply", process=False)
    exported = np.asarray(seg.visual.vertex_colors)[:, :3]

    pal = part_palette(3)
    for k in range(3):
        np.testing.assert_array_equal(viewer[labels == k], np.broadcast_to(pal[k], ((labels == k).sum(), 3)))
        np.testing.assert_array_equal(exported[labels == k], np.broadcast_to(pal[k], ((labels == k).sum(), 3)))
        seen = lab_map == k
        assert seen.any(), f"part {k} is not visible in the first view"
        np.testing.assert_array_equal(painted[seen], np.broadcast_to(pal[k], (seen.sum(), 3)))


def test_label_colors_unlabelled_and_heat_map():
    out = label_colors(np.array([-1, 0, 2]), none_color=(1, 2, 3))
    np.testing.assert_array_equal(out, [[1, 2, 3], part_palette(3)[0], part_palette(3)[2]])
    assert label_colors(np.full(4, -1)).tolist() == [[128, 128, 128]] * 4
    heat = score_colors(np.array([-1.0, 1.0, np.nan]))
    assert heat[0, 2] > heat[0, 0] and heat[1, 0] > heat[1, 2] and tuple(heat[2]) == (96, 96, 96)


def test_pca_colors_error():
    with pytest.raises(ValueError, match=r"features must have shape \(V, D\)"):
        pca_colors(np.zeros((0, 3)))
