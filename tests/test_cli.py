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


def test_mmrm_covariance_choices_match_the_model():
    from cytogate.cli.mmrm import COVARIANCE_CHOICES
    from cytogate.longitudinal.covariance import STRUCTURES

    assert set(COVARIANCE_CHOICES) == set(STRUCTURES)


def test_help_does_not_import_the_heavy_modules():
    # `cytogate --help` and every batch start pay for these imports otherwise.
    code = (
        "import sys\n"
        "from cytogate.cli import build_parser\n"
        "build_parser()\n"
        "heavy = [m for m in ('pandas', 'scipy', 'numba', 'matplotlib', 'cytogate.longitudinal') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
