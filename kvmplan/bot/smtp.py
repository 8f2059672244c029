"""Sending a reply by SMTP, only to allow-listed recipient domains.

The headers stay as written (To:, Cc: name everyone the reply is about);
the envelope carries only the allowed recipients. A Date: header is added
when sending (the outbox copy has none, so it stays byte-identical run to
run). A reply is sent at least once: a kill between the server's "250 OK"
and the bot recording it sends it again on restart, with the same
Message-ID, which list archives and mail clients treat as one mail.
"""

from __future__ import annotations

import email
import email.utils
import os
import smtplib
from dataclasses import dataclass
from email.policy import compat32

from kvmplan.bot.config import SmtpConfig


@dataclass(frozen=True)
class Sent:
    status: str                 # sent | no-recipient
    recipients: tuple[str, ...]
    dropped: tuple[str, ...]


def allowed(address: str, domains: tuple[str, ...]) -> bool:
    domain = address.rsplit("@", 1)[-1].lower() if "@" in address else ""
    return bool(domain) and any(domain == d or domain.endswith("." + d) for d in domains)


def send(cfg: SmtpConfig, envelope_from: str, data: bytes) -> Sent:
    """Send one outbox reply. Raises OSError / smtplib.SMTPException on failure."""
    msg = email.message_from_bytes(data, policy=compat32)
    addresses = [a for _, a in email.utils.getaddresses(
        msg.get_all("To", []) + msg.get_all("Cc", [])) if a]
    keep = tuple(dict.fromkeys(a for a in addresses if allowed(a, cfg.allow)))
    dropped = tuple(dict.fromkeys(a for a in addresses if not allowed(a, cfg.allow)))
    if not keep:
        return Sent("no-recipient", (), dropped)
    if "Date" not in msg:
        msg["Date"] = email.utils.formatdate(usegmt=True)
    payload = msg.as_bytes(policy=compat32.clone(linesep="\r\n"))   # SMTP wants CRLF
    with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as server:
        server.ehlo_or_helo_if_needed()
        if cfg.starttls:
            server.starttls()
            server.ehlo()
        if cfg.user:
            server.login(cfg.user, os.environ.get("KVMPLAN_SMTP_PASSWORD", ""))
        options = ["BODY=8BITMIME"] if server.has_extn("8bitmime") else []
        server.sendmail(envelope_from, list(keep), payload, mail_options=options)
    return Sent("sent", keep, dropped)
