"""Config dataclasses <-> CLI flags <-> YAML presets."""

import argparse

import pytest

from omniseg3d_mesh.config import (
    STAGES,
    ConfigError,
    DiscretizeConfig,
    FitConfig,
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
    assert dataclass_from_namespace(DiscretizeConfig, _parser(DiscretizeConfig).parse_args(["--format", "obj"])).format == "obj"


def test_unknown_yaml_field_is_named(tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text("fit:\n  stpes: 5\n")
    with pytest.raises(ValueError, match=r"unknown fit field\(s\) stpes"):
        load_config_file(preset, FitConfig)
    with pytest.raises(ValueError, match="unknown FitConfig field"):
        config_from_dict(FitConfig, {"nope": 1})
    with pytest.raises(ConfigError, match=r"missing.yaml not found; give a YAML file or one of the shipped presets: default, fast, paper"):
        load_config_file(tmp_path / "missing.yaml", FitConfig)
    preset.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_config_file(preset, FitConfig)


def test_bundled_presets_load_for_every_stage():
    for cls in STAGES.values():
        values = load_config_file("configs/default.yaml", cls)
        assert config_to_dict(cls(**values)) == config_to_dict(cls())


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
