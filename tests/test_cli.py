"""The command line as users and scripts see it."""

import subprocess
import sys

import pytest

from forecast.cli import app
from tests.conftest import run_forecast


def test_import_does_not_load_tensorflow_or_matplotlib():
    code = ("import sys, forecast.cli; "
            "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_help_and_version_from_a_fresh_process():
    done = run_forecast("--help")
    assert done.returncode == 0 and b"inspect" in done.stdout
    done = run_forecast("--version")
    assert done.returncode == 0 and done.stdout.startswith(b"forecast ")


def command_names():
    import typer
    return sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("name", command_names())
def test_every_command_has_help_text(cli, name):
    import typer
    command = typer.main.get_command(app).commands[name]
    assert command.help and len(command.help.strip()) > 20
    result = cli(name, "--help")
    assert result.exit_code == 0 and "Usage:" in result.stdout
    for param in command.params:
        if param.name != "help":
            assert param.help, f"{name} {param.name} has no help"


def test_unknown_option_is_one_line_exit_2(cli):
    result = cli("inspect", "--nope", "x.csv")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "forecast: error: No such option: --nope (see 'forecast inspect --help')"]


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "inspect", "missing.csv")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "forecast: error:" in result.stderr
