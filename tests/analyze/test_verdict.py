"""An honest verdict on real series: `clean` only when the series was judged;
otherwise `inconclusive`, with the reason in one line, in every format, and
a non-zero exit (3; NIPA's 250)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kvmplan.mail import assemble, load_messages

ROOT = Path(__file__).resolve().parents[2]
LIFECYCLE = ROOT.parent / "shared" / "corpus" / "mail-lifecycle"
EXAMPLE = ROOT / "fixtures" / "patches" / "example-online-series.mbox"

CASES = [
    # (mbox, the reason's start): real series the bundled baselines can't judge
    ("kvm-create-vm-unwind-fixes-2022-08.mbox", "already in the base: 6 of 8 hunks"),
    ("kvm-reboot-race-hw-enable-v1-2023-03.mbox", "does not apply: 5 of 8 hunks"),
    ("kvm-tdx-vmxon-during-bringup-rfc-2025-10.mbox", "outside the model: 242 of 1011 changed"),
    ("neg-kvm-selftests-sync-regs-amd-2023-08.mbox",
     "outside the model: the series changes no code the model reads"),
]


def kvmplan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kvmplan", *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)


def _every_format(mbox: Path, tmp_path: Path) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    for fmt in ("markdown", "text", "json", "sarif"):
        got = kvmplan("analyze", str(mbox), "-q", "-f", fmt)
        out[fmt] = (got.returncode, got.stdout)
    mails = tmp_path / "mails"
    got = kvmplan("analyze", str(mbox), "-q", "-f", "email", "-o", str(mails))
    out["email"] = (got.returncode, "\n".join(p.read_text() for p in sorted(mails.glob("*.eml"))))
    return out


def _says(outputs: dict[str, tuple[int, str]], reason: str) -> None:
    for fmt, (code, text) in outputs.items():
        assert code == 3, (fmt, code)
        if fmt == "json":
            data = json.loads(text)
            assert data["verdict"] == "inconclusive"
            assert data["verdict_reason"].startswith(reason), data["verdict_reason"]
            assert data["coverage"]["hunks"]["failed"] == data["apply"]["failed"]
        elif fmt == "sarif":
            inv = json.loads(text)["runs"][0]["invocations"][0]
            assert inv["executionSuccessful"] is False
            assert reason in inv["toolExecutionNotifications"][0]["message"]["text"]
        else:
            # the mail wraps at 72 columns
            assert f"inconclusive: {reason}" in " ".join(text.split()), fmt


@pytest.mark.slow
@pytest.mark.parametrize(("name", "reason"), CASES, ids=[c[0] for c in CASES])
def test_unjudged_series_are_inconclusive(name: str, reason: str, tmp_path: Path) -> None:
    mbox = LIFECYCLE / name
    if not mbox.is_file():
        pytest.skip(f"{mbox} not found: ../shared is not beside the repository")
    _says(_every_format(mbox, tmp_path), reason)


def _v3_cover_with_unversioned_patches(tmp_path: Path) -> Path:
    """b4's case: `[PATCH v3 0/2]` whose patches, replies to it, say `[PATCH k/2]`."""
    text = EXAMPLE.read_text(encoding="utf-8")
    out = tmp_path / "v3.mbox"
    out.write_text(text.replace("Subject: [PATCH 0/2]", "Subject: [PATCH v3 0/2]", 1),
                   encoding="utf-8")
    return out


def test_cover_version_is_the_series_version(tmp_path: Path) -> None:
    messages, diags = load_messages(_v3_cover_with_unversioned_patches(tmp_path))
    series = assemble(messages, diagnostics=diags)
    assert (series.version, len(series.patches), series.cover is not None) == (3, 2, True)
    assert not any("also holds" in d.text for d in series.diagnostics)


def test_nothing_assembled_is_inconclusive(tmp_path: Path) -> None:
    """Replies only: nothing was analysed, so nothing is clean."""
    reply = tmp_path / "reply.eml"
    reply.write_text("From: R <r@example.org>\nSubject: Re: [PATCH 1/2] x\n"
                     "Message-ID: <r@example.org>\nIn-Reply-To: <p@example.org>\n\nLooks good.\n",
                     encoding="utf-8")
    got = kvmplan("analyze", str(reply), "-q", "-f", "json")
    assert got.returncode == 3
    data = json.loads(got.stdout)
    assert (data["verdict"], data["verdict_reason"]) == (
        "inconclusive", "nothing assembled: no patch of the series is in the input")


def test_series_pick_by_message_id(tmp_path: Path) -> None:
    """Two unrelated series in one input: listed, never merged; --series picks."""
    other = (ROOT / "fixtures" / "patches" / "base64-crlf.eml").read_bytes()
    mbox = tmp_path / "two.mbox"
    mbox.write_bytes(EXAMPLE.read_bytes() + b"\nFrom x Thu Dec  3 08:00:00 2026\n" + other)
    messages, diags = load_messages(mbox)
    default = assemble(messages, diagnostics=diags)
    assert len(default.patches) == 2
    hint = [d.text for d in default.diagnostics if "also holds" in d.text]
    assert len(hint) == 1 and "choose it with --series " in hint[0]
    picked_id = hint[0].rsplit(" ", 1)[1]
    picked = assemble(messages, diagnostics=diags, message_id=picked_id)
    assert len(picked.patches) == 1 and picked.patches[0].message_id == picked_id
    got = kvmplan("series", str(mbox), "--series", "<no-such@example.org>")
    assert got.returncode == 2 and "no series in the input holds" in got.stderr


@pytest.mark.slow
def test_vendor_follows_the_series() -> None:
    """A real SVM-only series (SEV-ES TSC_AUX, 2023) runs with vendor svm."""
    mbox = LIFECYCLE / "kvm-svm-sev-es-tsc-aux-uret-2023-09.mbox"
    if not mbox.is_file():
        pytest.skip(f"{mbox} not found: ../shared is not beside the repository")
    got = kvmplan("analyze", str(mbox), "-q", "-f", "json", "--fail-on", "never")
    data = json.loads(got.stdout)
    assert data["vendor"] == {"name": "svm", "reason": "the series touches SVM code only"}
    forced = kvmplan("analyze", str(mbox), "-q", "-f", "json", "--fail-on", "never",
                     "--vendor", "vmx")
    assert json.loads(forced.stdout)["vendor"] == {"name": "vmx", "reason": "--vendor"}


def test_coverage_names_the_lifecycle_functions_each_patch_changes() -> None:
    """Our example: patch 1 moves the enable callback to the ONLINE section
    (renames and re-registers it), patch 2 takes cpus_read_lock() in the
    enable/disable-all paths; hunk headers without a function name too."""
    got = kvmplan("analyze", str(EXAMPLE), "-q", "-f", "json")
    data = json.loads(got.stdout)
    assert data["verdict"] == "clean"
    per_patch = [p["coverage"]["lifecycle_functions"] for p in data["patches"]]
    assert {"kvm_starting_cpu", "kvm_online_cpu", "kvm_init"} <= set(per_patch[0])
    assert per_patch[1] == ["hardware_disable_all", "hardware_enable_all"]
    assert data["coverage"]["files"] == {"in_model": 3, "other": 0, "outside_model": 0}
