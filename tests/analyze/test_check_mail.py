"""`kvmplan check-mail` (b4's external-checker protocol) and the one
pass/warn/fail rule it shares with the bot's patchwork checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kvmplan.mail import split_mbox
from kvmplan.report.view import check_state

ROOT = Path(__file__).resolve().parents[2]


def _finding(severity: str, accepted: bool = False, uncertain: bool = False) -> dict:
    return {"severity": severity, "accepted": accepted, "uncertain": uncertain}


def test_check_state_rule() -> None:
    assert check_state([], 0) == "success"
    assert check_state([_finding("error")], 0) == "fail"
    assert check_state([_finding("warning")], 0) == "warning"
    assert check_state([_finding("error", uncertain=True)], 0) == "warning"
    assert check_state([_finding("error", accepted=True)], 0) == "success"
    assert check_state([], 2) == "warning"
    assert check_state([_finding("note"), _finding("error")], 1) == "fail"


def _check(mail: bytes) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "kvmplan", "check-mail"], input=mail,
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_check_mail_on_our_example_patch() -> None:
    """Patch 1/2 of our example series (against Debian 6.1) moves enabling to
    the ONLINE section: it fixes KVM001, KVM004 and KVM005, introduces nothing."""
    mails = split_mbox((ROOT / "fixtures/patches/example-online-series.mbox").read_bytes(), "x")
    [result] = _check(mails[1].data)
    assert (result["tool"], result["status"]) == ("kvmplan", "pass")
    assert result["summary"] == "lifecycle model: 0 introduced, 3 fixed"
    assert "KVM004: [fixed by 1/2]" in result["details"]


def test_check_mail_on_junk_says_so() -> None:
    [result] = _check(b"\x00\x01 not a mail at all\n")
    assert (result["status"], result["summary"]) == ("warn", "kvmplan could not read the input")
    assert result["details"] == ("no patch series found: 1 message read, none is a patch or "
                                 "a reply to one")
