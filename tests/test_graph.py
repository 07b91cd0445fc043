"""Graphs: mesh edges, components, k-NN, bridging of touching pieces, diffusion, voxel clusters."""

import numpy as np
import pytest

from omniseg3d_mesh import graph


def test_mesh_graph_components_and_diffusion():
    faces = np.array([[0, 1, 2], [1, 2, 3], [4, 5, 6]])
    adj = graph.mesh_adjacency(faces, 7)
    assert adj[0, 1] == 1 and adj[1, 0] == 1 and adj[0, 4] == 0
    labels = graph.connected_components(adj)
    assert labels[0] == labels[3] != labels[4]
    masked = graph.connected_components(adj, np.array([1, 0, 0, 1, 1, 1, 1], bool))
    assert masked[1] == -1 and masked[0] != masked[3]  # 0 and 3 only touch through 1 and 2
    feats = np.zeros((7, 2), np.float32)
    feats[0] = (1, 0)
    known = np.zeros(7, bool)
    known[0] = True
    known[4] = True
    feats[4] = (0, 1)
    out = graph.diffuse_features(feats, known, adj, iterations=5)
    np.testing.assert_allclose(out[3], (1, 0))
    np.testing.assert_allclose(out[6], (0, 1))


def test_knn_graph_is_symmetric():
    pts = np.random.default_rng(0).normal(size=(50, 3))
    adj = graph.knn_adjacency(pts, k=4)
    assert (adj != adj.T).nnz == 0 and adj.diagonal().sum() == 0
    assert np.all(np.diff(adj.indptr) >= 4)


def _diffuse_reference(feats, known, adj, iterations):
    """The obvious dense version of graph.diffuse_features."""
    a = adj.toarray().astype(np.float64)
    f = np.where(known[:, None], feats, 0.0).astype(np.float64)
    reached = known.copy()
    for _ in range(iterations):
        w = a @ reached
        acc = a @ (f * reached[:, None])
        upd = ~known & (w > 0)
        f[upd] = acc[upd] / w[upd, None]
        reached |= upd
    f[~reached] = f[known].mean(axis=0)
    return f


@pytest.mark.parametrize("unknown_fraction", [0.01, 0.6])  # neighbourhood-only sweeps (15 % of V read), and full ones
def test_diffusion_matches_the_dense_reference(unknown_fraction):
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=3)
    adj = graph.mesh_adjacency(mesh.faces, len(mesh.vertices))
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(len(mesh.vertices), 4)).astype(np.float32)
    known = rng.random(len(mesh.vertices)) > unknown_fraction
    known[mesh.vertices[:, 2] > 0.8] = False  # an unseen cap, several rings deep
    out = graph.diffuse_features(feats, known, adj, iterations=7)
    np.testing.assert_allclose(out, _diffuse_reference(feats, known, adj, 7), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[known], feats[known])


def test_touching_mesh_pieces_are_bridged_far_ones_are_not():
    import trimesh

    top = trimesh.creation.box(extents=(1, 1, 0.1)).subdivide().subdivide()
    leg = trimesh.creation.box(extents=(0.1, 0.1, 0.5)).subdivide()
    leg.apply_translation((0.3, 0.3, -0.27))  # pushed into the top
    far = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    far.apply_translation((5, 0, 0))
    pieces = [top, leg, far]
    verts = np.concatenate([p.vertices for p in pieces])
    offsets = np.cumsum([0] + [len(p.vertices) for p in pieces])
    faces = np.concatenate([p.faces + o for p, o in zip(pieces, offsets)])
    plain = graph.connected_components(graph.vertex_graph(verts, faces))
    assert len(np.unique(plain)) == 3
    joined = graph.connected_components(graph.vertex_graph(verts, faces, bridge=True))
    assert joined[0] == joined[offsets[1]]  # top and leg joined
    assert joined[offsets[2]] != joined[0]  # the far box stays apart


def test_voxel_clusters_near_target():
    from omniseg3d_mesh.graph import voxel_clusters

    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, (20000, 3))
    pts[:, 2] = 0.0  # a surface
    labels, count = voxel_clusters(pts, 400)
    assert 300 <= count <= 520 and labels.max() == count - 1 and len(labels) == len(pts)
    # vertices of one voxel are close together
    for c in range(3):
        members = pts[labels == c]
        assert np.ptp(members[:, 0]) < 0.1 and np.ptp(members[:, 1]) < 0.1


def test_voxel_clusters_aims_the_masked_vertices_at_the_target_and_labels_every_vertex():
    from omniseg3d_mesh.graph import voxel_clusters

    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 1, (20000, 3))
    pts[:, 2] = 0.0
    mask = pts[:, 0] < 0.5  # half the surface is "seen"
    labels, count = voxel_clusters(pts, 400, mask=mask)
    masked = len(np.unique(labels[mask]))
    assert 0.85 * 400 < masked < 1.15 * 400  # the search counts the masked vertices' voxels
    assert count == len(np.unique(labels)) and count > 1.6 * masked  # the unmasked half has voxels too


def test_surface_graph_drops_neighbours_whose_normals_disagree():
    gx, gy = np.meshgrid(np.arange(0.0, 0.2, 0.01), np.arange(0.0, 0.2, 0.01))
    floor = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], 1)
    wall = np.stack([np.full(gx.size, 0.2), gx.ravel(), gy.ravel() + 0.005], 1)
    pts = np.concatenate([floor, wall])
    on_wall = np.arange(len(pts)) >= len(floor)
    normals = np.where(on_wall[:, None], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0])  # signs do not matter
    knn = graph.knn_adjacency(pts, 8)
    u, v = graph.edge_arrays(knn)
    assert (on_wall[u] != on_wall[v]).any()  # the plain graph joins them along the foot
    surf = graph.surface_graph(pts, None, normals=normals)
    su, sv = graph.edge_arrays(surf)
    assert not (on_wall[su] != on_wall[sv]).any()
    assert len(su) == int((on_wall[u] == on_wall[v]).sum())  # every same-surface edge stays
    assert (surf != surf.T).nnz == 0
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    mesh_pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 1.0]])
    assert (graph.surface_graph(mesh_pts, faces) != graph.mesh_adjacency(faces, 4)).nnz == 0


def test_face_to_vertex_labels_takes_the_label_of_most_area_ties_to_the_smaller_one():
    # a fan of four triangles around vertex 0; vertex 5 is on no face
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 1]])
    labels = np.array([7, 7, 3, -1])
    out = graph.face_to_vertex_labels(faces, labels, 6, areas=np.array([1.0, 1.0, 3.0, 9.0]))
    # vertex 0: label 7 has area 2, label 3 has 3 (the unlabelled face never wins); vertex 3: 7 (1) < 3 (3)
    np.testing.assert_array_equal(out, [3, 7, 7, 3, 3, -1])
    # equal weights: vertex 0 sees 7 twice and 3 once; vertex 3 sees 7 and 3 once each -> the smaller, 3
    np.testing.assert_array_equal(graph.face_to_vertex_labels(faces, labels, 6), [7, 7, 7, 3, 3, -1])
    with pytest.raises(ValueError, match="one label per face"):
        graph.face_to_vertex_labels(faces, labels[:2], 6)
