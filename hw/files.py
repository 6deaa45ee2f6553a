"""Atomic file output: a reader never sees a half-written file, and a file
whose content is unchanged is not rewritten (its mtime stays, so make and
chip-team flows do not rebuild). And the one way a plot becomes a file
(:func:`pyplot`, :func:`png_bytes`): the same figure always gives the same
bytes, so a rerun leaves every PNG as it was."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes | str) -> bool:
    """Write ``data`` to ``path`` through a temporary file in the same
    directory and a rename. Returns False (and touches nothing) when the
    file already holds exactly ``data``."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # mkstemp creates 0600; give the file the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed),
    imported on first use so that nothing else pays for matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def png_bytes(fig, dpi: int) -> bytes:
    """``fig`` laid out (``tight_layout``) and rendered as PNG bytes with no
    Software/time metadata, so the same figure always gives the same file;
    the figure is closed."""
    plt = pyplot()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
