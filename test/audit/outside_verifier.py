#!/usr/bin/env python3
"""An outside verifier of a tenantguard audit log, written from docs/audit-format.md only.

Standard library only; shares no code with src/. Usage:

    outside_verifier.py verify AUDIT_DIR KEY_FILE        -> one JSON line {ok, records, ...}
    outside_verifier.py recorded-id KEY_FILE KIND TENANT ID -> the recorded id
"""
import base64
from decimal import Decimal
import hashlib
import hmac
import json
import math
import os
import re
import sys

SEGMENT = re.compile(r"^audit-(\d{6,})\.jsonl$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
GENESIS = "0" * 64
MAX_LINE = 4 * 1024 * 1024


def load_key(path):
    with open(path, "rb") as f:
        text = f.read().decode("latin1")
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    key = base64.b64decode(text, validate=True)
    if len(key) != 32:
        raise ValueError("audit key must be 32 bytes")
    return key


def es_number(x):
    """ECMAScript Number.prototype.toString of the double x parses to."""
    if isinstance(x, bool):
        raise TypeError("bool is not a number")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError("non-finite number")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript does: value = digits * 10^exponent.
    t = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, t.digits)).lstrip("0")
    exponent = t.exponent + (len(digits) - len(digits.rstrip("0")))
    digits = digits.rstrip("0")
    n = len(digits) + exponent  # value = 0.digits * 10^n
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        es = ("+" if e >= 0 else "-") + str(abs(e))
        out = (digits[0] + ("." + digits[1:] if k > 1 else "")) + "e" + es
    return sign + out


def es_string(s):
    return json.dumps(s, ensure_ascii=False)


def canonical(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return es_number(v)
    if isinstance(v, str):
        return es_string(v)
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v.keys(), key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(es_string(k) + ":" + canonical(v[k]) for k in keys) + "}"
    raise TypeError(type(v))


def record_hash(key, prev, body):
    return hmac.new(key, prev.encode("ascii") + canonical(body).encode("utf-8"), hashlib.sha256).hexdigest()


def anchor_mac(key, seq, h):
    return hmac.new(key, ("tenantguard-audit-anchor-v2\n%d\n%s" % (seq, h)).encode("utf-8"), hashlib.sha256).hexdigest()


def recorded_id(key, kind, tenant, ident):
    mac = hmac.new(key, ("tenantguard-recorded-id-v1\n%s\n%s\n%s" % (kind, tenant, ident)).encode("utf-8"), hashlib.sha256).digest()
    return "h." + base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")[:22]


def read_anchor(path, key):
    try:
        with open(path, "rb") as f:
            text = f.read(512).decode("utf-8").strip()
    except FileNotFoundError:
        return None
    if text == "":
        return None
    try:
        a = json.loads(text)
    except ValueError:
        return "unreadable"
    ok = (
        isinstance(a, dict)
        and a.get("v") == 2
        and type(a.get("seq")) is int
        and 0 <= a["seq"] <= 2**53 - 1
        and isinstance(a.get("hash"), str)
        and HEX64.match(a["hash"])
        and isinstance(a.get("mac"), str)
    )
    if not ok:
        return "unreadable"
    if not hmac.compare_digest(a["mac"], anchor_mac(key, a["seq"], a["hash"])):
        return "forged"
    return (a["seq"], a["hash"])


def fail(problem, records, seq=None):
    out = {"ok": False, "problem": problem, "records": records}
    if seq is not None:
        out["firstBadSeq"] = seq
    return out


def verify(directory, key):
    segments = sorted(
        (int(m.group(1)), name) for name in os.listdir(directory) for m in [SEGMENT.match(name)] if m
    )
    anchor = read_anchor(os.path.join(directory, "audit.anchor"), key)
    if anchor in ("unreadable", "forged"):
        return fail("anchor " + anchor, 0)
    expected, prev, records, last = 1, GENESIS, 0, None
    for _, name in segments:
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        tail = lines.pop()  # bytes after the last newline
        for raw in lines:
            if len(raw) > MAX_LINE:
                return fail("oversized line", records, expected)
            try:
                rec = json.loads(raw.decode("utf-8"))
            except ValueError:
                return fail("malformed line", records, expected)
            if not isinstance(rec, dict):
                return fail("malformed line", records, expected)
            seq, p, h = rec.get("seq"), rec.get("prev"), rec.get("hash")
            if type(seq) is not int or seq < 1 or not isinstance(p, str) or not HEX64.match(p) or not isinstance(h, str) or not HEX64.match(h):
                return fail("malformed line", records, expected)
            if seq > expected:
                return fail("missing record", records, expected)
            if seq < expected:
                return fail("out of order", records, expected)
            if p != prev:
                return fail("prev mismatch", records, expected)
            body = {k: v for k, v in rec.items() if k not in ("prev", "hash")}
            if not hmac.compare_digest(h, record_hash(key, p, body)):
                return fail("hash mismatch", records, expected)
            if isinstance(anchor, tuple) and seq == anchor[0] and h != anchor[1]:
                return fail("anchor mismatch", records, seq)
            records += 1
            last = (seq, h)
            prev, expected = h, seq + 1
        if tail:
            return fail("truncated line", records, expected)
    last_seq = last[0] if last else 0
    if anchor is None and last_seq > 0:
        return fail("anchor missing", records)
    if isinstance(anchor, tuple) and anchor[0] > last_seq:
        return fail("anchor ahead of log", records, last_seq + 1)
    out = {"ok": True, "records": records}
    if last:
        out["lastSeq"], out["lastHash"] = last
    return out


def main(argv):
    if len(argv) == 4 and argv[1] == "verify":
        print(json.dumps(verify(argv[2], load_key(argv[3]))))
        return 0
    if len(argv) == 6 and argv[1] == "recorded-id":
        print(recorded_id(load_key(argv[2]), argv[3], argv[4], argv[5]))
        return 0
    if len(argv) == 3 and argv[1] == "canonical":
        print(canonical(json.loads(argv[2])))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
