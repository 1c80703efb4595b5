import pytest

import cytogate
from cytogate import errors


@pytest.mark.parametrize(
    "cls, builtin",
    [
        (errors.FcsError, ValueError),
        (errors.StrategyError, ValueError),
        (errors.MarkerError, LookupError),
        (errors.CompensationError, ValueError),
        (errors.SampleSheetError, ValueError),
        (errors.BatchError, RuntimeError),
        (errors.OutputError, OSError),
    ],
)
def test_each_error_is_also_its_builtin(cls, builtin):
    assert issubclass(cls, cytogate.CytogateError)
    assert issubclass(cls, builtin)


def test_message_names_file_and_location():
    exc = errors.FcsError("TEXT segment ends beyond the file", path="a.fcs", offset=58)
    assert str(exc) == "a.fcs: TEXT segment ends beyond the file (offset 58)"


def test_top_level_exports():
    assert cytogate.FcsError is errors.FcsError
    assert cytogate.CytogateError is errors.CytogateError
    with pytest.raises(AttributeError):
        cytogate.not_a_thing  # noqa: B018


@pytest.mark.parametrize(
    "exc, code",
    [
        (errors.StrategyError("bad"), errors.EXIT_BAD_INPUT),
        (errors.MarkerError("no CD3"), errors.EXIT_BAD_INPUT),
        (errors.BatchError("no inputs"), errors.EXIT_BAD_INPUT),
        (errors.OutputError("disk full"), errors.EXIT_ENVIRONMENT),
        (errors.FolderInUseError("locked"), errors.EXIT_ENVIRONMENT),
        (OSError(28, "No space left on device"), errors.EXIT_ENVIRONMENT),
        (OSError(30, "Read-only file system"), errors.EXIT_ENVIRONMENT),
        (MemoryError(), errors.EXIT_ENVIRONMENT),
        (FileNotFoundError(2, "No such file"), errors.EXIT_BAD_INPUT),
        (KeyboardInterrupt(), errors.EXIT_INTERRUPTED),
        (ZeroDivisionError(), errors.EXIT_INTERNAL),
    ],
)
def test_exit_codes_tell_the_environment_from_bad_input(exc, code):
    assert errors.exit_code_of(exc) == code


def test_every_error_class_is_in_the_documented_tree():
    documented = errors.__doc__
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, errors.CytogateError):
            assert name in documented, name


def test_a_folder_locked_by_another_run_exits_4(tmp_path, capsys):
    from cytogate.batch.lock import OutputLock
    from cytogate.cli import main

    (tmp_path / "a.yaml").write_text("cytogate_strategy: 1\npopulations:\n  A: {range: {X: {min: 1}}}\n")
    import numpy as np

    from cytogate.fcs import write_fcs

    write_fcs(tmp_path / "s.fcs", np.ones((5, 1), dtype=np.float32), ["X"])
    with OutputLock(tmp_path / "out"):
        code = main(["run", str(tmp_path / "a.yaml"), str(tmp_path / "s.fcs"), "--out", str(tmp_path / "out")])
    assert code == errors.EXIT_ENVIRONMENT
    assert "in use by another cytogate run" in capsys.readouterr().err
