"""The feature x client table, computed from the collected tests.

Each test carries a `covers` marker (registry.covers / registry.for_clients);
its clients are the `client` parameter of a parametrized test, else the
marker's `clients`. A cell counts the tests that prove that feature with
that client. `make compat-matrix` writes the table into
docs/compatibility.md.
"""

from __future__ import annotations

from collections import defaultdict

import registry


def coverage(items) -> dict[tuple[str, str], int]:
    cells: dict[tuple[str, str], int] = defaultdict(int)
    for item in items:
        for mark in item.iter_markers("covers"):
            names = list(mark.kwargs.get("clients") or [])
            callspec = getattr(item, "callspec", None)
            param = callspec.params.get("client") if callspec is not None else None
            if isinstance(param, registry.Client):
                names = [param.name]
            for feature in mark.args:
                for name in names:
                    cells[(feature, name)] += 1
    return cells


def render(items) -> str:
    cells = coverage(items)
    clients = [c.name for c in registry.CLIENTS]
    lines = ["| client | version | features proven by tests |", "| --- | --- | --- |"]
    for c in registry.CLIENTS:
        proven = [f for f in registry.FEATURES if cells.get((f, c.name))]
        tests = sum(n for (f, name), n in cells.items() if name == c.name)
        lines.append(f"| {c.name} | {c.version} | {', '.join(proven) or '-'} ({tests}) |")
    lines += ["", "| feature | " + " | ".join(clients) + " |",
              "| --- | " + " | ".join("---" for _ in clients) + " |"]
    for feature in registry.FEATURES:
        row = [str(cells.get((feature, c), "")) for c in clients]
        if any(row):
            lines.append(f"| {feature} | " + " | ".join(row) + " |")
    lines.append("")
    lines.append("A cell counts the tests (each parametrization once) that prove the feature with that client; "
                 "the number after a client's features is the sum of its cells. An empty cell: no test.")
    return "\n".join(lines) + "\n"


BEGIN = "<!-- compat-matrix:begin (make compat-matrix) -->"
END = "<!-- compat-matrix:end -->"


def splice(doc_path: str, table_path: str) -> None:
    """Replace the table between the markers in doc_path with table_path's."""
    from pathlib import Path

    doc = Path(doc_path).read_text()
    table = Path(table_path).read_text()
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    Path(doc_path).write_text(f"{head}{BEGIN}\n{table}{END}{tail}")


if __name__ == "__main__":
    import sys

    splice(sys.argv[1], sys.argv[2])
