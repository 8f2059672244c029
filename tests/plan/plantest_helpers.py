"""Helpers shared by the plan tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmplan.mail import Series, assemble, load_messages

ROOT = Path(__file__).resolve().parents[2]
# the shared corpus sits next to the checkout (../shared)
V2 = ROOT.parent / "shared" / "corpus" / "mail" / "kvm-rework-kvm-init-v2.mbox"


def v2_series() -> Series:
    """The v2 'Rework kvm_init() and hardware enabling' series, or skip."""
    if not V2.is_file():
        pytest.skip(f"{V2} not present (the shared corpus)")
    messages, diagnostics = load_messages(str(V2))
    return assemble(messages, diagnostics=diagnostics)
