"""A Kafka protocol client driven by Kafka's own message schemas.

Apache Kafka describes every request and response in JSON files
(`common/message/*.json`) that its kafka-clients jar ships; this module reads
them from the jar `make kafka-ref` fetched and encodes and decodes any API at
any version from them, flexible versions and tagged fields included. The
differential suite needs it because it compares answers field by field:
every field a broker sends comes back, by Kafka's field name, and a request
can carry inputs no stock client would send.

Values: ints, bools and floats as Python numbers; strings as str; bytes and
records as bytes; uuids in Kafka's text form (22 url-safe base64 characters);
structs as dicts keyed by field name; arrays as `KeyedList` (a list that
knows its schema's `mapKey` fields, so the comparer can match entries by
key). A field missing from a request dict takes its schema default.
"""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import struct
import zipfile
from functools import lru_cache

from harness import kafka as kafka_ref


class ProtocolError(Exception):
    pass


class KeyedList(list):
    """An array from a response; `keys` are the entries' mapKey field names."""

    keys: tuple[str, ...] = ()


# --- versions -------------------------------------------------------------------

def in_versions(spec: str | None, v: int) -> bool:
    if spec is None or spec == "none":
        return False
    if spec.endswith("+"):
        return v >= int(spec[:-1])
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo) <= v <= int(hi)
    return v == int(spec)


# --- schemas ------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _jar_schemas() -> dict[str, dict]:
    out = {}
    with zipfile.ZipFile(kafka_ref.clients_jar()) as jar:
        for name in jar.namelist():
            if name.startswith("common/message/") and name.endswith(".json"):
                text = jar.read(name).decode()
                text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
                schema = json.loads(text)
                out[schema["name"]] = schema
    return out


@lru_cache(maxsize=None)
def api_keys() -> dict[str, int]:
    """API name (e.g. "Metadata") → key."""
    return {s["name"][: -len("Request")]: s["apiKey"] for s in _jar_schemas().values()
            if s.get("type") == "request" and "apiKey" in s}


def api_name(key: int) -> str:
    for name, k in api_keys().items():
        if k == key:
            return name
    raise KeyError(key)


def schema(name: str) -> dict:
    return _jar_schemas()[name]


def valid_versions(api: str) -> tuple[int, int]:
    spec = schema(api + "Request")["validVersions"]
    lo, _, hi = spec.partition("-")
    return int(lo), int(hi or lo)


def is_flexible(api: str, kind: str, version: int) -> bool:
    return in_versions(schema(api + kind).get("flexibleVersions"), version)


class _Ctx:
    def __init__(self, top: dict, version: int):
        self.version = version
        self.flexible = in_versions(top.get("flexibleVersions"), version)
        self.structs = {s["name"]: s for s in top.get("commonStructs", [])}

    def struct_fields(self, field: dict) -> list[dict]:
        if "fields" in field:
            return field["fields"]
        t = field["type"].removeprefix("[]")
        if t in self.structs:
            return self.structs[t]["fields"]
        raise ProtocolError(f"no struct {t}")


PRIMS = {"bool": ">?", "int8": ">b", "int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I",
         "int64": ">q", "float64": ">d"}


def _default(field: dict, ctx: _Ctx):
    t = field["type"]
    d = field.get("default")
    nullable = in_versions(field.get("nullableVersions"), ctx.version)
    if d == "null" or (d is None and nullable and t in ("string", "bytes", "records")):
        return None
    if t.startswith("[]"):
        return []
    if t in ("int8", "int16", "uint16", "int32", "uint32", "int64"):
        return int(d, 0) if isinstance(d, str) and d else 0
    if t == "float64":
        return float(d) if d else 0.0
    if t == "bool":
        return d == "true" or d is True
    if t == "string":
        return d or ""
    if t in ("bytes", "records"):
        return b""
    if t == "uuid":
        return "AAAAAAAAAAAAAAAAAAAAAA"
    return {}  # struct: every field at its default


# --- encoding ---------------------------------------------------------------------

def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def uuid_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "==")


def uuid_text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _field_flexible(field: dict, ctx: _Ctx) -> bool:
    if "flexibleVersions" in field:
        return in_versions(field["flexibleVersions"], ctx.version)
    return ctx.flexible


def _enc_value(field: dict, value, ctx: _Ctx, out: io.BytesIO) -> None:
    t = field["type"]
    flex = _field_flexible(field, ctx)
    if t.startswith("[]"):
        if value is None:
            out.write(uvarint(0) if flex else struct.pack(">i", -1))
            return
        out.write(uvarint(len(value) + 1) if flex else struct.pack(">i", len(value)))
        inner = t[2:]
        for item in value:
            if inner in PRIMS or inner in ("string", "bytes", "uuid", "records"):
                _enc_value({**field, "type": inner}, item, ctx, out)
            else:
                _enc_struct(ctx.struct_fields(field), item, ctx, out)
        return
    if t in PRIMS:
        out.write(struct.pack(PRIMS[t], value))
    elif t == "string":
        if value is None:
            out.write(uvarint(0) if flex else struct.pack(">h", -1))
        else:
            b = value.encode()
            out.write(uvarint(len(b) + 1) if flex else struct.pack(">h", len(b)))
            out.write(b)
    elif t in ("bytes", "records"):
        if value is None:
            out.write(uvarint(0) if flex else struct.pack(">i", -1))
        else:
            out.write(uvarint(len(value) + 1) if flex else struct.pack(">i", len(value)))
            out.write(value)
    elif t == "uuid":
        out.write(uuid_bytes(value))
    else:
        if in_versions(field.get("nullableVersions"), ctx.version):
            out.write(struct.pack(">b", -1 if value is None else 1))
            if value is None:
                return
        _enc_struct(ctx.struct_fields(field), value if value is not None else {}, ctx, out)


def _enc_struct(fields: list[dict], value: dict, ctx: _Ctx, out: io.BytesIO) -> None:
    tagged = []
    for f in fields:
        if not in_versions(f.get("versions"), ctx.version):
            continue
        v = value.get(f["name"], _default(f, ctx)) if value is not None else _default(f, ctx)
        if ctx.flexible and in_versions(f.get("taggedVersions"), ctx.version):
            if v != _default(f, ctx):
                buf = io.BytesIO()
                _enc_value(f, v, ctx, buf)
                tagged.append((f["tag"], buf.getvalue()))
            continue
        _enc_value(f, v, ctx, out)
    if ctx.flexible:
        out.write(uvarint(len(tagged)))
        for tag, data in sorted(tagged):
            out.write(uvarint(tag) + uvarint(len(data)) + data)


def encode(name: str, version: int, value: dict) -> bytes:
    top = schema(name)
    ctx = _Ctx(top, version)
    out = io.BytesIO()
    _enc_struct(top["fields"], value, ctx, out)
    return out.getvalue()


# --- decoding ---------------------------------------------------------------------

class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError(f"short read: {n} bytes at {self.pos} of {len(self.data)}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def uvarint(self) -> int:
        shift = n = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7


def _dec_value(field: dict, ctx: _Ctx, r: _Reader):
    t = field["type"]
    flex = _field_flexible(field, ctx)
    if t.startswith("[]"):
        n = (r.uvarint() - 1) if flex else r.take(">i")
        if n < 0:
            return None
        inner = t[2:]
        out = KeyedList()
        if inner in PRIMS or inner in ("string", "bytes", "uuid", "records"):
            for _ in range(n):
                out.append(_dec_value({**field, "type": inner}, ctx, r))
        else:
            fields = ctx.struct_fields(field)
            out.keys = tuple(f["name"] for f in fields if f.get("mapKey"))
            for _ in range(n):
                out.append(_dec_struct(fields, ctx, r))
        return out
    if t in PRIMS:
        return r.take(PRIMS[t])
    if t == "string":
        n = (r.uvarint() - 1) if flex else r.take(">h")
        return None if n < 0 else r.raw(n).decode()
    if t in ("bytes", "records"):
        n = (r.uvarint() - 1) if flex else r.take(">i")
        return None if n < 0 else r.raw(n)
    if t == "uuid":
        return uuid_text(r.raw(16))
    if in_versions(field.get("nullableVersions"), ctx.version):
        if r.take(">b") < 0:
            return None
    return _dec_struct(ctx.struct_fields(field), ctx, r)


def _dec_struct(fields: list[dict], ctx: _Ctx, r: _Reader) -> dict:
    out = {}
    by_tag = {}
    for f in fields:
        if not in_versions(f.get("versions"), ctx.version):
            continue
        if ctx.flexible and in_versions(f.get("taggedVersions"), ctx.version):
            by_tag[f["tag"]] = f
            out[f["name"]] = _default(f, ctx)
            continue
        out[f["name"]] = _dec_value(f, ctx, r)
    if ctx.flexible:
        for _ in range(r.uvarint()):
            tag, size = r.uvarint(), r.uvarint()
            data = r.raw(size)
            if tag in by_tag:
                sub = _Reader(data)
                out[by_tag[tag]["name"]] = _dec_value(by_tag[tag], ctx, sub)
            else:
                out.setdefault("_unknown_tags", {})[tag] = data.hex()
    return out


def decode(name: str, version: int, data: bytes) -> dict:
    top = schema(name)
    ctx = _Ctx(top, version)
    r = _Reader(data)
    value = _dec_struct(top["fields"], ctx, r)
    if r.pos != len(data):
        value["_trailing_bytes"] = len(data) - r.pos
    return value


# --- connection ---------------------------------------------------------------------

def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


class Connection:
    """One TCP connection to a broker; requests are sent one at a time."""

    def __init__(self, bootstrap: str, timeout: float = 30.0, client_id: str | None = "differential"):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client_id = client_id
        self.correlation_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def header(self, api: str, version: int) -> bytes:
        self.correlation_id += 1
        key = api_keys()[api]
        h = struct.pack(">hhi", key, version, self.correlation_id)
        if self.client_id is None:
            h += struct.pack(">h", -1)
        else:
            b = self.client_id.encode()
            h += struct.pack(">h", len(b)) + b
        if is_flexible(api, "Request", version):
            h += uvarint(0)
        return h

    def send_raw(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def recv_raw(self) -> bytes:
        (size,) = struct.unpack(">i", _recv_exact(self.sock, 4))
        return _recv_exact(self.sock, size)

    def send(self, api: str, version: int, body: dict | None = None) -> int:
        self.send_raw(self.header(api, version) + encode(api + "Request", version, body or {}))
        return self.correlation_id

    def receive(self, api: str, version: int, correlation_id: int) -> dict:
        data = self.recv_raw()
        (cid,) = struct.unpack_from(">i", data)
        if cid != correlation_id:
            raise ProtocolError(f"correlation id {cid}, expected {correlation_id}")
        pos = 4
        # ApiVersions answers with header v0 always (KIP-511), others with v1
        # when the response version is flexible.
        if api != "ApiVersions" and is_flexible(api, "Response", version):
            r = _Reader(data[pos:])
            for _ in range(r.uvarint()):
                r.uvarint()
                r.raw(r.uvarint())
            pos += r.pos
        if api == "ApiVersions":
            # An UNSUPPORTED_VERSION answer is v0 whatever was asked.
            (err,) = struct.unpack_from(">h", data, pos)
            if err == 35:
                return decode("ApiVersionsResponse", 0, data[pos:])
        return decode(api + "Response", version, data[pos:])

    def call(self, api: str, version: int, body: dict | None = None) -> dict:
        return self.receive(api, version, self.send(api, version, body))


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
