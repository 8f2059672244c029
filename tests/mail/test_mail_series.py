"""Series assembly on our fixtures and on small synthetic threads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mailtest_helpers import FIXTURES, run_cli

from kvmplan.mail import InputError, Message, assemble, load_messages, parse_message


def msg(mid: str, subject: str, body: str = "", reply_to: str | None = None, refs: str = "") -> Message:
    head = f"Message-ID: <{mid}>\nSubject: {subject}\nFrom: A <a@x>\n"
    if reply_to:
        head += f"In-Reply-To: <{reply_to}>\n"
    if refs:
        head += f"References: {refs}\n"
    return parse_message((head + "\n" + body).encode(), mid)


def diff(name: str = "f.c") -> str:
    return f"Signed-off-by: A <a@x>\n---\ndiff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n@@ -1 +1 @@\n-a\n+b\n"


def test_example_series() -> None:
    series = assemble(load_messages(FIXTURES / "example-series.mbox")[0])
    assert series.title == "KVM: Move hardware enabling to the ONLINE hotplug section"
    assert (series.version, series.expected, series.missing, series.duplicates) == (1, 3, (), ())
    assert series.base_commit == "0123456789abcdef0123456789abcdef01234567"
    assert series.change_id == "20250303-kvm-online-hotplug-0a1b2c3d4e5f"
    p1, p2, p3 = series.patches
    # Patch 2 is quoted-printable, with a folded subject.
    assert p2.title == "KVM: Register the hotplug callbacks in the ONLINE section"
    assert [f.path for f in p2.files] == ["include/linux/cpuhotplug.h", "virt/kvm/kvm_main.c"]
    hunk = p2.files[1].hunks[0]
    assert hunk.section.startswith("int kvm_init(unsigned vcpu_size")
    assert any(line.text.startswith("\tr = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE") for line in hunk.lines)
    assert [(t.name, t.value, t.message_id) for t in p2.reply_trailers] == [
        ("Reviewed-by", "Grace Hopper <grace@example.net>", "Z9reply.grace@example.net")
    ]
    assert p1.reply_trailers == () and p3.reply_trailers == ()
    assert p3.author == "Jörg Müller <joerg@example.com>"
    assert not p3.commit_message.startswith("From:")
    (reply,) = series.replies
    assert (reply.answers, reply.answers_message_id) == (2, p2.message_id)
    assert series.diagnostics == ()


def test_same_series_from_format_patch_directory() -> None:
    from_mbox = assemble(load_messages(FIXTURES / "example-series.mbox")[0])
    from_dir = assemble(load_messages(FIXTURES / "format-patch")[0])
    assert [p.title for p in from_dir.patches] == [p.title for p in from_mbox.patches]
    assert [p.files for p in from_dir.patches] == [p.files for p in from_mbox.patches]
    assert from_dir.base_commit == from_mbox.base_commit


def test_truncated_mbox_keeps_what_it_can() -> None:
    series = assemble(load_messages(FIXTURES / "truncated.mbox")[0])
    assert [p.index for p in series.patches] == [1, 2] and series.missing == (3,)
    assert [f.path for f in series.patches[1].files] == ["include/linux/cpuhotplug.h"]
    assert any(d.severity == "error" and "kvm_main.c" in d.text for d in series.diagnostics)


def test_missing_duplicates_and_order() -> None:
    msgs = [
        msg("c", "[PATCH v2 0/4] T"),
        msg("p3", "[PATCH v2 3/4] three", diff(), "c"),
        msg("p1", "[PATCH v2 1/4] one", diff(), "c"),
        msg("p1b", "[PATCH v2 1/4] one again", diff(), "c"),
        msg("p1", "[PATCH v2 1/4] one", diff(), "c"),
    ]
    series = assemble(msgs)
    assert [p.message_id for p in series.patches] == ["p1", "p3"]
    assert series.missing == (2, 4)
    assert [(d.index, d.message_ids) for d in series.duplicates] == [(1, ("p1", "p1b"))]
    texts = [d.text for d in series.diagnostics]
    assert any("appears 2 times" in t for t in texts)
    assert any("patch 1 sent 2 times" in t for t in texts)


def test_reply_with_a_diff_is_still_a_reply_and_cover_trailers_go_to_all() -> None:
    msgs = [
        msg("c", "[PATCH 0/2] T"),
        msg("p1", "[PATCH 1/2] one", diff(), "c"),
        msg("p2", "[PATCH 2/2] two", diff(), "c"),
        msg("r1", "Re: [PATCH 1/2] one", "Try this:\n\n" + diff("g.c"), "p1", "<c> <p1>"),
        msg("r0", "Re: [PATCH 0/2] T", "> quoted\nFor the series:\nAcked-by: M <m@x>\n", "c"),
        msg("r00", "Re: [PATCH 0/2] T", "Tested-by: T <t@x>\n", "r0", "<c> <r0>"),
    ]
    series = assemble(msgs)
    assert [p.message_id for p in series.patches] == ["p1", "p2"]
    assert [(r.message_id, r.answers, r.has_diff) for r in series.replies] == [
        ("r1", 1, True),
        ("r0", 0, False),
        ("r00", 0, False),
    ]
    for p in series.patches:
        assert [t.name for t in p.reply_trailers] == ["Acked-by", "Tested-by"]


def test_broken_thread_falls_back_to_the_subject() -> None:
    msgs = [
        msg("c", "[PATCH v3 0/2] T"),
        msg("p1", "[PATCH v3 1/2] one", diff(), "c"),
        msg("p2", "[PATCH v3 2/2] two", diff(), "c"),
        # Its parent is a message we do not have, and it has no References.
        msg("r", "Re: [PATCH v3 2/2] two", "Reviewed-by: R <r@x>\n", "absent"),
    ]
    series = assemble(msgs)
    assert [(r.answers, r.answers_message_id) for r in series.replies] == [(2, "p2")]
    assert [t.value for t in series.patches[1].reply_trailers] == ["R <r@x>"]


def test_versions_in_one_thread_and_version_flag() -> None:
    msgs = [
        msg("c1", "[PATCH 0/1] T"),
        msg("a1", "[PATCH 1/1] one", diff(), "c1"),
        msg("r1", "Re: [PATCH 1/1] one", "Reviewed-by: Old <o@x>\n", "a1", "<c1> <a1>"),
        msg("c2", "[PATCH v2 0/1] T", "", "c1"),
        msg("a2", "[PATCH v2 1/1] one", diff(), "c2", "<c1> <c2>"),
    ]
    newest = assemble(msgs)
    assert newest.version == 2 and [p.message_id for p in newest.patches] == ["a2"]
    # v1's reply is not v2's, even in the same thread.
    assert newest.replies == () and newest.patches[0].reply_trailers == ()
    assert any("v1 'T' (1 patch + cover)" in d.text for d in newest.diagnostics)
    v1 = assemble(msgs, version=1)
    assert [p.message_id for p in v1.patches] == ["a1"] and [r.message_id for r in v1.replies] == ["r1"]
    with pytest.raises(InputError, match="no version 5"):
        assemble(msgs, version=5)


def test_unrelated_threads_pick_the_bigger_and_say_so() -> None:
    msgs = [
        msg("x1", "[PATCH 1/1] lone"),
        msg("c", "[PATCH 0/2] T"),
        msg("p1", "[PATCH 1/2] one", diff(), "c"),
        msg("p2", "[PATCH 2/2] two", diff(), "c"),
        msg("note", "Meeting notes"),
    ]
    series = assemble(msgs)
    assert series.title == "T" and len(series.patches) == 2
    texts = [d.text for d in series.diagnostics]
    assert any("'lone'" in t for t in texts) and any("Meeting notes" in t for t in texts)


def test_unthreaded_format_patch_files_group_by_version() -> None:
    msgs = [msg(f"f{k}", f"[PATCH v2 {k}/3] p{k}", diff()) for k in (3, 1, 2)]
    series = assemble(msgs)
    assert [p.index for p in series.patches] == [1, 2, 3] and series.cover is None
    assert series.title == "p1"


def test_replies_only() -> None:
    msgs = [
        msg("r2", "Re: [PATCH v4 2/6] two", "Acked-by: A <a@x>\n", "p2", "<c> <p2>"),
        msg("r0", "Re: [PATCH v4 0/6] The series", "thanks", "c", "<c>"),
    ]
    series = assemble(msgs)
    assert series.replies_only and series.patches == () and series.missing == ()
    assert (series.title, series.version, series.expected) == ("The series", 4, 6)
    assert [(r.answers, r.answers_message_id) for r in series.replies] == [(2, None), (0, None)]
    assert any("no patches found" in d.text for d in series.diagnostics)


@pytest.mark.parametrize(
    "messages",
    [[], [msg("n", "Meeting notes", "hello")], [msg("r", "Re: lunch?", "yes", "q")]],
)
def test_nothing_usable_raises(messages: list[Message]) -> None:
    with pytest.raises(InputError):
        assemble(messages)


def test_patch_as_attachment_and_edge_fixtures() -> None:
    (att,) = assemble(load_messages(FIXTURES / "attachment.eml")[0]).patches
    assert [f.path for f in att.files] == ["virt/kvm/kvm_main.c"] and att.added == 2
    (b64,) = assemble(load_messages(FIXTURES / "base64-crlf.eml")[0]).patches
    assert b64.files == att.files
    latin = assemble(load_messages(FIXTURES / "iso-8859-1.eml")[0])
    assert latin.patches[0].author == "Jörg Müller <joerg@example.com>" and latin.diagnostics == ()
    html = assemble(load_messages(FIXTURES / "html-only.eml")[0])
    assert {d.text for d in html.diagnostics} >= {
        "HTML-only mail: no text/plain part, body ignored",
        "patch 1/1 has no diff",
    }
    traversal = assemble(load_messages(FIXTURES / "traversal.patch")[0])
    files = traversal.patches[0].files
    assert [(f.path, f.path_is_safe) for f in files] == [("../../etc/passwd", False), ("virt/kvm/Kconfig", True)]
    assert [d.severity for d in traversal.diagnostics] == ["error"]


def test_cli_text_json_and_exit_codes(tmp_path: Path) -> None:
    code, out, err = run_cli(["series", str(FIXTURES / "example-series.mbox")])
    assert code == 0 and err == ""
    assert "2/3 KVM: Register the hotplug callbacks in the ONLINE section  [2 files, +2 -2]" in out
    assert "+ Reviewed-by: Grace Hopper <grace@example.net>  (reply)" in out
    code, out, _ = run_cli(["series", str(FIXTURES / "example-series.mbox"), "--format", "json"])
    data = json.loads(out)
    assert out.endswith("}\n") and "Jörg" in out  # ensure_ascii=False
    assert data["series"]["expected"] == 3 and data["series"]["missing"] == []
    assert data["patches"][1]["files"][0]["hunks"][0]["section"] == "enum cpuhp_state {"
    assert set(data["replies"][0]) >= {"message_id", "in_reply_to", "author", "trailers"}
    _, again, _ = run_cli(["series", str(FIXTURES / "example-series.mbox"), "--format", "json"])
    assert again == out

    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    for args in (
        ["series", str(tmp_path / "missing.mbox")],
        ["series", str(empty)],
        ["series", str(junk)],
        ["series", str(FIXTURES / "example-series.mbox"), "--format", "yaml"],
        ["series", str(FIXTURES / "example-series.mbox"), "--series-version", "0"],
    ):
        code, out, err = run_cli(args)
        assert code == 2, args
        assert out == "" and err.startswith("kvmplan: error: ") and err.count("\n") == 1, err
        assert "internal error" not in err and "Traceback" not in err


def test_lone_unrelated_patches_are_separate_series() -> None:
    msgs = [msg("a", "[PATCH] first", diff()), msg("b", "[PATCH] second", diff("g.c"))]
    series = assemble(msgs)
    assert [p.message_id for p in series.patches] == ["a"] and series.duplicates == ()
    assert any("'second'" in d.text for d in series.diagnostics)


def test_reply_naming_another_version_is_left_aside() -> None:
    msgs = [
        # v2 is sent in reply to v1's cover, which is not in the input.
        msg("c2", "[PATCH v2 0/1] T", "", "c1-absent"),
        msg("a2", "[PATCH v2 1/1] one", diff(), "c2", "<c1-absent> <c2>"),
        msg("r1", "Re: [PATCH 1/1] one", "Reviewed-by: Old <o@x>\n", "a1-absent", "<c1-absent> <a1-absent>"),
    ]
    series = assemble(msgs)
    assert series.replies == () and series.patches[0].reply_trailers == ()
