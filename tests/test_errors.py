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
