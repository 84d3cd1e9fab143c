"""ApiVersions: the advertised keys and version ranges, features, and the
answer to a version the broker does not know (KIP-511)."""

import pytest

import kproto


def observe_api_versions(t):
    r = t.call("ApiVersions", 3, {"ClientSoftwareName": "differential", "ClientSoftwareVersion": "1.0"})
    epoch = r["FinalizedFeaturesEpoch"]
    # The epoch is the metadata offset of the last feature change: it
    # depends on how much each broker has written, so only its sign counts.
    r["FinalizedFeaturesEpoch"] = "<non-negative>" if epoch >= 0 else epoch
    return r


@pytest.mark.smoke
def test_api_versions(differential):
    differential(observe_api_versions)


def test_api_versions_unknown_version(differential):
    """A version above the broker's: the v0-shaped UNSUPPORTED_VERSION answer."""
    def observe(t):
        with t.new_conn() as c:
            header = bytearray(c.header("ApiVersions", 3))
            header[2:4] = (127).to_bytes(2, "big")
            body = kproto.encode("ApiVersionsRequest", 3, {"ClientSoftwareName": "differential",
                                                          "ClientSoftwareVersion": "1.0"})
            c.send_raw(bytes(header) + body)
            resp = c.recv_raw()
        return kproto.decode("ApiVersionsResponse", 0, resp[4:])

    differential(observe)


def test_api_versions_client_software_names(differential):
    """Names outside KIP-511's pattern are refused with INVALID_REQUEST."""
    def observe(t):
        out = {}
        for label, name, version in (("empty", "", "1.0"), ("space", "bad name", "1.0"),
                                     ("dotted", "lib.name-1", "1.2.3-rc1")):
            with t.new_conn() as c:
                r = c.call("ApiVersions", 3, {"ClientSoftwareName": name, "ClientSoftwareVersion": version})
            out[label] = {"ErrorCode": r["ErrorCode"], "HasKeys": bool(r["ApiKeys"])}
        return out

    differential(observe)
