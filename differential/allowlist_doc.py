"""Renders differential/allowlist.toml into docs/compatibility.md.

The allow-list is the one place intended differences from Apache Kafka are
written down; the doc shows it between the `allowlist:begin` and
`allowlist:end` markers. `python3 differential/allowlist_doc.py` rewrites
that part; test_allowlist_doc.py fails when it is stale.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALLOWLIST = HERE / "allowlist.toml"
DOC = HERE.parent / "docs" / "compatibility.md"
BEGIN, END = "<!-- allowlist:begin -->", "<!-- allowlist:end -->"


def render(allowlist_text: str) -> str:
    entries = tomllib.loads(allowlist_text).get("difference", [])
    pending = [e for e in entries if e["reason"].startswith("PENDING")]
    lines = [
        f"{len(entries)} entries, {len(pending)} of them PENDING (Runnel bugs being fixed: issue 10 "
        "or the lead's files). Generated from `differential/allowlist.toml` by "
        "`python3 differential/allowlist_doc.py`; do not edit by hand.",
        "",
        "| scenario | where (paths) | why |",
        "| --- | --- | --- |",
    ]
    for e in entries:
        paths = e.get("paths") or [e["path"]]
        where = ", ".join(f"`{p}`" for p in paths)
        if e.get("when"):
            where += f" ({e['when']})"
        reason = " ".join(e["reason"].split()).replace("|", "\\|")
        lines.append(f"| `{e['scenario']}` | {where} | {reason} |")
    return "\n".join(lines)


def updated(doc_text: str, allowlist_text: str) -> str:
    head, rest = doc_text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render(allowlist_text)}\n{END}{tail}"


def main() -> int:
    DOC.write_text(updated(DOC.read_text(), ALLOWLIST.read_text()))
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
