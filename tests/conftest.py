"""Fixtures shared by the test modules (helpers they share: ``tests/helpers.py``)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory):
    """One build tree for the whole session, so fitted specs are shared
    between tests (the spec cache is itself under test)."""
    return tmp_path_factory.mktemp("build")


def _rowwise(cfg, build_dir):
    from flow.build import rowwise_model
    return rowwise_model(cfg, build_dir)[0]


@pytest.fixture(scope="session")
def softmax(build_dir):
    """The golden model of the default 16-entry softmax unit."""
    from hw.softmax.config import Softmax
    return _rowwise(Softmax(16), build_dir)


@pytest.fixture(scope="session")
def layernorm(build_dir):
    """The golden model of the default 16-entry LayerNorm unit."""
    from hw.layernorm.config import LayerNorm
    return _rowwise(LayerNorm(16), build_dir)


@pytest.fixture(scope="session")
def softmax8(build_dir):
    """An 8-entry softmax model (the stream example's)."""
    from hw.softmax.config import Softmax
    return _rowwise(Softmax(8), build_dir)


@pytest.fixture(scope="session")
def layernorm8_affine(build_dir):
    """An 8-entry, 8-wide LayerNorm model with gamma and beta (the stream tests')."""
    from hw.layernorm.config import LayerNorm
    return _rowwise(LayerNorm(8, row_len=8, affine=True), build_dir)
