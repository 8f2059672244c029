"""The bot's incremental mail readers (kvmplan.bot.sources) on the shared
corpus: public-inbox epoch repositories built by scripts/make-public-inbox.py,
growing mboxes, and maildirs; then the edge cases, each with the smallest
fixture that shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Generator, Iterable
from pathlib import Path

import pytest

from kvmplan.bot.sources import Batch, Incoming, Source, SourceError, open_source
from kvmplan.mail import split_mbox

REPO = Path(__file__).resolve().parents[2]
MAKE = REPO / "scripts" / "make-public-inbox.py"
# The shared read-only data lives beside the repository; KVMPLAN_SHARED
# points elsewhere when it does not (as in tests/mail/mailtest_helpers.py).
SHARED = Path(os.environ.get("KVMPLAN_SHARED", REPO.parent / "shared")).resolve()
CORPUS = SHARED / "corpus" / "mail"
V1 = CORPUS / "kvm-rework-kvm-init-v1.mbox"
V2 = CORPUS / "kvm-rework-kvm-init-v2.mbox"
HOTPLUG = CORPUS / "kvm-cpu-hotplug-chao-gao-v4.mbox"
REPLIES = CORPUS / "kvm-cpu-hotplug-chao-gao-v4-replies.mbox"

pytestmark = pytest.mark.skipif(
    not all(p.is_file() for p in (V1, V2, HOTPLUG, REPLIES)),
    reason=f"shared mail corpus not found at {CORPUS} (set KVMPLAN_SHARED)",
)


def expected(*mboxes: Path) -> list[bytes]:
    return [raw.data for path in mboxes for raw in split_mbox(path.read_bytes(), str(path))]


def make_inbox(out: Path, *mboxes: Path, append: bool = False) -> str:
    cmd = [sys.executable, str(MAKE), "--out", str(out), *(["--append"] if append else []), *map(str, mboxes)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def git(repo: Path, *args: str, stdin: bytes = b"") -> str:
    proc = subprocess.run(["git", f"--git-dir={repo}", *args], input=stdin, capture_output=True, check=True)
    return proc.stdout.decode().strip()


def never(item: str) -> bool:
    return False


def scan(source: Source, cursor: str | None, final: bool = False, batch_size: int = 500) -> list[Batch]:
    return list(source.scan(cursor, final=final, seen=never, batch_size=batch_size))


def raws(batches: Iterable[Batch]) -> list[bytes]:
    return [m.raw for b in batches for m in b.messages]


def messages(batches: Iterable[Batch]) -> list[Incoming]:
    return [m for b in batches for m in b.messages]


def notes(batches: Iterable[Batch]) -> list[str]:
    return [n for b in batches for n in b.notes]


# --- public-inbox ----------------------------------------------------------


def test_public_inbox_reads_every_message_in_order_then_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "0.git"
    out = make_inbox(repo, V1, HOTPLUG)
    want = expected(V1, HOTPLUG)
    assert out == f"{len(want)} messages, {len(want)} commits in {repo}\n"
    [source] = open_source(repo)
    assert (source.kind, source.name) == ("public-inbox", f"public-inbox:{repo.resolve()}")

    batches = scan(source, None)
    assert raws(batches) == want
    commits = git(repo, "rev-list", "--reverse", "HEAD").split()
    got = messages(batches)
    assert [m.item for m in got] == commits
    assert got[0].origin == f"{repo.resolve()}@{commits[0][:12]}"
    assert batches[-1].cursor == commits[-1]
    assert all(b.items == () and b.notes == () for b in batches)
    assert scan(source, batches[-1].cursor) == []


def test_public_inbox_append_yields_exactly_the_new_messages(tmp_path: Path) -> None:
    repo = tmp_path / "0.git"
    make_inbox(repo, V1, HOTPLUG)
    [source] = open_source(repo)
    cursor = scan(source, None)[-1].cursor
    out = make_inbox(repo, REPLIES, append=True)
    total = len(expected(V1, HOTPLUG, REPLIES))
    assert out == f"{len(expected(REPLIES))} messages, {total} commits in {repo}\n"

    batches = scan(source, cursor)
    assert raws(batches) == expected(REPLIES)
    assert batches[-1].cursor == git(repo, "rev-parse", "HEAD")
    assert notes(batches) == []


def test_public_inbox_batches_and_resume(tmp_path: Path) -> None:
    repo = tmp_path / "0.git"
    make_inbox(repo, V1)
    [source] = open_source(repo)
    batches = scan(source, None, batch_size=7)
    assert [len(b.messages) for b in batches] == [7] * 6 + [3]
    assert raws(batches) == expected(V1)
    # each cursor is the batch's last commit: resuming there yields the rest
    assert all(b.cursor == b.messages[-1].item for b in batches)
    assert raws(scan(source, batches[2].cursor)) == expected(V1)[21:]
    # a caller that stops early leaves no git behind and no error
    stream = source.scan(None, final=False, seen=never, batch_size=5)
    assert len(next(stream).messages) == 5
    assert isinstance(stream, Generator)
    stream.close()


def test_public_inbox_inbox_dir_gives_one_source_per_epoch_in_numeric_order(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for n, mbox in ((0, HOTPLUG), (1, REPLIES), (10, HOTPLUG)):
        make_inbox(inbox / "git" / f"{n}.git", mbox)
    subprocess.run(["git", "init", "-q", "--bare", str(inbox / "all.git")], check=True)
    (inbox / "git" / "old.git").mkdir()
    sources = open_source(inbox)
    assert [s.name for s in sources] == [
        f"public-inbox:{(inbox / 'git' / f'{n}.git').resolve()}" for n in (0, 1, 10)
    ]
    assert raws(scan(sources[1], None)) == expected(REPLIES)


def test_public_inbox_rewritten_history_notes_and_rescans(tmp_path: Path) -> None:
    repo = tmp_path / "0.git"
    make_inbox(repo, HOTPLUG)
    [source] = open_source(repo)
    cursor = scan(source, None)[-1].cursor
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    make_inbox(repo, REPLIES)

    batches = scan(source, cursor)
    assert raws(batches) == expected(REPLIES)
    [note] = notes(batches)
    assert "rewritten" in note and cursor[:12] in note
    assert [n for n in notes(scan(source, "not-a-sha")) if "unreadable cursor" in n]


def test_public_inbox_skips_a_commit_without_m(tmp_path: Path) -> None:
    repo = tmp_path / "0.git"
    make_inbox(repo, HOTPLUG)
    [source] = open_source(repo)
    cursor = scan(source, None)[-1].cursor
    # public-inbox deletes a message with a commit whose tree has `d`, not `m`
    stream = (
        b"commit refs/heads/master\n"
        b"committer x <x@x> 0 +0000\ndata 7\ndelete\n"
        b"from refs/heads/master^0\ndeleteall\nM 100644 inline d\ndata 6\ngone!\n\n"
    )
    git(repo, "fast-import", "--quiet", stdin=stream)
    deletion = git(repo, "rev-parse", "HEAD")

    [batch] = scan(source, cursor)
    assert batch.messages == () and batch.cursor == deletion
    make_inbox(repo, REPLIES, append=True)
    assert raws(scan(source, deletion)) == expected(REPLIES)
    assert raws(scan(source, None)) == expected(HOTPLUG, REPLIES)


def test_public_inbox_same_inputs_same_commits(tmp_path: Path) -> None:
    make_inbox(tmp_path / "a.git", V2, REPLIES)
    make_inbox(tmp_path / "b.git", V2)
    make_inbox(tmp_path / "b.git", REPLIES, append=True)
    heads = {git(tmp_path / name, "rev-parse", "HEAD") for name in ("a.git", "b.git")}
    assert len(heads) == 1
    assert git(tmp_path / "a.git", "symbolic-ref", "HEAD") == "refs/heads/master"
    assert git(tmp_path / "a.git", "ls-tree", "--name-only", "HEAD~3") == "m"


def test_public_inbox_empty_and_non_bare_repositories_yield_nothing(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "bare.git")], check=True)
    subprocess.run(["git", "init", "-q", str(tmp_path / "work")], check=True)
    for path in (tmp_path / "bare.git", tmp_path / "work"):
        [source] = open_source(path)
        assert source.kind == "public-inbox"
        assert scan(source, None) == []


def test_make_public_inbox_rejects_bad_input(tmp_path: Path) -> None:
    (tmp_path / "readme").write_text("not mail\n")
    for args in (["--out", str(tmp_path / "r.git"), str(tmp_path / "missing.mbox")],
                 ["--out", str(tmp_path / "r.git"), str(tmp_path / "readme")]):
        proc = subprocess.run([sys.executable, str(MAKE), *args], capture_output=True, text=True, check=False)
        assert proc.returncode == 2 and proc.stdout == ""
        assert len(proc.stderr.splitlines()) == 1 and str(tmp_path) in proc.stderr
    assert not (tmp_path / "r.git").exists()


# --- mbox ------------------------------------------------------------------


def from_offsets(data: bytes) -> list[int]:
    """Byte offset of each From_ line (each message start) of a corpus mbox."""
    return [i for i in range(len(data)) if data.startswith(b"From mboxrd@z", i) and (i == 0 or data[i - 1] == 10)]


def test_mbox_growing_file_no_loss_no_duplicate(tmp_path: Path) -> None:
    data = V2.read_bytes()
    starts = from_offsets(data)
    want = expected(V2)
    assert len(starts) == len(want) == 51
    path = tmp_path / "list.mbox"
    path.write_bytes(data[: starts[26]])
    [source] = open_source(path)
    assert (source.kind, source.name) == ("mbox", f"mbox:{path.resolve()}")

    # the last message may be half written: held back
    first = scan(source, None)
    assert raws(first) == want[:25]
    assert [m.item for m in messages(first)] == [str(s) for s in starts[:25]]
    assert messages(first)[1].origin == f"{path.resolve()}@{starts[1]}"
    # the file did not grow since: the tail is complete
    second = scan(source, first[-1].cursor)
    assert raws(second) == want[25:26]
    # the writer stops mid-line: held back, even once the size stays put
    cut = starts[26] + 300
    assert data[cut - 1 : cut] != b"\n"
    with path.open("ab") as f:
        f.write(data[starts[26] : cut])
    [third] = scan(source, second[-1].cursor)
    assert third.messages == ()
    assert scan(source, third.cursor) == []
    with path.open("ab") as f:
        f.write(data[cut:])
    fourth = scan(source, third.cursor, batch_size=10)
    assert [len(b.messages) for b in fourth] == [10, 10, 4]
    fifth = scan(source, fourth[-1].cursor)
    assert raws(fifth) == want[50:]
    got = messages(first + second + [third] + fourth + fifth)
    assert [m.raw for m in got] == want
    assert len({m.item for m in got}) == 51
    assert scan(source, fifth[-1].cursor) == []
    assert notes(first + second + [third] + fourth + fifth) == []


def test_mbox_final_scan_takes_the_tail_at_once() -> None:
    [source] = open_source(V1)
    batches = scan(source, None, final=True)
    assert raws(batches) == expected(V1)
    assert scan(source, batches[-1].cursor, final=True) == []
    assert raws(scan(source, None)) == expected(V1)[:-1]


def test_mbox_rewritten_file_notes_and_rescans(tmp_path: Path) -> None:
    path = tmp_path / "list.mbox"
    path.write_bytes(V1.read_bytes())
    [source] = open_source(path)
    cursor = scan(source, None, final=True)[-1].cursor

    path.write_bytes(HOTPLUG.read_bytes())  # rotated: smaller
    batches = scan(source, cursor, final=True)
    assert raws(batches) == expected(HOTPLUG)
    assert len(notes(batches)) == 1 and "shrank" in notes(batches)[0]

    path.write_bytes(REPLIES.read_bytes() + HOTPLUG.read_bytes())  # other head, larger
    batches = scan(source, batches[-1].cursor, final=True)
    assert raws(batches) == expected(REPLIES, HOTPLUG)
    assert len(notes(batches)) == 1 and "changed" in notes(batches)[0]

    batches = scan(source, "mbox1:garbage", final=True)
    assert raws(batches) == expected(REPLIES, HOTPLUG)
    assert "unreadable cursor" in notes(batches)[0]


MBOXRD = b"""From mboxrd@z Thu Jan  1 00:00:00 1970
Subject: one
Message-ID: <1@x>

>From the start,
>>From quoted twice
From here on, no date so not a separator

From mboxrd@z Thu Jan  1 00:00:00 1970
Subject: two
Message-ID: <2@x>

body

"""

MBOXO = b"""From ada@example.org Mon Jan  2 10:00:00 2023
Subject: one
Message-ID: <1@x>

>From the start,
>>From stays quoted

From bob@example.org Mon Jan  2 11:00:00 2023
Subject: two

body
"""


@pytest.mark.parametrize(
    ("data", "first_body"),
    [
        (MBOXRD, b"From the start,\n>From quoted twice\nFrom here on, no date so not a separator\n"),
        (MBOXO, b"From the start,\n>>From stays quoted\n"),
    ],
    ids=["mboxrd", "mboxo"],
)
def test_mbox_quoting(tmp_path: Path, data: bytes, first_body: bytes) -> None:
    path = tmp_path / "q.mbox"
    path.write_bytes(data)
    [source] = open_source(path)
    got = raws(scan(source, None, final=True))
    assert got == [raw.data for raw in split_mbox(data, "q")]
    assert len(got) == 2 and got[0].split(b"\n\n", 1)[1] == first_body
    # read in two scans, cut at the second From_ line: the same bytes
    cut = data.index(b"\nFrom ", data.index(b"Subject: one")) + 1
    path.write_bytes(data[:cut])
    batches = scan(source, None)
    path.write_bytes(data)
    assert raws(batches) + raws(scan(source, batches[-1].cursor, final=True)) == got


def test_mbox_text_after_a_message_taken_too_early_is_skipped_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "list.mbox"
    path.write_bytes(MBOXRD)
    [source] = open_source(path)
    cursor = scan(source, None, final=True)[-1].cursor
    with path.open("ab") as f:
        f.write(b"late line of message two\n" + MBOXRD)
    batches = scan(source, cursor, final=True)
    assert raws(batches) == [raw.data for raw in split_mbox(MBOXRD, "x")]
    assert "skipped" in notes(batches)[0]


# --- maildir ---------------------------------------------------------------


def make_maildir(root: Path) -> dict[str, bytes]:
    """new/, cur/ and tmp/ with corpus messages; the expected {file name: raw}."""
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    msgs = expected(HOTPLUG)
    files = {}
    for n, raw in enumerate(msgs):
        name = f"17000000{n:02d}.M{n}P1.host" + (":2,S" if n % 2 else "")
        (root / ("cur" if n % 2 else "new") / name).write_bytes(raw)
        files[name] = raw
    (root / "tmp" / "1800000000.M0P1.host").write_bytes(msgs[0])
    (root / "new" / ".hidden").write_bytes(msgs[0])
    return files


def test_maildir_reads_new_and_cur_by_name(tmp_path: Path) -> None:
    files = make_maildir(tmp_path / "md")
    [source] = open_source(tmp_path / "md")
    assert (source.kind, source.name) == ("maildir", f"maildir:{(tmp_path / 'md').resolve()}")
    batches = scan(source, None, batch_size=4)
    assert [len(b.messages) for b in batches] == [4, 3]
    names = sorted(files)
    assert raws(batches) == [files[n] for n in names]
    items = [n.split(":")[0] for n in names]
    assert [m.item for m in messages(batches)] == items
    assert [i for b in batches for i in b.items] == items
    assert all(b.cursor == "" for b in batches)
    assert messages(batches)[1].origin == str((tmp_path / "md").resolve() / "cur" / names[1])


def test_maildir_seen_items_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_maildir(tmp_path / "md")
    [source] = open_source(tmp_path / "md")
    skipped = {n.split(":")[0] for n in sorted(files)[:5]}
    read: list[str] = []
    read_bytes = Path.read_bytes

    def spy(self: Path) -> bytes:
        read.append(self.name)
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    batches = list(source.scan(None, final=False, seen=skipped.__contains__))
    assert read == sorted(files)[5:]
    assert raws(batches) == [files[n] for n in sorted(files)[5:]]


def test_maildir_flag_change_keeps_the_item(tmp_path: Path) -> None:
    md = tmp_path / "md"
    files = make_maildir(md)
    [source] = open_source(md)
    seen = {i for b in scan(source, None) for i in b.items}
    name = next(n for n in sorted(files) if ":" not in n)
    (md / "new" / name).rename(md / "cur" / f"{name}:2,RS")
    assert list(source.scan(None, final=False, seen=seen.__contains__)) == []
    [batch] = list(source.scan(None, final=False, seen=(seen - {name}).__contains__))
    assert [m.item for m in batch.messages] == [name] and batch.items == (name,)
    assert batch.messages[0].origin.endswith(f"/cur/{name}:2,RS")


def test_maildir_unreadable_file_is_noted_and_retried(tmp_path: Path) -> None:
    md = tmp_path / "md"
    files = make_maildir(md)
    (md / "new" / "1600000000.broken.host").symlink_to(tmp_path / "nowhere")
    [source] = open_source(md)
    for _ in range(2):
        batches = scan(source, None)
        assert raws(batches) == [files[n] for n in sorted(files)]
        assert "1600000000" not in {i.split(".")[0] for b in batches for i in b.items}
        [note] = notes(batches)
        assert "1600000000.broken.host" in note


def test_maildir_file_with_a_from_line_and_a_non_mail(tmp_path: Path) -> None:
    md = tmp_path / "md"
    (md / "new").mkdir(parents=True)
    (md / "new" / "1.a.host").write_bytes(MBOXO.split(b"\nFrom bob")[0] + b"\n")
    (md / "new" / "2.b.host").write_bytes(b"just some text\n")
    [source] = open_source(md)
    [batch] = scan(source, None)
    assert [m.raw for m in batch.messages] == [split_mbox(MBOXO, "x")[0].data]
    assert batch.items == ("1.a.host", "2.b.host")
    assert "2.b.host" in batch.notes[0]


# --- open_source -----------------------------------------------------------


def test_open_source_errors_name_the_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README").write_text("hello\n")
    (tmp_path / "inbox" / "git" / "all.git").mkdir(parents=True)
    for path in ("missing", "empty", "docs", "inbox"):
        with pytest.raises(SourceError) as info:
            open_source(tmp_path / path)
        message = str(info.value)
        assert str(tmp_path / path) in message and "\n" not in message


def test_mbox_vanished_between_scans_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "list.mbox"
    path.write_bytes(MBOXRD)
    [source] = open_source(path)
    path.unlink()
    with pytest.raises(SourceError, match=str(path)):
        scan(source, None)


def test_worker_limits_memory_and_cpu() -> None:
    """The bot's worker bounds its address space: a hostile series ends in
    MemoryError (the bot logs a failed attempt), never a swapping machine."""
    import subprocess
    import sys

    code = ("from kvmplan.bot.worker import limit_resources\n"
            "limit_resources(256, 30)\n"
            "import resource\n"
            "print(resource.getrlimit(resource.RLIMIT_CPU)[0])\n"
            "x = bytearray(512 << 20)\n")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert got.returncode == 1 and got.stdout.strip() == "31"
    assert got.stderr.strip().splitlines()[-1] == "MemoryError"
