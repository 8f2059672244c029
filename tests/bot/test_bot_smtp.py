"""Sending by SMTP to a local aiosmtpd server on 127.0.0.1: only when
configured, only to allow-listed domains, each reply once."""

from __future__ import annotations

import email
import email.utils
import socket
from pathlib import Path

import pytest
from bothelp import SMALL, concat, corpus, events, run_bot, series_rows, snapshot

# end to end: real bot processes that analyse real series
pytestmark = pytest.mark.slow

aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd (test extra) not installed")


class Collect:
    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture()
def smtp_server():
    handler = Collect()
    with socket.socket() as probe:            # a free port (aiosmtpd can't take port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = aiosmtpd.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def test_replies_are_sent_once_to_allowed_domains(tmp_path: Path, smtp_server) -> None:
    port, handler = smtp_server
    mbox = concat(corpus(*SMALL[2:4]), tmp_path / "list.mbox")    # CPU hotplug v4 + replies
    cfg = tmp_path / "kvmplan.toml"
    cfg.write_text(f"""[bot]
from = "kvmplan bot <bot@ci.example.org>"

[bot.smtp]
host = "127.0.0.1"
port = {port}
allow = ["vger.kernel.org"]
""")
    out = tmp_path / "out"
    r = run_bot(mbox, out, "--once", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    mails = {k: v for k, v in snapshot(out).items() if k.startswith("maildir/")}
    assert len(handler.envelopes) == len(mails) >= 2
    outbox_ids = {email.message_from_bytes(v)["Message-ID"] for v in mails.values()}
    sent_ids = set()
    for mail_from, rcpts, content in handler.envelopes:
        assert mail_from == "bot@ci.example.org"
        assert rcpts and all(r.endswith("@vger.kernel.org") for r in rcpts)
        msg = email.message_from_bytes(content)
        sent_ids.add(msg["Message-ID"])
        assert msg["Date"]                                    # added when sending
        assert msg["From"] == "kvmplan bot <bot@ci.example.org>"
        # the headers still name everyone; only the envelope is filtered
        named = [a for _, a in email.utils.getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []))]
        assert "chao.gao@intel.com" in named and "chao.gao@intel.com" not in rcpts
    assert sent_ids == outbox_ids
    sent_events = [e for e in events(out) if e["event"] == "reply.sent"]
    assert len(sent_events) == len(mails)
    assert all("chao.gao@intel.com" in e["dropped"] for e in sent_events)

    r = run_bot(mbox, out, "--once", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert len(handler.envelopes) == len(mails)               # nothing sent twice


def test_nothing_is_sent_without_smtp_config(tmp_path: Path, smtp_server) -> None:
    _, handler = smtp_server
    mbox = concat(corpus(SMALL[0]), tmp_path / "list.mbox")
    out = tmp_path / "out"
    assert run_bot(mbox, out).returncode == 0
    assert [r["status"] for r in series_rows(out)] == ["replied"]
    assert handler.envelopes == []


def test_unreachable_server_is_retried_then_given_up(tmp_path: Path) -> None:
    mbox = concat(corpus(SMALL[0]), tmp_path / "list.mbox")
    cfg = tmp_path / "kvmplan.toml"
    cfg.write_text("""[bot]
max_attempts = 2

[bot.smtp]
host = "127.0.0.1"
port = 9
timeout = 2
allow = ["vger.kernel.org"]
""")
    out = tmp_path / "out"
    for _ in range(3):
        assert run_bot(mbox, out, "--once", "--config", str(cfg)).returncode == 0
    failed = [e for e in events(out) if e["event"] == "reply.send-failed"]
    assert [e["attempt"] for e in failed] == [1, 2]
    assert [e["will_retry"] for e in failed] == [True, False]
