"""Config dataclasses <-> CLI flags <-> YAML presets."""

import argparse
import dataclasses

import pytest

from omniseg3d_mesh.config import (
    STAGES,
    ConfigError,
    DiscretizeConfig,
    FitConfig,
    FragmentConfig,
    MaskConfig,
    RenderConfig,
    SelectConfig,
    add_dataclass_arguments,
    config_from_dict,
    config_to_dict,
    dataclass_from_namespace,
    load_config_file,
)


def _parser(cls):
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    add_dataclass_arguments(p, cls)
    return p


def test_flags_override_yaml_which_overrides_defaults(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("fit:\n  steps: 123\n  lr: 0.5\ndiscretize:\n  level: 2\n")
    args = _parser(FitConfig).parse_args(["--config", str(preset), "--lr", "0.1", "--no-absorb-containment"])
    cfg = dataclass_from_namespace(FitConfig, args, args.config)
    assert cfg.steps == 123 and cfg.lr == 0.1 and cfg.absorb_containment is False
    assert cfg.feature_dim == FitConfig().feature_dim
    d = dataclass_from_namespace(DiscretizeConfig, _parser(DiscretizeConfig).parse_args([]), preset)
    assert d.level == 2


def test_literal_flags_are_choices():
    with pytest.raises(SystemExit):
        _parser(DiscretizeConfig).parse_args(["--format", "stl"])
    assert (
        dataclass_from_namespace(DiscretizeConfig, _parser(DiscretizeConfig).parse_args(["--format", "obj"])).format
        == "obj"
    )


def test_unknown_yaml_field_is_named(tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text("fit:\n  stpes: 5\n")
    with pytest.raises(ValueError, match=r"unknown fit field\(s\) stpes"):
        load_config_file(preset, FitConfig)
    with pytest.raises(ValueError, match="unknown FitConfig field"):
        config_from_dict(FitConfig, {"nope": 1})
    with pytest.raises(
        ConfigError,
        match=r"missing.yaml not found; give a YAML file or one of the shipped presets: default, fast, paper",
    ):
        load_config_file(tmp_path / "missing.yaml", FitConfig)
    preset.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_config_file(preset, FitConfig)


def test_bundled_presets_load_for_every_stage():
    for cls in STAGES.values():
        values = load_config_file("configs/default.yaml", cls)
        assert config_from_dict(cls, values) == cls()
        assert config_to_dict(config_from_dict(cls, values)) == config_to_dict(cls())


def test_every_shipped_preset_loads_for_every_stage():
    from omniseg3d_mesh.config import preset_names

    assert {"default", "fast", "paper"} <= set(preset_names())
    for name in preset_names():
        for cls in STAGES.values():
            config_from_dict(cls, load_config_file(name, cls), source=name)


def test_every_subcommand_has_help(capsys):
    from omniseg3d_mesh.cli import COMMANDS, build_parser

    for name in COMMANDS:
        try:
            parser = build_parser(name)
        except ModuleNotFoundError:
            pytest.fail(f"command {name} has no module omniseg3d_mesh/cli/{name}.py")
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])
        assert "usage" in capsys.readouterr().out


# --------------------------------------------------------------------------- checks when built
@pytest.mark.parametrize(
    "cls, values, message",
    [
        (FitConfig, {"lr": -1.0}, r"FitConfig.lr must be > 0, got -1.0"),
        (FitConfig, {"steps": -5}, r"FitConfig.steps must be >= 0, got -5"),
        (FitConfig, {"num_pixels": 0}, r"FitConfig.num_pixels must be >= 1, got 0"),
        (FitConfig, {"mask_balanced": 1.5}, r"FitConfig.mask_balanced must be in \[0, 1\], got 1.5"),
        (FitConfig, {"temperature_alpha": 0.0}, r"FitConfig.temperature_alpha must be > 0, got 0.0"),
        (FitConfig, {"loss": "l2"}, r"FitConfig.loss must be one of 'affinity', 'contrastive', 'both', got 'l2'"),
        (FitConfig, {"lr": "1e-2"}, r"FitConfig.lr must be a float, got '1e-2' \(str\)"),
        (FitConfig, {"steps": 2.5}, r"FitConfig.steps must be an int, got 2.5 \(float\)"),
        (FitConfig, {"absorb_containment": 1}, r"FitConfig.absorb_containment must be a bool, got 1 \(int\)"),
        (SelectConfig, {"threshold": 1.2}, r"SelectConfig.threshold must be in \[-1, 1\], got 1.2"),
        (SelectConfig, {"step": -1}, r"SelectConfig.step must be >= 0, got -1"),
        (SelectConfig, {"knn": 0}, r"SelectConfig.knn must be >= 1, got 0"),
        (DiscretizeConfig, {"min_cluster_size": 1}, r"DiscretizeConfig.min_cluster_size must be >= 2, got 1"),
        (DiscretizeConfig, {"snap_distance": 0.9}, r"DiscretizeConfig.snap_distance must be in \[0, 0.5\], got 0.9"),
        (
            DiscretizeConfig,
            {"level_similarities": [0.7, 1.4]},
            r"DiscretizeConfig.level_similarities\[1\] must be in \[-1, 1\], got 1.4",
        ),
        (
            DiscretizeConfig,
            {"level_similarities": [0.3, 0.6]},
            r"DiscretizeConfig.level_similarities must decrease \(finer levels merge less\), got \[0.3, 0.6\]",
        ),
        (DiscretizeConfig, {"format": "stl"}, r"DiscretizeConfig.format must be one of 'ply', 'obj', 'glb', got 'stl'"),
        (MaskConfig, {"pred_iou_thresh": 1.1}, r"MaskConfig.pred_iou_thresh must be in \[0, 1\], got 1.1"),
        (MaskConfig, {"points_per_side": 0}, r"MaskConfig.points_per_side must be >= 1, got 0"),
        (
            MaskConfig,
            {"model": "vit_x"},
            r"MaskConfig.model must be one of 'vit_h', 'vit_l', 'vit_b', 'auto', got 'vit_x'",
        ),
        (RenderConfig, {"overlay_alpha": -0.1}, r"RenderConfig.overlay_alpha must be in \[0, 1\], got -0.1"),
        (RenderConfig, {"level": -1}, r"RenderConfig.level must be >= 0, got -1"),
        (RenderConfig, {"fragments": {"backend": "cpu"}}, r"RenderConfig.fragments must be a FragmentConfig, got dict"),
        (FragmentConfig, {"point_radius": 0.0}, r"FragmentConfig.point_radius must be > 0, got 0.0"),
        (
            FragmentConfig,
            {"backend": "gl"},
            r"FragmentConfig.backend must be one of 'auto', 'cpu', 'nvdiffrast', got 'gl'",
        ),
    ],
)
def test_out_of_range_values_are_refused_with_field_range_and_value(cls, values, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        cls(**values)


def test_configs_are_frozen_hashable_and_changed_with_replace():
    cfg = DiscretizeConfig(level_similarities=[0.8, 0.5])
    assert cfg.level_similarities == (0.8, 0.5)  # lists become tuples: immutable all the way down
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.level = 2  # type: ignore[misc]
    assert hash(cfg) == hash(DiscretizeConfig(level_similarities=(0.8, 0.5)))
    assert dataclasses.replace(cfg, level=2).level == 2 and cfg.level is None
    with pytest.raises(ValueError, match=r"DiscretizeConfig.level must be >= 0, got -2"):
        dataclasses.replace(cfg, level=-2)
    assert FitConfig(lr=1).lr == 1  # an int is a valid float
    assert config_to_dict(cfg)["level_similarities"] == [0.8, 0.5]  # plain YAML/JSON again


def test_render_holds_a_fragment_config_in_yaml_flags_and_dicts(tmp_path):
    assert RenderConfig().fragments == FragmentConfig()
    assert "backend" not in {f.name for f in dataclasses.fields(RenderConfig)}  # not repeated
    assert config_to_dict(RenderConfig())["fragments"] == config_to_dict(FragmentConfig())
    preset = tmp_path / "r.yaml"
    preset.write_text("render:\n  what: pca\n  fragments:\n    backend: cpu\n    point_radius: 0.02\n")
    args = _parser(RenderConfig).parse_args(["--config", str(preset), "--point-radius", "0.05", "--point-mode"])
    cfg = dataclass_from_namespace(RenderConfig, args, args.config)
    assert cfg.what == "pca" and cfg.fragments == FragmentConfig(backend="cpu", point_radius=0.05, point_mode=True)
    assert config_from_dict(RenderConfig, config_to_dict(cfg)) == cfg  # round trip through plain dicts


def test_old_flat_render_keys_say_where_they_live_now(tmp_path):
    preset = tmp_path / "old.yaml"
    preset.write_text("render:\n  backend: cpu\n")
    with pytest.raises(ConfigError, match=r"unknown render field\(s\) backend \(backend belongs under 'fragments:'"):
        load_config_file(preset, RenderConfig)
    with pytest.raises(
        ConfigError, match=r"spec: unknown RenderConfig field\(s\) point_radius \(point_radius belongs under"
    ):
        config_from_dict(RenderConfig, {"point_radius": 0.1}, source="spec")
    preset.write_text("render:\n  fragments:\n    backnd: cpu\n")
    with pytest.raises(
        ConfigError, match=r"unknown render.fragments field\(s\) backnd; known fields: backend, point_mode"
    ):
        load_config_file(preset, RenderConfig)


def test_bad_values_from_a_preset_or_flag_are_usage_errors(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("fit:\n  lr: 1e-2\n")  # YAML 1.1 reads 1e-2 (no dot) as a string
    with pytest.raises(
        ConfigError, match=r"p.yaml with the command line: FitConfig.lr must be a float, got '1e-2' \(str\)"
    ):
        dataclass_from_namespace(FitConfig, _parser(FitConfig).parse_args([]), preset)
    with pytest.raises(ConfigError, match=r"^the command line: FitConfig.steps must be >= 0, got -1$"):
        dataclass_from_namespace(FitConfig, _parser(FitConfig).parse_args(["--steps", "-1"]))
    preset.write_text("fit:\n  steps: 5\nsteps: 3\n")
    with pytest.raises(ConfigError, match=r"p.yaml: steps not a stage; put fields under their stage's section"):
        load_config_file(preset, FitConfig)


def test_help_shows_each_default_once():
    for cls in STAGES.values():
        actions = [a for a in _parser(cls)._actions if a.dest.startswith(f"{cls.__name__}.")]
        assert actions
        for action in actions:
            assert action.help.count("(default:") == 1 and action.help.endswith(")"), (action.dest, action.help)
    helps = {a.dest: a.help for cls in STAGES.values() for a in _parser(cls)._actions}
    assert helps["FitConfig.num_threads"].endswith("busy with other work (default: 0)")  # 'default' in the text
    assert helps["DiscretizeConfig.level"].endswith(
        "(default: automatic: the cut the training masks agree with, else the most persistent cut of the part tree)"
    )
    assert helps["DiscretizeConfig.level_similarities"].endswith("(default: 0.7 0.4)")
    assert helps["RenderConfig.fragments.point_radius"].endswith("(default: 1.5x the median nearest-neighbour spacing)")
