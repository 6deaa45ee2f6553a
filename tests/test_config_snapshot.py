"""Names, make lines, requests and command-line outcomes stay what they were
(tests/snapshot.py; the record is rewritten only for an intended change)."""

import json

from tests.snapshot import RECORD, snapshot


def test_configuration_snapshot_is_unchanged():
    was, now = json.loads(RECORD.read_text()), json.loads(json.dumps(snapshot()))
    diffs = [f"{part} {k!r}: was {was[part].get(k)!r}, now {now[part].get(k)!r}"
             for part in now for k in sorted(set(now[part]) | set(was[part])) if now[part].get(k) != was[part].get(k)]
    assert not diffs, f"{len(diffs)} difference(s) (python -m tests.snapshot):\n" + "\n".join(diffs[:20])
