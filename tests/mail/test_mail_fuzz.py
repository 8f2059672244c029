"""Property-based tests: real mails, mangled, never make kvmplan crash.

Whatever the damage (truncation, dropped headers, corrupt base64, shuffled
order, bad charsets, binary junk), `kvmplan series` exits 0 with a result
or 2 with one line on stderr, never a traceback or an internal error.
"""

from __future__ import annotations

import json
import os
import random
import re
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailtest_helpers import CORPUS, FIXTURES, run_cli

from kvmplan.diff import parse_diff
from kvmplan.mail import assemble, parse_message, parse_subject, read_raw

# KVMPLAN_FUZZ_EXAMPLES=2000 for a deeper run; the default keeps the suite fast.
FUZZ = settings(
    max_examples=int(os.environ.get("KVMPLAN_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEP = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"


@cache
def sources() -> tuple[tuple[bytes, ...], ...]:
    """Small real inputs, split into raw messages: corpus mboxes when present."""
    paths = [FIXTURES / "example-series.mbox"]
    for name in (
        "tdx-v8-003-cpu-compat-check-thread.mbox",
        "kvm-cpu-hotplug-chao-gao-v4.mbox",
        "kvm-cpu-hotplug-chao-gao-v4-replies.mbox",
    ):
        if (CORPUS / name).is_file():
            paths.append(CORPUS / name)
    out = [tuple(raw.data for raw in read_raw(p)[0]) for p in paths]
    out.append((b"\r\n".join((FIXTURES / "base64-crlf.eml").read_bytes().split(b"\r\n")),))
    out.append(((FIXTURES / "iso-8859-1.eml").read_bytes(),))
    return tuple(out)


def _drop_header(msg: bytes, rnd: random.Random) -> bytes:
    head, sep, body = msg.partition(b"\n\n")
    lines = head.split(b"\n")
    names = [n for n, line in enumerate(lines) if re.match(rb"^[A-Za-z-]+:", line)]
    if names:
        del lines[rnd.choice(names)]
    return b"\n".join(lines) + sep + body


def _corrupt_base64(msg: bytes, rnd: random.Random) -> bytes:
    head, sep, body = msg.partition(b"\n\n")
    if b"base64" not in head.lower():
        head += b"\nContent-Transfer-Encoding: base64"
    data = bytearray(body)
    for _ in range(rnd.randint(1, 20)):
        if data:
            data[rnd.randrange(len(data))] = rnd.choice(b"!*%$~\x00\xff=")
    return head + sep + bytes(data)


def _bad_charset(msg: bytes, rnd: random.Random) -> bytes:
    head, sep, body = msg.partition(b"\n\n")
    charset = rnd.choice(
        [b"x-klingon", b"utf-7", b"us-ascii", b"iso-8859-1", b'"', b"utf-16", b"", b"idna",
         b"undefined", b"punycode", b"unicode_escape", b"base64"]
    )
    head = re.sub(rb"(?im)^content-type:.*$", b"", head)
    head += b"\nContent-Type: text/plain; charset=" + charset
    return head + sep + body + "\n\u00e9\u00fc\u2603\n".encode("utf-8") + b"\xff\xfe\xc3\n"


def _junk(msg: bytes, rnd: random.Random) -> bytes:
    pos = rnd.randrange(len(msg) + 1)
    junk = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 200)))
    return msg[:pos] + junk + msg[pos:]


def _truncate(msg: bytes, rnd: random.Random) -> bytes:
    return msg[: rnd.randrange(len(msg) + 1)]


def _flip_lines(msg: bytes, rnd: random.Random) -> bytes:
    """Damage diff structure: delete or duplicate a few lines anywhere."""
    lines = msg.split(b"\n")
    for _ in range(rnd.randint(1, 5)):
        if len(lines) < 2:
            break
        n = rnd.randrange(len(lines))
        if rnd.random() < 0.5:
            del lines[n]
        else:
            lines.insert(n, lines[n])
    return b"\n".join(lines)


MESSAGE_OPS = [_drop_header, _corrupt_base64, _bad_charset, _junk, _truncate, _flip_lines]


@st.composite
def mangled_mbox(draw: st.DrawFn) -> bytes:
    messages = list(draw(st.sampled_from(sources())))
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(draw(st.integers(1, 6))):
        if not messages:
            break
        op = draw(st.sampled_from(["shuffle", "drop", "dup", *range(len(MESSAGE_OPS))]))
        if op == "shuffle":
            rnd.shuffle(messages)
        elif op == "drop":
            del messages[rnd.randrange(len(messages))]
        elif op == "dup":
            messages.append(messages[rnd.randrange(len(messages))])
        else:
            n = rnd.randrange(len(messages))
            messages[n] = MESSAGE_OPS[int(op)](messages[n], rnd)
    whole = b"".join(SEP + m + b"\n" for m in messages)
    if draw(st.booleans()):
        whole = _truncate(whole, rnd) if draw(st.booleans()) else _junk(whole, rnd)
    return whole


def _check_cli(data: bytes) -> None:
    code, out, err = run_cli(["series", "-", "--format", "json"], stdin=data)
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        assert out == ""
        assert err.startswith("kvmplan: error: ") and err.count("\n") == 1, err
    else:
        assert code == 0, (code, err)
        assert err == ""
        result = json.loads(out)
        assert result["patches"] or result["replies"] or result["series"]["cover"]
        assert result["diagnostics"] or not result["series"]["missing"]


@FUZZ
@given(mangled_mbox())
def test_mangled_mail_never_crashes(data: bytes) -> None:
    _check_cli(data)


@FUZZ
@given(st.binary(max_size=3000))
def test_binary_junk_is_exit_2_or_a_result(data: bytes) -> None:
    _check_cli(data)
    _check_cli(SEP + data)


@FUZZ
@given(st.data())
def test_message_order_does_not_change_the_series(data: st.DataObject) -> None:
    messages = list(data.draw(st.sampled_from(sources()[:3])))
    shuffled = data.draw(st.permutations(messages))
    a = assemble([parse_message(m, "a") for m in messages])
    b = assemble([parse_message(m, "b") for m in shuffled])
    assert a.patches == b.patches and a.cover == b.cover and a.missing == b.missing
    assert sorted(r.message_id for r in a.replies) == sorted(r.message_id for r in b.replies)


@FUZZ
@given(st.text(max_size=2000), st.sampled_from(["", "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,3 +1,2 @@\n"]))
def test_parse_diff_and_subject_never_raise(text: str, prefix: str) -> None:
    files, diags = parse_diff(prefix + text)
    for f in files:
        assert all(h.old_len >= 0 for h in f.hunks)
    assert all(d.severity in ("error", "warning", "info") for d in diags)
    parse_subject(text)


@FUZZ
@given(st.binary(max_size=2000))
def test_parse_message_never_raises(data: bytes) -> None:
    m = parse_message(data, "fuzz")
    assert m.message_id and "\r" not in m.body
