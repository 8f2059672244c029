#!/usr/bin/env python3
"""Write the mail fixtures under fixtures/patches/ (our own text, not list mail).

Run from the repository root: `python3 scripts/gen_mail_fixtures.py`. The
hunk headers are computed here, so the fixtures stay consistent when edited.
"""

from __future__ import annotations

import base64
import quopri
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "patches"
SEP = "From mboxrd@z Thu Jan  1 00:00:00 1970\n"
AUTHOR = "Ada Lovelace <ada@example.org>"
REVIEWER = "Grace Hopper <grace@example.net>"
DATE = "Mon, 3 Mar 2025 10:0{n}:00 +0000"
BASE = "0123456789abcdef0123456789abcdef01234567"


def hunk(old_start: int, new_start: int, section: str, lines: list[str]) -> str:
    """A hunk with its header counted from its lines."""
    old = sum(1 for line in lines if line[0] in " -")
    new = sum(1 for line in lines if line[0] in " +")
    return f"@@ -{old_start},{old} +{new_start},{new} @@ {section}\n" + "".join(line + "\n" for line in lines)


def file_diff(path: str, index: str, hunks: list[str]) -> str:
    return f"diff --git a/{path} b/{path}\nindex {index} 100644\n--- a/{path}\n+++ b/{path}\n" + "".join(hunks)


def headers(n: int, subject: str, msgid: str, reply_to: str | None, author: str = AUTHOR, extra: str = "") -> str:
    h = f"From: {author}\nTo: kvm@vger.example\nSubject: {subject}\nDate: {DATE.format(n=n)}\nMessage-ID: <{msgid}>\n"
    if reply_to:
        h += f"In-Reply-To: <{reply_to}>\nReferences: <{reply_to}>\n"
    return h + "MIME-Version: 1.0\n" + extra


PLAIN = 'Content-Type: text/plain; charset="UTF-8"\nContent-Transfer-Encoding: 8bit\n'
COVER_ID = "20250303100000.1-ada@example.org"
TITLE = "KVM: Move hardware enabling to the ONLINE hotplug section"

P1_DIFF = file_diff(
    "virt/kvm/kvm_main.c",
    "1111111..2222222",
    [
        hunk(5101, 5101, "static void hardware_enable_nolock(void *junk)", [
            " \tcpumask_set_cpu(cpu, cpus_hardware_enabled);",
            " }",
            " ",
            "-static int kvm_starting_cpu(unsigned int cpu)",
            "+static int kvm_online_cpu(unsigned int cpu)",
            " {",
            " \tmutex_lock(&kvm_lock);",
            " \tif (kvm_usage_count)",
        ]),
        hunk(5130, 5130, "static void hardware_disable_nolock(void *junk)", [
            " \tcpumask_clear_cpu(cpu, cpus_hardware_enabled);",
            " }",
            " ",
            "-static int kvm_dying_cpu(unsigned int cpu)",
            "+static int kvm_offline_cpu(unsigned int cpu)",
            " {",
            " \tmutex_lock(&kvm_lock);",
        ]),
    ],
)

P2_DIFF = file_diff(
    "include/linux/cpuhotplug.h",
    "3333333..4444444",
    [
        hunk(185, 185, "enum cpuhp_state {", [
            " \tCPUHP_AP_CSKY_TIMER_STARTING,",
            " \tCPUHP_AP_TI_GP_TIMER_STARTING,",
            " \tCPUHP_AP_HYPERV_TIMER_STARTING,",
            "-\tCPUHP_AP_KVM_STARTING,",
            " \tCPUHP_AP_DUMMY_TIMER_STARTING,",
        ]),
        hunk(201, 200, "enum cpuhp_state {", [
            " \tCPUHP_AP_ONLINE_IDLE,",
            "+\tCPUHP_AP_KVM_ONLINE,",
            " \tCPUHP_AP_SCHED_WAIT_EMPTY,",
        ]),
    ],
) + file_diff(
    "virt/kvm/kvm_main.c",
    "2222222..5555555",
    [
        hunk(5990, 5990, "int kvm_init(unsigned vcpu_size, unsigned vcpu_align, struct module *module)", [
            " \tif (r)",
            " \t\tgoto out_free_2;",
            " ",
            "-\tr = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_STARTING, \"kvm/cpu:starting\", kvm_online_cpu, kvm_offline_cpu);",
            "+\tr = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE, \"kvm/cpu:online\", kvm_online_cpu, kvm_offline_cpu);",
            " \tif (r)",
            " \t\tgoto out_free_2;",
        ]),
    ],
)

P3_DIFF = file_diff(
    "virt/kvm/kvm_main.c",
    "5555555..6666666",
    [
        hunk(5101, 5101, "static void hardware_enable_nolock(void *junk)", [
            " static int kvm_online_cpu(unsigned int cpu)",
            " {",
            "+\tint ret = 0;",
            "+",
            "+\t/* A CPU that cannot run guests must not come online with KVM loaded. */",
            "+\tret = kvm_arch_check_processor_compat();",
            "+\tif (ret)",
            "+\t\treturn ret;",
            "+",
            " \tmutex_lock(&kvm_lock);",
            " \tif (kvm_usage_count)",
            " \t\thardware_enable_nolock(NULL);",
        ]),
    ],
)


def stat(lines: list[tuple[str, int, int]]) -> str:
    out = "".join(f" {path} | {a + r} {'+' * a}{'-' * r}\n" for path, a, r in lines)
    files = len(lines)
    ins = sum(a for _, a, _ in lines)
    dels = sum(r for _, _, r in lines)
    return out + f" {files} file{'s' if files > 1 else ''} changed, {ins} insertions(+), {dels} deletions(-)\n"


def patch_body(message: str, diff: str, diffstat: str) -> str:
    return f"{message}\n---\n{diffstat}\n{diff}-- \n2.43.0\n"


COVER_BODY = f"""KVM enables virtualization on a CPU from the STARTING section of CPU
hotplug, where it runs with interrupts disabled and cannot sleep or fail
cleanly. Move it to the ONLINE section instead, after renaming the
callbacks so that their names say when they run.

Patch 3 then checks that a CPU coming online is compatible before it
enables virtualization there, which the ONLINE section allows.

Ada Lovelace (3):
  KVM: Rename the hotplug callbacks after the ONLINE section
  KVM: Register the hotplug callbacks in the ONLINE section
  KVM: Check CPU compatibility when a CPU comes online

 include/linux/cpuhotplug.h |  2 +-
 virt/kvm/kvm_main.c        | 13 ++++++++++---
 2 files changed, 11 insertions(+), 4 deletions(-)

base-commit: {BASE}
change-id: 20250303-kvm-online-hotplug-0a1b2c3d4e5f
-- 
2.43.0
"""

P1_MSG = f"""Rename kvm_starting_cpu() and kvm_dying_cpu() to kvm_online_cpu() and
kvm_offline_cpu(): the next patch moves them to the ONLINE section and
the old names would then lie about when they run.

No functional change intended.

Signed-off-by: {AUTHOR}"""

P2_MSG = f"""Register KVM's hotplug callbacks in the ONLINE section. There the
callbacks run in process context, so enabling virtualization may sleep
and a failure rolls the CPU back cleanly; in STARTING a failure left the
CPU half online.

Suggested-by: {REVIEWER}
Signed-off-by: {AUTHOR}"""

P3_MSG = """From: Jörg Müller <joerg@example.com>

Check that a CPU is compatible with the features KVM was loaded with
before enabling virtualization on it, now that the callback runs where it
may fail. Refusing the CPU is better than running guests on a CPU that
cannot run them.

Signed-off-by: Jörg Müller <joerg@example.com>
Signed-off-by: """ + AUTHOR


def qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def example_series() -> list[str]:
    ids = [COVER_ID] + [f"20250303100000.{k + 1}-ada@example.org" for k in range(1, 4)]
    mails = [
        headers(0, f"[PATCH 0/3] {TITLE}", ids[0], None, extra=PLAIN) + "\n" + COVER_BODY,
        headers(1, "[PATCH 1/3] KVM: Rename the hotplug callbacks after the ONLINE section", ids[1], ids[0], extra=PLAIN)
        + "\n"
        + patch_body(P1_MSG, P1_DIFF, stat([("virt/kvm/kvm_main.c", 2, 2)])),
        # Patch 2 is quoted-printable: the long line gets soft breaks and
        # every "=" in the C code becomes =3D.
        headers(
            2,
            "[PATCH 2/3] KVM: Register the hotplug callbacks in the ONLINE\n section",
            ids[2],
            ids[0],
            extra='Content-Type: text/plain; charset="UTF-8"\nContent-Transfer-Encoding: quoted-printable\n',
        )
        + "\n"
        + qp(patch_body(P2_MSG, P2_DIFF, stat([("include/linux/cpuhotplug.h", 1, 1), ("virt/kvm/kvm_main.c", 1, 1)]))),
        headers(3, "[PATCH 3/3] KVM: Check CPU compatibility when a CPU comes online", ids[3], ids[0], extra=PLAIN)
        + "\n"
        + patch_body(P3_MSG, P3_DIFF, stat([("virt/kvm/kvm_main.c", 7, 0)])),
        headers(
            4,
            "Re: [PATCH 2/3] KVM: Register the hotplug callbacks in the ONLINE section",
            "Z9reply.grace@example.net",
            ids[2],
            author=REVIEWER,
            extra=PLAIN,
        ).replace(f"References: <{ids[2]}>", f"References: <{ids[0]}> <{ids[2]}>")
        + "\n"
        + f"""On Mon, Mar 03, 2025, Ada Lovelace wrote:
> Register KVM's hotplug callbacks in the ONLINE section.
>
> Suggested-by: {REVIEWER}
> Signed-off-by: {AUTHOR}

Looks right to me; the ONLINE section is where this belongs.

>From a quick test on two hosts, hotplug still works.

Reviewed-by: {REVIEWER}
""",
    ]
    return mails


def mbox(mails: list[str]) -> str:
    out = []
    for mail in mails:
        # mboxrd quoting: one more ">" on every ">*From " line.
        body = "".join((">" + line if line.lstrip(">").startswith("From ") else line) for line in mail.splitlines(True))
        out.append(SEP + body + "\n")
    return "".join(out)


def single_patch(subject: str, msgid: str, body: str, extra: str) -> str:
    return headers(1, subject, msgid, None, extra=extra) + "\n" + body


TRAVERSAL_DIFF = file_diff(
    "../../etc/passwd",
    "7777777..8888888",
    [hunk(1, 1, "", [" root:x:0:0:root:/root:/bin/sh", "+kvm:x:0:0::/:/bin/sh"])],
) + file_diff(
    "virt/kvm/Kconfig",
    "9999999..aaaaaaa",
    [hunk(10, 10, "config KVM_GENERIC_HARDWARE_ENABLING", [" \tbool", "+\tdepends on HOTPLUG_CPU"])],
)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    mails = example_series()
    (OUT / "example-series.mbox").write_text(mbox(mails), encoding="utf-8")

    # Cut inside patch 2's diff: the tail of the file is lost.
    whole = mbox(mails)
    cut = whole.index("kvm_offline_cpu);", whole.index("[PATCH 2/3]"))
    (OUT / "truncated.mbox").write_text(whole[:cut], encoding="utf-8")

    # git format-patch output: one file each, From <sha> lines, no Message-ID.
    fp = OUT / "format-patch"
    fp.mkdir(exist_ok=True)
    names = ["0000-cover-letter.patch", "0001-KVM-Rename-the-hotplug-callbacks.patch",
             "0002-KVM-Register-the-hotplug-callbacks.patch", "0003-KVM-Check-CPU-compatibility.patch"]
    bodies = [COVER_BODY, patch_body(P1_MSG, P1_DIFF, stat([("virt/kvm/kvm_main.c", 2, 2)])),
              patch_body(P2_MSG, P2_DIFF, stat([("include/linux/cpuhotplug.h", 1, 1), ("virt/kvm/kvm_main.c", 1, 1)])),
              patch_body(P3_MSG, P3_DIFF, stat([("virt/kvm/kvm_main.c", 7, 0)]))]
    subjects = [f"[PATCH 0/3] {TITLE}", "[PATCH 1/3] KVM: Rename the hotplug callbacks after the ONLINE section",
                "[PATCH 2/3] KVM: Register the hotplug callbacks in the ONLINE section",
                "[PATCH 3/3] KVM: Check CPU compatibility when a CPU comes online"]
    for n, (name, subject, body) in enumerate(zip(names, subjects, bodies)):
        text = (f"From {n:040x} Mon Sep 17 00:00:00 2001\nFrom: {AUTHOR}\nDate: {DATE.format(n=n)}\n"
                f"Subject: {subject}\nMIME-Version: 1.0\n{PLAIN}\n{body}")
        (fp / name).write_text(text, encoding="utf-8")

    html = single_patch(
        "[PATCH] KVM: x86: Say hello in HTML",
        "html-only.1@example.org",
        "<html><body><p>This patch went through a mail client that only speaks HTML.</p></body></html>\n",
        "Content-Type: text/html; charset=UTF-8\n",
    )
    (OUT / "html-only.eml").write_text(html, encoding="utf-8")

    crlf_body = patch_body(P1_MSG, P1_DIFF, stat([("virt/kvm/kvm_main.c", 2, 2)])).replace("\n", "\r\n")
    encoded = base64.encodebytes(crlf_body.encode("utf-8")).decode("ascii")
    b64 = single_patch(
        "[PATCH] KVM: Rename the hotplug callbacks after the ONLINE section",
        "base64-crlf.1@example.org",
        encoded,
        'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n',
    ).replace("\n", "\r\n")
    (OUT / "base64-crlf.eml").write_bytes(b64.encode("ascii"))

    latin = single_patch(
        "[PATCH] KVM: Check CPU compatibility when a CPU comes online",
        "latin1.1@example.org",
        patch_body(P3_MSG, P3_DIFF, stat([("virt/kvm/kvm_main.c", 7, 0)])),
        "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n",
    )
    (OUT / "iso-8859-1.eml").write_bytes(latin.encode("iso-8859-1"))

    traversal = single_patch(
        "[PATCH] KVM: Sneak a user into the host",
        "traversal.1@example.org",
        patch_body(f"Touch files outside the tree.\n\nSigned-off-by: {AUTHOR}", TRAVERSAL_DIFF,
                   stat([("../../etc/passwd", 1, 0), ("virt/kvm/Kconfig", 1, 0)])),
        PLAIN,
    )
    (OUT / "traversal.patch").write_text(traversal, encoding="utf-8")

    boundary = "=-=-=-attachment-boundary"
    attached = single_patch(
        "[PATCH] KVM: Rename the hotplug callbacks after the ONLINE section",
        "attachment.1@example.org",
        f"--{boundary}\n{PLAIN}\nThe patch is attached; my mail client mangles inline patches.\n\n"
        f"--{boundary}\nContent-Type: text/x-patch; charset=UTF-8; name=\"0001-rename.patch\"\n"
        f"Content-Disposition: attachment; filename=\"0001-rename.patch\"\nContent-Transfer-Encoding: 8bit\n\n"
        + patch_body(P1_MSG, P1_DIFF, stat([("virt/kvm/kvm_main.c", 2, 2)]))
        + f"--{boundary}--\n",
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n',
    )
    (OUT / "attachment.eml").write_text(attached, encoding="utf-8")


if __name__ == "__main__":
    main()
