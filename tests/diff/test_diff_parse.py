"""parse_diff and split_patch: hunks, git extended headers, the end of a diff,
broken diffs and unsafe paths."""

from __future__ import annotations

import pytest

from kvmplan.diff import FilePatch, Line, parse_diff, split_patch, unsafe_path_reason

MODIFY = """\
diff --git a/virt/kvm/kvm_main.c b/virt/kvm/kvm_main.c
index 1111111..2222222 100644
--- a/virt/kvm/kvm_main.c
+++ b/virt/kvm/kvm_main.c
@@ -10,4 +10,5 @@ static int kvm_online_cpu(unsigned int cpu)
 {
-\tfoo();
+\tbar();
+\tbaz();
 \treturn 0;
 }
@@ -40,2 +41,2 @@ int kvm_init(void)
-\tx = 1;
+\tx = 2;
 \treturn r;
"""


def test_hunks_lines_and_numbers() -> None:
    files, diags = parse_diff(MODIFY)
    assert diags == ()
    (f,) = files
    assert (f.path, f.old_path, f.new_path, f.status) == (
        "virt/kvm/kvm_main.c",
        "virt/kvm/kvm_main.c",
        "virt/kvm/kvm_main.c",
        "modified",
    )
    assert (f.added, f.removed) == (3, 2)
    first, second = f.hunks
    assert (first.old_start, first.old_len, first.new_start, first.new_len) == (10, 4, 10, 5)
    assert first.section == "static int kvm_online_cpu(unsigned int cpu)"
    assert second.section == "int kvm_init(void)"
    assert first.lines == (
        Line(" ", "{", 10, 10),
        Line("-", "\tfoo();", 11, None),
        Line("+", "\tbar();", None, 11),
        Line("+", "\tbaz();", None, 12),
        Line(" ", "\treturn 0;", 12, 13),
        Line(" ", "}", 13, 14),
    )
    # Lines are plain tuples too, for consumers that unpack them.
    kind, text, old, new = second.lines[0]
    assert (kind, text, old, new) == ("-", "\tx = 1;", 40, None)


EXTENDED = """\
diff --git a/arch/mips/kvm/callback.c b/arch/mips/kvm/callback.c
deleted file mode 100644
index 1d6b5b1..0000000
--- a/arch/mips/kvm/callback.c
+++ /dev/null
@@ -1,2 +0,0 @@
-int a;
-int b;
diff --git a/virt/kvm/new.c b/virt/kvm/new.c
new file mode 100644
index 0000000..1d6b5b1
--- /dev/null
+++ b/virt/kvm/new.c
@@ -0,0 +1 @@
+int c;
diff --git a/old/name.h b/new/name.h
similarity index 97%
rename from old/name.h
rename to new/name.h
index 1111111..2222222 100644
--- a/old/name.h
+++ b/new/name.h
@@ -1 +1 @@
-#define A 1
+#define A 2
diff --git a/pure/rename.c b/pure/renamed.c
similarity index 100%
rename from pure/rename.c
rename to pure/renamed.c
diff --git a/scripts/run.sh b/scripts/run.sh
old mode 100644
new mode 100755
diff --git a/tools/blob.bin b/tools/blob.bin
new file mode 100644
index 0000000..aaaaaaa
Binary files /dev/null and b/tools/blob.bin differ
diff --git a/a.c b/b.c
similarity index 90%
copy from a.c
copy to b.c
"""


def _by_path(files: tuple[FilePatch, ...]) -> dict[str, FilePatch]:
    return {f.path: f for f in files}


def test_git_extended_headers() -> None:
    files, diags = parse_diff(EXTENDED)
    assert diags == ()
    f = _by_path(files)
    deleted = f["arch/mips/kvm/callback.c"]
    assert deleted.is_deleted and deleted.new_path is None and deleted.old_mode == "100644"
    assert (deleted.removed, deleted.status) == (2, "deleted")
    new = f["virt/kvm/new.c"]
    assert new.is_new and new.old_path is None and new.new_mode == "100644" and new.added == 1
    renamed = f["new/name.h"]
    assert renamed.is_rename and renamed.old_path == "old/name.h" and renamed.similarity == 97
    pure = f["pure/renamed.c"]
    assert pure.is_rename and pure.hunks == () and pure.old_path == "pure/rename.c"
    mode = f["scripts/run.sh"]
    assert mode.is_mode_change and (mode.old_mode, mode.new_mode) == ("100644", "100755")
    binary = f["tools/blob.bin"]
    assert binary.is_binary and binary.is_new and binary.hunks == ()
    copy = f["b.c"]
    assert copy.is_copy and copy.old_path == "a.c" and copy.status == "copied"


def test_git_binary_patch_is_skipped_whole() -> None:
    text = (
        "diff --git a/fw.bin b/fw.bin\nnew file mode 100644\nindex 0000000..1111111\n"
        "GIT binary patch\nliteral 12\nTcmZ?wbhEHbG-c3a00g6j2LJ#7\n\nliteral 0\nHcmV?d00001\n\n"
        + MODIFY
    )
    files, diags = parse_diff(text)
    assert diags == ()
    assert [f.path for f in files] == ["fw.bin", "virt/kvm/kvm_main.c"]
    assert files[0].is_binary


def test_signature_is_not_a_removed_line() -> None:
    # "-- " after the last hunk is the signature; inside a hunk it is a
    # removed line "- ". Only the hunk counts tell them apart.
    text = (
        "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,2 +1,1 @@\n a\n-- \n"
        "-- \n2.38.1\n\nbase-commit: 0123456789abcdef\n"
    )
    (f,), diags = parse_diff(text)
    assert diags == ()
    assert [line.kind + line.text for line in f.hunks[0].lines] == [" a", "-- "]


def test_empty_context_line_and_no_newline_marker() -> None:
    text = "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n\\ No newline at end of file\n"
    (f,), diags = parse_diff(text)
    assert diags == ()
    assert [line.kind for line in f.hunks[0].lines] == [" ", " ", "-", "+", "\\"]
    assert f.hunks[0].lines[1] == Line(" ", "", 2, 2)
    assert f.hunks[0].lines[-1].text == "No newline at end of file"


def test_broken_file_gets_a_diagnostic_and_the_rest_goes_on() -> None:
    broken = "diff --git a/bad.c b/bad.c\n--- a/bad.c\n+++ b/bad.c\n@@ -1,5 +1,5 @@\n a\n-b\n"
    files, diags = parse_diff(broken + MODIFY)
    assert [f.path for f in files] == ["virt/kvm/kvm_main.c"]
    assert len(diags) == 1 and diags[0].severity == "error" and "bad.c" in diags[0].text


def test_text_without_diff() -> None:
    assert parse_diff("just prose\n--- not a diff\n") == ((), ())
    assert parse_diff("") == ((), ())


@pytest.mark.parametrize(
    ("path", "unsafe"),
    [
        ("virt/kvm/kvm_main.c", False),
        ("a..b/c", False),
        ("../../etc/passwd", True),
        ("virt/../../x", True),
        ("/etc/passwd", True),
        ("C:\\windows", True),
        ("dir\\..\\x", True),
        ("", True),
    ],
)
def test_unsafe_path_reason(path: str, unsafe: bool) -> None:
    assert (unsafe_path_reason(path) is not None) == unsafe


def test_traversal_and_absolute_paths_are_flagged() -> None:
    text = (
        "diff --git a/../../etc/passwd b/../../etc/passwd\n--- a/../../etc/passwd\n"
        "+++ b/../../etc/passwd\n@@ -1 +1,2 @@\n root\n+kvm\n"
        "--- /etc/shadow\n+++ /etc/shadow\n@@ -1 +1 @@\n-a\n+b\n" + MODIFY
    )
    files, diags = parse_diff(text)
    assert [f.path_is_safe for f in files] == [False, False, True]
    assert files[0].path == "../../etc/passwd"
    assert sum("unsafe path" in d.text for d in diags) == 2
    assert all(d.severity == "error" for d in diags)


def test_split_patch_parts() -> None:
    body = (
        "Subject line body.\n\nSigned-off-by: A <a@x>\n---\nv2: reworded\n\n"
        " f | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\n"
        "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
        "\nbase-commit: abcdef0\n-- \n2.43.0\n"
    )
    parts = split_patch(body)
    assert parts.message == "Subject line body.\n\nSigned-off-by: A <a@x>"
    assert parts.notes.startswith("v2: reworded") and "1 file changed" in parts.notes
    assert parts.diff == "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
    assert parts.tail == "base-commit: abcdef0\n-- \n2.43.0"


def test_split_patch_without_separator_or_diff() -> None:
    assert split_patch("only words\n").diff == ""
    no_sep = split_patch("msg\n\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n")
    assert no_sep.message == "msg" and no_sep.diff.startswith("diff --git")
