"""Every public name a package lists resolves (names are imported on first use, so a stale table hides)."""

import importlib

import pytest


@pytest.mark.parametrize("package", ["cytogate", "cytogate.batch", "cytogate.compensation", "cytogate.report"])
def test_every_listed_name_resolves(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute"):
        module.no_such_name  # noqa: B018
