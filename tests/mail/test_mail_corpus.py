"""Every mbox of the shared corpus assembles as its MANIFEST.md says.

The expectations are read from MANIFEST.md itself (its bullets and its
message tables), with regexes independent of kvmplan's subject parser.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from mailtest_helpers import CORPUS, corpus_files, needs_corpus, run_cli

from kvmplan.mail import assemble, load_messages, series_to_dict

pytestmark = needs_corpus

_K_OF_M = re.compile(r"\[(?:RFC )?PATCH(?: [\w-]+)*? (?:v(\d+) )?0*(\d+)/0*(\d+)\]")


@dataclass(frozen=True)
class Row:
    subject: str
    message_id: str

    @property
    def is_reply(self) -> bool:
        return self.subject.lower().startswith("re:")

    @property
    def k(self) -> int:
        match = _K_OF_M.search(self.subject)
        assert match, self.subject
        return int(match.group(2))

    @property
    def m(self) -> int:
        match = _K_OF_M.search(self.subject)
        assert match, self.subject
        return int(match.group(3))


@dataclass(frozen=True)
class Entry:
    file: str
    series: str
    version: int
    message_count: int
    rows: tuple[Row, ...]


def parse_manifest(text: str) -> list[Entry]:
    entries = []
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        name = re.match(r"`([^`]+\.mbox)`", section)
        if not name:
            continue
        bullets = dict(re.findall(r"^- \*\*([^*]+):\*\* (.*)$", section, flags=re.MULTILINE))
        rows = tuple(
            Row(subject.strip(), mid)
            for subject, mid in re.findall(
                r"^\| \d+ \| (.+?) \| `<([^>]+)>` \|", section, flags=re.MULTILINE
            )
        )
        version = re.match(r"v(\d+)", bullets["version"])
        count = re.match(r"(\d+)", bullets["messages"])
        assert version and count, name.group(1)
        entries.append(Entry(name.group(1), bullets["series"], int(version.group(1)), int(count.group(1)), rows))
    return entries


def _entries() -> list[Entry]:
    manifest = CORPUS / "MANIFEST.md"
    return parse_manifest(manifest.read_text(encoding="utf-8")) if manifest.is_file() else []


ENTRIES = _entries()


def test_manifest_covers_every_mbox() -> None:
    assert sorted(e.file for e in ENTRIES) == sorted(p.name for p in corpus_files())
    for entry in ENTRIES:
        assert len(entry.rows) == entry.message_count, entry.file


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.file)
def test_assembles_as_manifest_says(entry: Entry) -> None:
    messages, diags = load_messages(CORPUS / entry.file)
    assert [m.message_id for m in messages] == [r.message_id for r in entry.rows]
    series = assemble(messages, diagnostics=diags)

    patch_rows = [r for r in entry.rows if not r.is_reply]
    reply_rows = [r for r in entry.rows if r.is_reply]
    assert series.version == entry.version
    assert series.title in entry.series

    cover_rows = [r for r in patch_rows if r.k == 0]
    assert (series.cover.message_id if series.cover else None) == (
        cover_rows[0].message_id if cover_rows else None
    )
    ordered = sorted((r for r in patch_rows if r.k > 0), key=lambda r: r.k)
    assert [p.message_id for p in series.patches] == [r.message_id for r in ordered]
    assert [p.index for p in series.patches] == [r.k for r in ordered]

    all_m = {r.m for r in entry.rows}
    assert len(all_m) == 1
    (m,) = all_m
    assert series.expected == m
    if patch_rows:
        assert not series.replies_only
        assert series.missing == tuple(k for k in range(1, m + 1) if k not in {r.k for r in ordered})
    else:
        assert series.replies_only
        assert series.missing == ()
        assert any("no patches found" in d.text for d in series.diagnostics)
    assert series.duplicates == ()

    assert [r.message_id for r in series.replies] == [r.message_id for r in reply_rows]
    for reply, row in zip(series.replies, reply_rows):
        assert reply.answers == row.k, row.message_id
    # Every message of the file is accounted for, none twice.
    used = [p.message_id for p in series.patches] + [r.message_id for r in series.replies]
    used += [series.cover.message_id] if series.cover else []
    assert sorted(used) == sorted(r.message_id for r in entry.rows)
    assert not [d for d in series.diagnostics if d.severity == "error"]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.file)
def test_diffstat_matches_parsed_diff(entry: Entry) -> None:
    series = assemble(load_messages(CORPUS / entry.file)[0])
    for patch in series.patches:
        stat = re.search(
            r"(\d+) files? changed(?:, (\d+) insertions?\(\+\))?(?:, (\d+) deletions?\(-\))?",
            patch.notes,
        )
        assert stat, patch.message_id
        want = (int(stat.group(1)), int(stat.group(2) or 0), int(stat.group(3) or 0))
        assert (len(patch.files), patch.added, patch.removed) == want, patch.message_id


def test_cli_every_corpus_mbox_exits_0_with_json() -> None:
    for path in corpus_files():
        code, out, err = run_cli(["series", str(path), "--format", "json"])
        assert code == 0, (path.name, err)
        assert err == ""
        data = json.loads(out)
        assert set(data) >= {"series", "patches", "replies", "diagnostics"}


def test_tdx_text_summarises_missing() -> None:
    code, out, _ = run_cli(["series", str(CORPUS / "tdx-v8-003-cpu-compat-check-thread.mbox")])
    assert code == 0
    assert "missing: 102 of 103 (1-2, 4-103)" in out
    assert ", 5, 6, 7" not in out
    code, out, _ = run_cli(
        ["series", str(CORPUS / "tdx-v8-003-cpu-compat-check-thread.mbox"), "--format", "json"]
    )
    data = json.loads(out)
    assert data["series"]["missing"] == [1, 2, *range(4, 104)]
    assert data["series"]["expected"] == 103
    assert data["patches"][0]["author"] == "Isaku Yamahata <isaku.yamahata@intel.com>"


def test_reply_trailers_reach_their_patches() -> None:
    """v2 patches plus the v2 replies: the review trailers land on the right patches."""
    v2 = load_messages(CORPUS / "kvm-rework-kvm-init-v2.mbox")[0]
    replies = load_messages(CORPUS / "kvm-rework-kvm-init-v2-replies.mbox")[0]
    series = assemble(v2 + replies)
    assert len(series.patches) == 50 and len(series.replies) == 26
    given = {p.index: [(t.name, t.value) for t in p.reply_trailers] for p in series.patches}
    assert ("Reviewed-by", "Vitaly Kuznetsov <vkuznets@redhat.com>") in given[10]
    assert ("Reviewed-by", "Kai Huang <kai.huang@intel.com>") in given[31]
    assert ("Acked-by", "Kai Huang <kai.huang@intel.com>") in given[40]
    # A trailer the patch already carries is not given twice.
    assert all(
        (t.name, t.value) not in {(o.name, o.value) for o in p.trailers}
        for p in series.patches
        for t in p.reply_trailers
    )
    # Replies answering the cover give nothing here (none has a trailer).
    assert not given[1]


def test_v1_and_v2_mixed_pick_newest_and_version_flag(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.mbox"
    mixed.write_bytes(
        (CORPUS / "kvm-rework-kvm-init-v1.mbox").read_bytes()
        + (CORPUS / "kvm-rework-kvm-init-v2.mbox").read_bytes()
    )
    series = assemble(load_messages(mixed)[0])
    assert (series.version, series.expected, len(series.patches)) == (2, 50, 50)
    assert any("--series-version 1" in d.text for d in series.diagnostics)
    older = assemble(load_messages(mixed)[0], version=1)
    assert (older.version, older.expected, len(older.patches)) == (1, 44, 44)
    code, _, err = run_cli(["series", str(mixed), "--series-version", "7"])
    assert code == 2 and err.count("\n") == 1 and "found v1, v2" in err


def _as_maildir(mbox: Path, root: Path) -> Path:
    from kvmplan.mail import read_raw

    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for n, raw in enumerate(read_raw(mbox)[0]):
        (root / "cur" / f"{1700000000 + n}.{n}.host:2,S").write_bytes(raw.data)
    return root


def _as_format_patch_dir(mbox: Path, root: Path) -> Path:
    from kvmplan.mail import read_raw

    root.mkdir()
    for n, raw in enumerate(read_raw(mbox)[0]):
        head = f"From {n:040x} Mon Sep 17 00:00:00 2001\n".encode()
        (root / f"{n:04d}-message.patch").write_bytes(head + raw.data)
    (root / "README").write_text("not a mail\n")
    return root


@pytest.mark.parametrize(
    "name", ["kvm-cpu-hotplug-chao-gao-v4.mbox", "tdx-v8-003-cpu-compat-check-thread.mbox"]
)
def test_mbox_maildir_and_format_patch_dir_agree(name: str, tmp_path: Path) -> None:
    mbox = CORPUS / name
    maildir = _as_maildir(mbox, tmp_path / "maildir")
    fpdir = _as_format_patch_dir(mbox, tmp_path / "fp")
    outputs = []
    for source in (mbox, maildir, fpdir):
        code, out, err = run_cli(["series", str(source), "--format", "json"])
        assert code == 0, err
        data = json.loads(out)
        # The directory's README is reported as skipped; nothing else differs.
        data["diagnostics"] = [d for d in data["diagnostics"] if "skipped README" not in d["text"]]
        outputs.append(data)
    assert outputs[0] == outputs[1] == outputs[2]


def test_stdin_gives_the_same_json() -> None:
    path = CORPUS / "kvm-mmu-pte-list-desc-2022-06.mbox"
    _, from_file, _ = run_cli(["series", str(path), "--format", "json"])
    code, from_stdin, _ = run_cli(["series", "-", "--format", "json"], stdin=path.read_bytes())
    assert code == 0 and from_stdin == from_file


def test_output_is_byte_identical_across_runs() -> None:
    path = CORPUS / "kvm-rework-kvm-init-v2-replies.mbox"
    first = series_to_dict(assemble(load_messages(path)[0]))
    second = series_to_dict(assemble(load_messages(path)[0]))
    assert json.dumps(first) == json.dumps(second)


def test_readonly_corpus_is_not_touched(tmp_path: Path) -> None:
    # Reading never writes next to the input (no lock files, no caches).
    copy = tmp_path / "c"
    shutil.copytree(CORPUS, copy)
    before = sorted(p.name for p in copy.iterdir())
    for path in sorted(copy.glob("*.mbox")):
        assemble(load_messages(path)[0])
    assert sorted(p.name for p in copy.iterdir()) == before
