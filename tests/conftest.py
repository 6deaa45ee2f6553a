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
