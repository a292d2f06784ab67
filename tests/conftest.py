from __future__ import annotations

import os

import pytest

# Tests never read a developer's own settings.
for var in ("FMNIST_DATA", "FMNIST_BASE_URL"):
    os.environ.pop(var, None)


@pytest.fixture(scope="session")
def real_data_dir():
    """The folder holding the real dataset. CI installs it; missing data is a failure, not a skip."""
    from fmnist import data

    return data.locate().path
