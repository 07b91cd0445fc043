"""The command-line entry point."""


def test_cli_help_lists_commands(capsys):
    from omniseg3d_mesh.cli import COMMANDS, main

    assert main([]) == 2  # no command: a usage error
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
