"""``omniseg-mesh batch``: flag checks (each error message) and the stage list."""

from __future__ import annotations

import pytest

from omniseg3d_mesh.batch import parse_stages
from omniseg3d_mesh.cli import main


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "SCENES.yaml"
    p.write_text("scenes:\n  - {name: a, mesh: a.ply, images: img}\n")
    return p


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--max-retries", "-1"], r"--max-retries must be >= 0, found -1"),
        (["--gpus-per-fit", "0"], r"--gpus-per-fit and --cpus-per-fit must be > 0, found 0.0 and 1.0"),
        (
            ["--executor", "local", "--address", "auto"],
            r"--address joins a Ray cluster, but --executor local runs without Ray",
        ),
        (
            ["--stages", "fit,discretise"],
            r"--stages: unknown stage\(s\) discretise; expected a comma-separated subset of masks,fit,discretize,render",
        ),
    ],
)
def test_cli_flag_errors(spec, flags, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(spec), *flags])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err
    import re

    assert re.search(match, " ".join(err.split())), err


def test_parse_stages_orders_and_checks():
    assert parse_stages("render,fit") == ("fit", "render")
    assert parse_stages(["masks"]) == ("masks",)
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \(none given\)"):
        parse_stages(" , ")


def test_address_without_a_cluster_names_the_fix(spec, capsys, monkeypatch):
    pytest.importorskip("ray")
    import ray

    if ray.is_initialized():  # pragma: no cover - another test left Ray running
        pytest.skip("a Ray instance is running in this process")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # --address auto would take it
    try:  # a cluster on this machine (`ray start`, another user's job): auto would join it
        from ray._private.services import find_gcs_addresses

        running = bool(find_gcs_addresses())
    except Exception:  # pragma: no cover - Ray moved its private helper: assume none
        running = False
    if running:  # pragma: no cover - depends on the machine
        pytest.skip("a Ray cluster is running on this machine; --address auto would join it")
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(spec), "--address", "auto"])
    assert exc.value.code == 1  # a run-time failure: no cluster to join
    err = " ".join(capsys.readouterr().err.split())
    assert "--address auto: no Ray cluster to join (Could not find any running Ray instance" in err
    assert "fix: start one with `ray start --head`" in err
