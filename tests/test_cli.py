import subprocess
import sys

from cytogate import __version__
from cytogate.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2


def test_console_script_help_runs():
    out = subprocess.run([sys.executable, "-m", "cytogate", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "exit codes" in out.stdout
