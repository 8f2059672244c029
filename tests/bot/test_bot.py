"""`kvmplan bot` on the shared corpus read as an mbox or a maildir: one
review per series version, waiting for missing patches, limits, retries,
re-delivery, the lock, and usage errors."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bothelp import (
    SMALL,
    bot_cmd,
    concat,
    corpus,
    events,
    replies_by_series,
    run_bot,
    series_rows,
    snapshot,
)

# end to end: real bot processes that analyse real series
pytestmark = pytest.mark.slow

from kvmplan.mail import split_mbox


def _write_config(path: Path, **keys: object) -> Path:
    lines = ["[bot]"] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_once_reviews_each_series_once_and_rerun_adds_nothing(tmp_path: Path) -> None:
    mbox = concat(corpus(*SMALL), tmp_path / "list.mbox")
    out = tmp_path / "out"
    r = run_bot(mbox, out)
    assert r.returncode == 0, r.stderr
    rows = series_rows(out)
    # pte_list_desc v1 (4 patches), TDX v8 003/103 (1 of 103), CPU hotplug v4 (6)
    assert [(r["version"], r["expected"], r["status"]) for r in rows] == [
        (1, 4, "replied"), (8, 103, "replied"), (4, 6, "replied")]
    tdx = rows[1]
    assert tdx["incomplete"].startswith("1,2,4,5,") and tdx["incomplete"].endswith(",103")
    replies = replies_by_series(out)
    assert all(sum(n.endswith("-0000-series") for n in names) == 1 for names in replies.values())
    first = snapshot(out)
    checks = [k for k in first if k.startswith("checks/")]
    assert len(checks) == 4 + 1 + 6
    for k in checks:
        doc = json.loads(first[k])
        assert doc["check"]["context"] == "kvmplan"
        assert doc["check"]["state"] in ("success", "warning", "fail")
    tdx_reply = first[next(k for k in first if k.startswith("maildir/") and "-v8-" in k)]
    assert b"Incomplete: patches 1-2, 4-103 of 103 did not arrive;" in tdx_reply
    assert "series incomplete: 102 of 103 patches missing" in json.loads(
        first[next(k for k in checks if "-v8-" in k)])["check"]["description"]

    r = run_bot(mbox, out)
    assert r.returncode == 0, r.stderr
    assert snapshot(out) == first
    end = [e for e in events(out) if e["event"] == "pass.end"][-1]
    assert (end["read"], end["new"], end["reviewed"]) == (0, 0, 0)


def test_redelivered_mail_is_not_reviewed_again(tmp_path: Path) -> None:
    """The same mails arriving again through another source (a maildir with
    one file per mail) add nothing: they are keyed by Message-ID and content."""
    mbox = concat(corpus(SMALL[0]), tmp_path / "list.mbox")
    out = tmp_path / "out"
    assert run_bot(mbox, out).returncode == 0
    first = snapshot(out)
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for i, raw in enumerate(split_mbox(mbox.read_bytes(), "x")):
        (maildir / "new" / f"{1000 + i}.M1P1.host").write_bytes(raw.data)
    r = run_bot([mbox, maildir], out)
    assert r.returncode == 0, r.stderr
    end = [e for e in events(out) if e["event"] == "pass.end"][-1]
    assert (end["read"], end["duplicates"], end["reviewed"]) == (5, 5, 0)
    assert snapshot(out) == first

    # Other content under a Message-ID already read: logged, the first kept.
    raw = split_mbox(mbox.read_bytes(), "x")[2].data
    (maildir / "new" / "2000.M2P2.host").write_bytes(raw.replace(b"\n\n", b"\n\nInjected.\n", 1))
    r = run_bot([mbox, maildir], out)
    assert r.returncode == 0, r.stderr
    [conflict] = [e for e in events(out) if e["event"] == "message.conflict"]
    assert conflict["msgid"] == "20220624232735.3090056-3-seanjc@google.com"
    assert snapshot(out) == first


def test_missing_patches_wait_for_the_grace_period(tmp_path: Path) -> None:
    msgs = split_mbox(corpus("kvm-cpu-hotplug-chao-gao-v4.mbox")[0].read_bytes(), "x")
    mbox = tmp_path / "list.mbox"

    def write(n: int) -> None:
        mbox.write_bytes(b"".join(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + m.data + b"\n"
                                  for m in msgs[:n]))

    out = tmp_path / "out"
    cfg = _write_config(tmp_path / "kvmplan.toml", grace=1e9)
    write(4)                                   # cover + 1/6..3/6
    assert run_bot(mbox, out, "--once", "--config", str(cfg)).returncode == 0
    assert [r["status"] for r in series_rows(out)] == ["waiting"]
    assert snapshot(out) == {}
    write(7)                                   # the rest arrives
    assert run_bot(mbox, out, "--once", "--config", str(cfg)).returncode == 0
    [row] = series_rows(out)
    assert (row["status"], row["incomplete"]) == ("replied", "")

    # With no grace the incomplete series is reviewed at once, as incomplete;
    # a patch arriving later is logged, not reviewed again.
    out2 = tmp_path / "out2"
    write(4)
    assert run_bot(mbox, out2, "--once", "--grace", "0").returncode == 0
    [row] = series_rows(out2)
    assert (row["status"], row["incomplete"]) == ("replied", "4,5,6")
    first = snapshot(out2)
    write(7)
    assert run_bot(mbox, out2, "--once", "--grace", "0").returncode == 0
    late = [e for e in events(out2) if e["event"] == "series.late"]
    assert [e["patch"] for e in late] == [4, 5, 6]
    assert snapshot(out2) == first


def test_limits_mark_the_series_and_are_not_retried(tmp_path: Path) -> None:
    mbox = concat(corpus(*SMALL[:3]), tmp_path / "list.mbox")
    cases = {
        "patches": (dict(max_patches=5), {"improve-kvm": "6 patches, over max_patches 5",
                                           "refactor-cpu": "103 patches, over max_patches 5"}),
        "size": (dict(max_message_bytes=6000), {}),
        "time": (dict(analysis_timeout=0.2), {}),
    }
    for name, (keys, reasons) in cases.items():
        out = tmp_path / name
        cfg = _write_config(tmp_path / f"{name}.toml", **keys)
        r = run_bot(mbox, out, "--once", "--config", str(cfg))
        assert r.returncode == 0, r.stderr
        rows = series_rows(out)
        limited = [r for r in rows if r["status"] == "limit"]
        assert limited, name
        for row in limited:
            assert row["name"] == ""       # nothing was produced
            if name == "size":
                assert "over max_message_bytes 6000" in row["reason"]
            if name == "time":
                assert row["reason"] == "analysis took longer than analysis_timeout 0.2 s"
        for prefix, reason in reasons.items():
            assert any(r["reason"] == reason for r in limited), (prefix, reason)
        assert [e for e in events(out) if e["event"] == "series.limit"]
        status = subprocess.run([sys.executable, "-m", "kvmplan", "bot-status", "--outbox",
                                 str(out), "--status", "limit"], capture_output=True, text=True)
        assert status.returncode == 0, status.stderr
        listed = status.stdout.splitlines()[1:]
        assert len(listed) == len(limited)
        assert all(ln.startswith("limit ") and row["reason"] in ln
                   for ln, row in zip(listed, limited))
        before, seen = snapshot(out), len(events(out))
        assert run_bot(mbox, out, "--once", "--config", str(cfg)).returncode == 0
        assert [(r["status"], r["reason"]) for r in series_rows(out)] == \
            [(r["status"], r["reason"]) for r in rows]
        assert snapshot(out) == before
        again = events(out)[seen:]
        assert not [e for e in again if e["event"] in ("series.limit", "series.reviewed")]


def test_crashing_analysis_is_retried_then_marked_failed(tmp_path: Path) -> None:
    mbox = concat(corpus(SMALL[0]), tmp_path / "list.mbox")
    out = tmp_path / "out"
    cfg = _write_config(tmp_path / "kvmplan.toml", max_attempts=2)
    args = ("--once", "--config", str(cfg), "--tree", str(tmp_path / "no-such-tree"))
    assert run_bot(mbox, out, *args).returncode == 0
    [row] = series_rows(out)
    assert (row["status"], row["attempts"]) == ("waiting", 1)
    assert row["reason"].startswith("analysis worker exit status 1")
    assert run_bot(mbox, out, *args).returncode == 0
    [row] = series_rows(out)
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert run_bot(mbox, out, *args).returncode == 0
    assert series_rows(out)[0]["attempts"] == 2
    assert snapshot(out) == {}


def test_one_bot_per_outbox_and_usage_errors(tmp_path: Path) -> None:
    mbox = concat(corpus(SMALL[0]), tmp_path / "list.mbox")
    out = tmp_path / "out"
    proc = subprocess.Popen(bot_cmd(mbox, out, "--interval", "60"), stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any(
                e["event"] == "pass.end" for e in events(out)):
            time.sleep(0.2)
        second = run_bot(mbox, out)
        assert second.returncode == 2
        assert second.stderr.strip() == (f"kvmplan: error: {out}: another kvmplan bot is "
                                         "running on this outbox")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert any(e["event"] == "bot.stop" for e in events(out))

    r = run_bot(mbox, tmp_path / "o2", "--once", "--interval", "5")
    assert (r.returncode, r.stderr.strip()) == (
        2, "kvmplan: error: give exactly one of --once and --interval SEC")
    r = run_bot(tmp_path / "nowhere", tmp_path / "o3")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "nowhere" in r.stderr
    bad = _write_config(tmp_path / "bad.toml", grace=-1)
    r = run_bot(mbox, tmp_path / "o4", "--once", "--config", str(bad))
    assert (r.returncode, r.stderr.strip()) == (2, f"kvmplan: error: {bad}: grace must be >= 0")


def test_two_bots_one_state_one_refuses(tmp_path: Path) -> None:
    """Two outboxes, one --state: the second bot refuses instead of reviewing
    (and mailing) the same series again."""
    mbox = concat(corpus(SMALL[0]), tmp_path / "list.mbox")
    state = tmp_path / "shared.sqlite"
    first_out = tmp_path / "out1"
    proc = subprocess.Popen(bot_cmd(mbox, first_out, "--interval", "60", "--state", str(state)),
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any(
                e["event"] == "pass.end" for e in events(first_out)):
            time.sleep(0.2)
        second = run_bot(mbox, tmp_path / "out2", "--once", "--state", str(state))
        assert second.returncode == 2
        assert second.stderr.strip() == (f"kvmplan: error: {state}: another kvmplan bot is "
                                         "using this state")
        assert not list((tmp_path / "out2").glob("maildir/new/*"))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_interval_mode_picks_up_mail_as_the_mbox_grows(tmp_path: Path) -> None:
    pte, chao = corpus(SMALL[0], "kvm-cpu-hotplug-chao-gao-v4.mbox")
    mbox = tmp_path / "list.mbox"
    shutil.copy(pte, mbox)
    out = tmp_path / "out"
    proc = subprocess.Popen(bot_cmd(mbox, out, "--interval", "0.5"), stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    try:
        def replied() -> int:
            return sum(e["event"] == "series.reviewed" for e in events(out))

        deadline = time.time() + 300
        while time.time() < deadline and replied() < 1:
            time.sleep(0.3)
        assert replied() == 1
        with open(mbox, "ab") as f:
            f.write(chao.read_bytes())
        while time.time() < deadline and replied() < 2:
            time.sleep(0.3)
        assert replied() == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert [r["status"] for r in series_rows(out)] == ["replied", "replied"]


def test_bad_mail_is_logged_and_the_rest_is_reviewed(tmp_path: Path) -> None:
    """Our edge-case fixtures (base64 CRLF body, ISO-8859-1, HTML only, a
    patch attachment, a diff path escaping the tree, a truncated mbox) plus
    binary junk, delivered to a maildir next to a real series: no traceback,
    every series decided, the real one reviewed."""
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "patches"
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    names = ["attachment.eml", "base64-crlf.eml", "html-only.eml", "iso-8859-1.eml",
             "traversal.patch", "truncated.mbox"]
    for i, name in enumerate(names):
        (maildir / "new" / f"{100 + i}.fixture.host").write_bytes((fixtures / name).read_bytes())
    (maildir / "new" / "200.junk.host").write_bytes(bytes(range(256)) * 40)
    (maildir / "new" / "201.empty.host").write_bytes(b"")
    for i, raw in enumerate(split_mbox(corpus(SMALL[0])[0].read_bytes(), "x")):
        (maildir / "cur" / f"{300 + i}.pte.host:2,S").write_bytes(raw.data)
    out = tmp_path / "out"
    cfg = _write_config(tmp_path / "kvmplan.toml",
                        target_url="https://ci.example.org/{series}.html?patch={index}&m={msgid}")
    r = run_bot(maildir, out, "--once", "--grace", "0", "--config", str(cfg), "--progress")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    progress = [ln for ln in r.stderr.splitlines() if ln.startswith("kvmplan bot: ")]
    assert progress and "mails read" in progress[-1] and "replied" in progress[-1]
    check = json.loads((next((out / "checks").glob("kvm-x86-mmu-pte-*")) / "0002.json").read_text())
    assert check["check"]["target_url"] == (
        "https://ci.example.org/kvm-x86-mmu-pte-list-desc-fix-and-cleanups-v1-bad6529a21.html"
        "?patch=2&m=20220624232735.3090056-3-seanjc@google.com")
    rows = series_rows(out)
    assert rows and all(r["status"] in ("replied", "skipped") for r in rows)
    assert any(r["title"] == "KVM: x86/mmu: pte_list_desc fix and cleanups"
               and r["status"] == "replied" for r in rows)
    assert not [e for e in events(out) if e["level"] == "error"]
    for path in snapshot(out):
        assert not path.startswith("..") and "/../" not in path


def test_unthreaded_patches_form_one_series(tmp_path: Path) -> None:
    """A series sent without In-Reply-To/References: its patches group by
    sender, version, M and day; the lone cover letter has no patch."""
    msgs = split_mbox(corpus("kvm-cpu-hotplug-chao-gao-v4.mbox")[0].read_bytes(), "x")
    out_mbox = bytearray()
    for m in msgs:
        head, _, body = m.data.partition(b"\n\n")
        kept = [ln for ln in head.split(b"\n") if not ln.lower().startswith(
            (b"in-reply-to:", b"references:"))]
        out_mbox += b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + b"\n".join(kept) \
            + b"\n\n" + body + b"\n"
    mbox = tmp_path / "list.mbox"
    mbox.write_bytes(bytes(out_mbox))
    out = tmp_path / "out"
    assert run_bot(mbox, out, "--once", "--grace", "0").returncode == 0
    rows = series_rows(out)
    assert [(r["expected"], r["status"], r["incomplete"]) for r in rows] == [
        (6, "skipped", ""), (6, "replied", "")]
