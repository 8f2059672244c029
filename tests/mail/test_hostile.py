"""Hostile mail, one reproducer per defect the reliability probe found: a
poison subject, unbounded `#if` arithmetic, MIME nested 1000 deep, 50,000
References. Each is a diagnostic about that mail; the rest is analysed."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from kvmplan.bot.track import classify
from kvmplan.cparse.config import default_config
from kvmplan.cparse.mask import _eval
from kvmplan.mail import assemble, load_messages, parse_message, parse_subject
from kvmplan.mail.message import MAX_REFERENCES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "fixtures" / "patches" / "example-online-series.mbox"


def _mail(subject: str, msgid: str, body: str = "hello\n", extra: str = "") -> bytes:
    return (f"From: Someone <someone@example.org>\nSubject: {subject}\n"
            f"Message-ID: <{msgid}>\nDate: Thu, 3 Dec 2026 08:00:00 +0000\n{extra}\n{body}"
            ).encode()


@pytest.mark.parametrize("subject", [
    "[PATCH 1/99999999999999999999] poison",
    "[PATCH 99999999999999999999/2] poison",
    "[PATCH 1/99999999] poison",
    "[PATCH v99999999999999 1/2] poison",
    "[PATCH 1/1000] poison",
])
def test_out_of_range_numbers_are_not_a_patch(subject: str) -> None:
    s = parse_subject(subject)
    assert not s.is_patch and s.index is None and s.expected is None
    assert "out of range" in s.problem


def test_largest_real_numbers_still_parse() -> None:
    s = parse_subject("[PATCH v12 103/999] KVM: x")
    assert (s.is_patch, s.version, s.index, s.expected, s.problem) == (True, 12, 103, 999, "")


def test_poison_subject_beside_a_real_series(tmp_path: Path) -> None:
    mbox = tmp_path / "mixed.mbox"
    poison = _mail("[PATCH 1/99999999999999999999] poison", "poison@example.org")
    mbox.write_bytes(EXAMPLE.read_bytes() + b"\nFrom poison@example.org Thu Dec  3 08:00:00 2026\n"
                     + poison)
    messages, diags = load_messages(mbox)
    series = assemble(messages, diagnostics=diags)
    assert len(series.patches) == 2 and series.expected == 2
    assert any(d.message_id == "poison@example.org" and "out of range" in d.text
               for d in series.diagnostics)
    # the bot files it as plain mail: no series, nothing stored from the number
    arrival = classify(poison, "test")
    assert arrival.series is None and arrival.idx is None


@pytest.mark.parametrize("expr", [
    "(1 << 3000000000) * (1 << 3000000000) > 5",
    "1 << 99999999999999",
    "(" * 20000 + "1" + ")" * 20000,
    "!" * 20000 + "1",
    "-" * 20000 + "1",
    "9" * 100000,
])
def test_if_evaluation_is_bounded(expr: str) -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    value = _eval(expr, default_config(), {})
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert value is False
    assert seconds < 2 and peak < 50 << 20, (seconds, peak)


def test_if_arithmetic_is_64_bit() -> None:
    cfg = default_config()
    assert _eval("(1 << 62) > 0", cfg, {})
    assert _eval("(1 << 63) < 0", cfg, {})               # intmax_t wraps
    assert _eval("0x7fffffffffffffff + 1 < 0", cfg, {})
    assert _eval("(2 * 3) == 6 && -1 < 0", cfg, {})


def _nested(depth: int) -> str:
    text = "Content-Type: text/plain\n\nhello\n"
    for d in range(depth):
        text = (f'Content-Type: multipart/mixed; boundary="b{d}"\n\n--b{d}\n{text}\n--b{d}--\n')
    return text


def test_mime_nested_1000_deep_is_one_diagnostic(tmp_path: Path) -> None:
    raw = (b"From: a@example.org\nSubject: Re: [PATCH 1/2] x\nMessage-ID: <deep@example.org>\n"
           b"In-Reply-To: <20260301120000.1-ada@example.org>\n" + _nested(1000).encode())
    msg = parse_message(raw, "deep")
    assert msg.message_id == "deep@example.org" and msg.body == ""
    assert any("nested too deep" in d.text for d in msg.diagnostics)
    mbox = tmp_path / "deep.mbox"
    mbox.write_bytes(EXAMPLE.read_bytes() + b"\nFrom deep Thu Dec  3 08:00:00 2026\n" + raw)
    got = subprocess.run([sys.executable, "-m", "kvmplan", "series", str(mbox)],
                         capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    assert "nested too deep" in got.stdout and "Traceback" not in got.stderr


def test_fifty_thousand_references_are_linear_and_capped() -> None:
    refs = " ".join(f"<r{i}@example.org>" for i in range(50000))
    raw = _mail("Re: [PATCH 1/2] x", "refs@example.org",
                extra=f"In-Reply-To: <r49999@example.org>\nReferences: {refs}\n")
    t0 = time.perf_counter()
    msg = parse_message(raw, "refs")
    parents = msg.parents
    assert time.perf_counter() - t0 < 2
    assert len(msg.references) == MAX_REFERENCES
    assert msg.references[0] == "r0@example.org"          # the thread's root is kept
    assert parents[0] == "r49999@example.org"
    assert any("References holds 50000" in d.text for d in msg.diagnostics)


HOSTILE_SUBJECT = ("KVM: \x1b]0;retitled\x07\x1b[2J\x9b31m<script>alert(1)</script> "
                   "[x](javascript:alert(2)) <img src=a onerror=b> a|b \u202eevil")


def test_control_characters_and_markup_from_mail_stay_inert(tmp_path: Path) -> None:
    """ESC/BEL/CSI sequences never reach a terminal, a header or a file; in
    the markdown review, HTML and link syntax from the subject are escaped."""
    mbox = tmp_path / "hostile.mbox"
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "Subject: [PATCH 0/2] KVM: Enable virtualization from the ONLINE section",
        f"Subject: [PATCH 0/2] {HOSTILE_SUBJECT}", 1)
    mbox.write_text(text, encoding="utf-8")
    series_text = subprocess.run([sys.executable, "-m", "kvmplan", "series", str(mbox)],
                                 capture_output=True, text=True, timeout=120)
    review = subprocess.run([sys.executable, "-m", "kvmplan", "analyze", str(mbox), "-q"],
                            capture_output=True, text=True, timeout=300)
    assert series_text.returncode == 0 and review.returncode == 0, review.stderr
    for out in (series_text.stdout, review.stdout):
        assert not any(c in out for c in "\x1b\x07\x9b\u202e"), repr(out[:200])
    title = review.stdout.splitlines()[0]
    assert "<script>" not in review.stdout and "<img" not in review.stdout
    assert "](javascript:" not in review.stdout.replace("\\](javascript:", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in title and "a\\|b" in title
