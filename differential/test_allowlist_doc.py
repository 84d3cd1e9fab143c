"""The allow-list as docs/compatibility.md shows it is the current one, and
every entry has a reason (no broker needed)."""

import pytest

import allowlist_doc
from compare import Allowlist


@pytest.mark.smoke
def test_compatibility_doc_shows_the_current_allowlist():
    doc = allowlist_doc.DOC.read_text()
    assert allowlist_doc.BEGIN in doc and allowlist_doc.END in doc
    expected = allowlist_doc.updated(doc, allowlist_doc.ALLOWLIST.read_text())
    assert doc == expected, "docs/compatibility.md is stale: run python3 differential/allowlist_doc.py"


@pytest.mark.smoke
def test_every_entry_has_a_reason_and_paths():
    entries = Allowlist.load().entries
    assert entries
    for e in entries:
        assert e.reason.strip() and e.paths, e
