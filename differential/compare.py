"""Field-by-field comparison of what Kafka and Runnel answered.

`diff(kafka, runnel)` walks two observations (dicts, lists and scalars, as
kproto decodes them) and returns every path where they differ. Arrays whose
schema names `mapKey` fields (kproto.KeyedList) are matched entry by entry on
those keys, so order does not matter where Kafka's protocol says it does
not; other arrays are compared position by position.

What legitimately varies between two brokers (ports, cluster and topic ids,
timestamps, member ids) is replaced explicitly by each scenario through a
`Normalizer` before the comparison, after checking the value's shape: a
field is never dropped, only mapped to a placeholder that both sides share.

`Allowlist` reads differential/allowlist.toml: each entry names a scenario,
the paths (fnmatch patterns) where a difference is intended, and the reason.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kproto import KeyedList

ABSENT = "<absent>"
ALLOWLIST_PATH = Path(__file__).resolve().parent / "allowlist.toml"


@dataclass(frozen=True)
class Diff:
    path: str
    kafka: object
    runnel: object

    def __str__(self) -> str:
        return f"{self.path}: kafka={_short(self.kafka)} runnel={_short(self.runnel)}"


def _short(v, limit: int = 160) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "…"


def _key_of(item, keys) -> tuple | None:
    if not isinstance(item, dict) or not keys or any(k not in item for k in keys):
        return None
    return tuple(item[k] for k in keys)


def _key_text(keys, key) -> str:
    return ",".join(f"{k}={v}" for k, v in zip(keys, key))


def _keyed(items, keys) -> dict | None:
    out = {}
    for item in items:
        k = _key_of(item, keys)
        if k is None or k in out:
            return None
        out[k] = item
    return out


def diff(kafka, runnel, path: str = "") -> list[Diff]:
    if isinstance(kafka, dict) and isinstance(runnel, dict):
        out = []
        for k in list(kafka) + [k for k in runnel if k not in kafka]:
            sub = f"{path}.{k}" if path else str(k)
            out += diff(kafka.get(k, ABSENT), runnel.get(k, ABSENT), sub)
        return out
    if isinstance(kafka, list) and isinstance(runnel, list):
        keys = getattr(kafka, "keys", ()) or getattr(runnel, "keys", ())
        if keys:
            ka, ra = _keyed(kafka, keys), _keyed(runnel, keys)
            if ka is not None and ra is not None:
                out = []
                for k in list(ka) + [k for k in ra if k not in ka]:
                    out += diff(ka.get(k, ABSENT), ra.get(k, ABSENT), f"{path}[{_key_text(keys, k)}]")
                return out
        if len(kafka) != len(runnel) and not (kafka and isinstance(kafka[0], (dict, list))):
            return [Diff(path, kafka, runnel)]
        out = []
        for i in range(max(len(kafka), len(runnel))):
            out += diff(kafka[i] if i < len(kafka) else ABSENT, runnel[i] if i < len(runnel) else ABSENT,
                        f"{path}[{i}]")
        return out
    if kafka == runnel and type(kafka) is type(runnel):
        return []
    return [Diff(path, kafka, runnel)]


def keyed(items, *keys) -> KeyedList:
    """Marks a list built by a scenario as matched on `keys`."""
    out = KeyedList(items)
    out.keys = keys
    return out


# --- normalisation --------------------------------------------------------------------

UUID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
ZERO_UUID = "AAAAAAAAAAAAAAAAAAAAAA"


class Normalizer:
    """Maps values that differ by nature to shared placeholders, checking
    their shape first. One per broker per scenario: the n-th distinct topic
    id a broker shows becomes `<topic-id-n>` on either side, so an id that
    changes where it should not still shows as a difference."""

    def __init__(self):
        self.seen: dict[str, dict] = {}

    def ident(self, kind: str, value):
        table = self.seen.setdefault(kind, {})
        if value not in table:
            table[value] = f"<{kind}-{len(table) + 1}>"
        return table[value]

    def uuid(self, kind: str, value: str) -> str:
        if value == ZERO_UUID:
            return "<zero-uuid>"
        if not isinstance(value, str) or not UUID_RE.match(value):
            return f"<not a uuid: {value!r}>"
        return self.ident(kind, value)

    def cluster_id(self, value: str) -> str:
        if isinstance(value, str) and UUID_RE.match(value) and value != ZERO_UUID:
            return "<cluster-id: 22 base64url chars>"
        return f"<bad cluster id: {value!r}>"

    def port(self, value: int, expected: int) -> str:
        return "<the broker's port>" if value == expected else f"<other port {value}>"

    def timestamp(self, value: int, lo: int, hi: int) -> str:
        """A wall-clock time taken while the scenario ran, as -1, in range or not."""
        if value == -1:
            return -1
        return "<now>" if lo - 5_000 <= value <= hi + 5_000 else f"<timestamp outside the run: {value}>"


# --- the allow-list -----------------------------------------------------------------------

def glob(text: str, pattern: str) -> bool:
    """`*` matches any run of characters; everything else, brackets
    included, is literal (paths are full of `[Name=...]`)."""
    rx = "".join(".*" if c == "*" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, text, re.DOTALL) is not None


@dataclass
class Entry:
    scenario: str
    paths: list[str]
    reason: str
    when: str | None = None
    used: int = 0

    @property
    def pending(self) -> bool:
        return self.reason.startswith("PENDING")

    def covers(self, scenario: str, d: Diff) -> bool:
        if not glob(scenario, self.scenario):
            return False
        if self.when == "missing in runnel" and d.runnel != ABSENT:
            return False
        if self.when == "missing in kafka" and d.kafka != ABSENT:
            return False
        path = d.path
        for pat in self.paths:
            if glob(path, pat) or glob(path, pat + ".*") or glob(path, pat + "[*"):
                return True
        return False


@dataclass
class Allowlist:
    entries: list[Entry] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path = ALLOWLIST_PATH) -> "Allowlist":
        data = tomllib.loads(path.read_text())
        entries = []
        for e in data.get("difference", []):
            paths = e["paths"] if isinstance(e.get("paths"), list) else [e["path"]]
            if not e.get("reason", "").strip():
                raise ValueError(f"allow-list entry for {e['scenario']} {paths} has no reason")
            when = e.get("when")
            if when not in (None, "missing in runnel", "missing in kafka"):
                raise ValueError(f"allow-list entry for {e['scenario']}: unknown `when` {when!r}")
            entries.append(Entry(e["scenario"], paths, e["reason"].strip(), when))
        return cls(entries)

    def split(self, scenario: str, diffs: list[Diff]) -> tuple[list[tuple[Diff, Entry]], list[Diff]]:
        allowed, left = [], []
        for d in diffs:
            entry = next((e for e in self.entries if e.covers(scenario, d)), None)
            if entry is None:
                left.append(d)
            else:
                entry.used += 1
                allowed.append((d, entry))
        return allowed, left
