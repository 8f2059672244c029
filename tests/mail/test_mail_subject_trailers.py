"""Subject prefixes and trailers."""

from __future__ import annotations

import pytest

from kvmplan.mail import (
    Trailer,
    parse_commit_trailers,
    parse_reply_trailers,
    parse_subject,
)


@pytest.mark.parametrize(
    ("subject", "reply", "patch", "version", "k", "m", "title"),
    [
        ("[PATCH v2 03/50] KVM: x", False, True, 2, 3, 50, "KVM: x"),
        ("[PATCH 00/44] KVM: Rework", False, True, 1, 0, 44, "KVM: Rework"),
        ("[RFC PATCH v1 0/5] t", False, True, 1, 0, 5, "t"),
        ("[PATCH 003/103] KVM: y", False, True, 1, 3, 103, "KVM: y"),
        ("[PATCH v8 003/103] KVM: y", False, True, 8, 3, 103, "KVM: y"),
        ("[PATCH net-next v2 3/7] net: z", False, True, 2, 3, 7, "net: z"),
        ("Re: [PATCH v4 2/6] Partially revert", True, True, 4, 2, 6, "Partially revert"),
        ("RE: [PATCH v4 2/6] t", True, True, 4, 2, 6, "t"),
        ("Re: Re: [PATCH] t", True, True, 1, 1, 1, "t"),
        ("Aw: [PATCH 1/2] t", True, True, 1, 1, 2, "t"),
        ("[PATCH] KVM: one", False, True, 1, 1, 1, "KVM: one"),
        ("[PATCHv3 1/2] t", False, True, 3, 1, 2, "t"),
        ("[PATCH V2 1/2] t", False, True, 2, 1, 2, "t"),
        ("[PATCH v2] [RESEND] t", False, True, 2, 1, 1, "t"),
        ("[PATCH v2 3/7]\n  folded  title", False, True, 2, 3, 7, "folded title"),
        ("[GIT PULL] KVM changes", False, False, 1, None, None, "KVM changes"),
        ("Re: hello", True, False, 1, None, None, "hello"),
        ("", False, False, 1, None, None, ""),
    ],
)
def test_parse_subject(
    subject: str, reply: bool, patch: bool, version: int, k: int | None, m: int | None, title: str
) -> None:
    s = parse_subject(subject)
    assert (s.is_reply, s.is_patch, s.version, s.index, s.expected, s.title) == (
        reply,
        patch,
        version,
        k,
        m,
        title,
    )


def test_prefixes_and_rfc() -> None:
    s = parse_subject("[RFC PATCH net-next v2 3/7] t")
    assert s.prefixes == ("RFC", "PATCH", "net-next") and s.is_rfc and not s.is_cover
    assert parse_subject("[PATCH 0/3] t").is_cover


def test_commit_trailers_last_paragraph() -> None:
    message = (
        "KVM: do it\n\nReviewed-by: not a trailer here, it is prose\n\n"
        "Fixes: 0123456789ab (\"KVM: old\")\nCo-developed-by: A <a@x>\n"
        "signed-off-by: A <a@x>\n[sean: massage changelog]\nLink: https://lore.kernel.org/r/x\n"
        "Reviewed-by: B <b@x>\n  (continued)\n"
    )
    assert parse_commit_trailers(message) == (
        Trailer("Fixes", '0123456789ab ("KVM: old")'),
        Trailer("Co-developed-by", "A <a@x>"),
        Trailer("Signed-off-by", "A <a@x>"),
        Trailer("Link", "https://lore.kernel.org/r/x"),
        Trailer("Reviewed-by", "B <b@x> (continued)"),
    )


def test_reply_trailers_skip_quotes_prose_and_proposed_diffs() -> None:
    body = (
        "On Mon, X wrote:\n> Reviewed-by: Quoted <q@x>\n> Signed-off-by: Author <a@x>\n\n"
        "Acked-by: see above\nReviewed-by: Real Reviewer <r@x>\nTested-by: T <t@x>\n"
        "Cc: c@x\n\nHow about this instead:\n\ndiff --git a/f b/f\n"
        "Signed-off-by: Proposed <p@x>\n"
    )
    assert parse_reply_trailers(body, "m@x") == (
        Trailer("Reviewed-by", "Real Reviewer <r@x>", "m@x"),
        Trailer("Tested-by", "T <t@x>", "m@x"),
    )


def test_reply_trailers_stop_at_signature_and_original_message() -> None:
    body = "Acked-by: A <a@x>\n\n-----Original Message-----\nSigned-off-by: Author <s@x>\n"
    assert [t.value for t in parse_reply_trailers(body)] == ["A <a@x>"]
    body = "Acked-by: A <a@x>\n-- \nReviewed-by: Sig <s@x>\n"
    assert [t.value for t in parse_reply_trailers(body)] == ["A <a@x>"]
