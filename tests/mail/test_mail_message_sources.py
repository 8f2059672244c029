"""Decoding one message, and reading mboxes, maildirs, files and directories."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from mailtest_helpers import FIXTURES

from kvmplan.mail import InputError, load_messages, parse_message, read_raw, split_mbox


def mail(headers: str, body: bytes) -> bytes:
    return headers.encode() + b"\n" + body


def test_quoted_printable_is_decoded_before_the_diff() -> None:
    raw = mail(
        "Message-ID: <qp@x>\nSubject: [PATCH] t\nContent-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: quoted-printable\n",
        b"@@ -1,2 +1,2 @@ int f(int a, int b=\n)\n-\tx =3D 1;\n+\tx =3D 2;\n=20\nDaud=C3=A9\n",
    )
    m = parse_message(raw, "t")
    assert m.body == "@@ -1,2 +1,2 @@ int f(int a, int b)\n-\tx = 1;\n+\tx = 2;\n \nDaudé\n"
    assert m.diagnostics == ()


def test_base64_crlf_and_iso_8859_1() -> None:
    text = "Reviewed-by: J\u00f6rg <j@x>\r\n".encode("iso-8859-1")
    raw = mail(
        "Message-ID: <b@x>\r\nSubject: Re: [PATCH] t\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: base64\r\n",
        base64.encodebytes(text).replace(b"\n", b"\r\n"),
    )
    m = parse_message(raw, "t")
    assert m.body == "Reviewed-by: J\u00f6rg <j@x>\n"
    assert m.subject == "Re: [PATCH] t"


def test_headers_encoded_words_folding_and_raw_8bit() -> None:
    raw = (
        b"From: =?UTF-8?q?Philippe=20Mathieu-Daud=C3=A9?= <philmd@x>\n"
        b"Subject: [PATCH v2 1/2] a long\n subject\tline\nMessage-Id: <Id@X>\n"
        b"In-Reply-To: <parent@x> (comment)\nReferences: <root@x>\n <parent@x>\n\nbody\n"
    ) + "X-Name: R\u00f6del\n".encode()
    m = parse_message(raw, "t")
    assert m.author == "Philippe Mathieu-Daudé <philmd@x>"
    assert m.subject == "[PATCH v2 1/2] a long subject line"
    assert (m.message_id, m.in_reply_to, m.references) == ("Id@X", "parent@x", ("root@x", "parent@x"))
    assert m.parents == ("parent@x", "root@x")
    raw8 = "From: J\u00f6rg <j@x>\nSubject: s\nMessage-ID: <8@x>\n\nb\n".encode()
    assert parse_message(raw8, "t").author == "J\u00f6rg <j@x>"


def test_missing_message_id_is_synthetic_and_stable() -> None:
    raw = b"Subject: [PATCH] t\n\nbody\n"
    a, b = parse_message(raw, "one"), parse_message(raw, "two")
    assert a.message_id == b.message_id and a.message_id.startswith("kvmplan-")
    assert [d.severity for d in a.diagnostics] == ["info"]


def test_bad_charsets_become_diagnostics() -> None:
    unknown = mail("Message-ID: <u@x>\nContent-Type: text/plain; charset=x-klingon\n", b"caf\xc3\xa9\n")
    m = parse_message(unknown, "t")
    assert m.body == "café\n" and "unknown charset" in m.diagnostics[0].text
    wrong = mail("Message-ID: <w@x>\nContent-Type: text/plain; charset=utf-8\n", b"caf\xe9 \xff\n")
    m = parse_message(wrong, "t")
    assert "\ufffd" in m.body
    assert m.diagnostics[0].message_id == "w@x" and "replacement" in m.diagnostics[0].text


def test_corrupt_base64_is_a_warning() -> None:
    raw = mail(
        "Message-ID: <c@x>\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n",
        b"SGVsbG8gd29ybGQ!!!*\n",
    )
    m = parse_message(raw, "t")
    assert any("base64" in d.text for d in m.diagnostics)


def test_html_only_and_attachment_fixtures() -> None:
    (html,), _ = load_messages(FIXTURES / "html-only.eml")
    assert html.body == "" and any("HTML-only" in d.text for d in html.diagnostics)
    (att,), _ = load_messages(FIXTURES / "attachment.eml")
    assert "attached" in att.body
    assert att.attachments[0].filename == "0001-rename.patch"
    assert "diff --git" in att.attachments[0].text


def test_multipart_alternative_prefers_plain() -> None:
    raw = mail(
        'Message-ID: <alt@x>\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b"\n',
        b"--b\nContent-Type: text/html\n\n<p>x</p>\n--b\nContent-Type: text/plain\n\nplain text\n--b--\n",
    )
    m = parse_message(raw, "t")
    assert m.body.strip() == "plain text" and m.diagnostics == ()


def test_mboxrd_and_mboxo_unquoting() -> None:
    body = b"Subject: s\n\n>From a\n>>From b\n"
    rd = split_mbox(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + body, "rd")
    o = split_mbox(b"From someone@x Thu Jan  1 00:00:00 1970\n" + body, "o")
    assert rd[0].data.endswith(b"From a\n>From b\n")
    assert o[0].data.endswith(b"From a\n>>From b\n")


def test_mbox_split_needs_a_real_from_line_and_tolerates_truncation() -> None:
    data = (
        b"From x@y Mon Jan  1 00:00:00 2024\nSubject: one\n\nFrom here on, prose.\n\n"
        b"From x@y Mon Jan  1 00:00:01 2024\nSubject: two\n\nhalf a li"
    )
    parts = split_mbox(data, "m")
    assert len(parts) == 2 and b"From here on" in parts[0].data and parts[1].data.endswith(b"half a li\n")
    assert [p.origin for p in parts] == ["m#1", "m#2"]


def test_read_raw_sources(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_raw(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no mail files"):
        read_raw(tmp_path / "empty")
    msgs, _ = read_raw("-", stdin=io.BytesIO(b"Subject: [PATCH] s\nMessage-ID: <s@x>\n\nb\n"))
    assert len(msgs) == 1 and msgs[0].origin == "<stdin>"
    fp, diags = read_raw(FIXTURES / "format-patch")
    assert len(fp) == 4 and diags == []
    assert read_raw(FIXTURES / "example-series.mbox")[0][0].origin.endswith("example-series.mbox#1")


def test_maildir_with_from_line_in_a_file(tmp_path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "new" / "1.a").write_bytes(b"Subject: [PATCH 1/2] a\nMessage-ID: <a@x>\n\nb\n")
    (tmp_path / "cur" / "2.b:2,S").write_bytes(
        b"From x@y Mon Jan  1 00:00:00 2024\nSubject: [PATCH 2/2] b\nMessage-ID: <b@x>\n\nb\n"
    )
    (tmp_path / "cur" / ".hidden").write_bytes(b"junk")
    msgs, _ = load_messages(tmp_path)
    assert sorted(m.message_id for m in msgs) == ["a@x", "b@x"]
