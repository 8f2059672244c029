#!/usr/bin/env python3
"""Write fixtures/patches/example-online-series.mbox: our own two-patch
example series against Debian's linux-source-6.1 (the README's main
command analyzes it). The changes are ours; the diffs are computed against
the extracted 6.1 tree, so the series applies to it exactly.

    python3 scripts/make-example-series.py [TREE]
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

TREE = Path(sys.argv[1] if len(sys.argv) > 1 else
            Path.home() / ".cache/kvmplan/trees/linux-6.1")
OUT = Path(__file__).resolve().parents[1] / "fixtures/patches/example-online-series.mbox"
AUTHOR = "Ada Example <ada@example.org>"
TO = "kvm@vger.kernel.org"
CC = "Paolo Bonzini <pbonzini@redhat.com>, Sean Christopherson <seanjc@google.com>"


def edit(text: str, pairs: list[tuple[str, str]]) -> str:
    for old, new in pairs:
        assert text.count(old) >= 1, old
        text = text.replace(old, new)
    return text


def diff(path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                 f"a/{path}", f"b/{path}", n=3)
    body = "".join(lines)
    return f"diff --git a/{path} b/{path}\n{body}"


ONLINE_CB = """static int kvm_online_cpu(unsigned int cpu)
{
\tint ret = 0;

\t/* Refuse the CPU if it cannot run the VMs that exist. */
\traw_spin_lock(&kvm_count_lock);
\tif (kvm_usage_count) {
\t\thardware_enable_nolock(NULL);
\t\tif (atomic_read(&hardware_enable_failed)) {
\t\t\tatomic_set(&hardware_enable_failed, 0);
\t\t\tret = -EIO;
\t\t}
\t}
\traw_spin_unlock(&kvm_count_lock);
\treturn ret;
}"""

STARTING_CB = """static int kvm_starting_cpu(unsigned int cpu)
{
\traw_spin_lock(&kvm_count_lock);
\tif (kvm_usage_count)
\t\thardware_enable_nolock(NULL);
\traw_spin_unlock(&kvm_count_lock);
\treturn 0;
}"""


def main() -> None:
    hp_path, main_path = "include/linux/cpuhotplug.h", "virt/kvm/kvm_main.c"
    hp0 = (TREE / hp_path).read_text()
    km0 = (TREE / main_path).read_text()
    hp1 = edit(hp0, [("\tCPUHP_AP_KVM_STARTING,\n", ""),
                     ("\tCPUHP_AP_ONLINE_IDLE,\n", "\tCPUHP_AP_ONLINE_IDLE,\n\tCPUHP_AP_KVM_ONLINE,\n")])
    km1 = edit(km0, [
        (STARTING_CB, ONLINE_CB),
        ("static int kvm_dying_cpu(unsigned int cpu)", "static int kvm_offline_cpu(unsigned int cpu)"),
        ('cpuhp_setup_state_nocalls(CPUHP_AP_KVM_STARTING, "kvm/cpu:starting",\n'
         "\t\t\t\t      kvm_starting_cpu, kvm_dying_cpu);",
         'cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",\n'
         "\t\t\t\t      kvm_online_cpu, kvm_offline_cpu);"),
        ("cpuhp_remove_state_nocalls(CPUHP_AP_KVM_STARTING);",
         "cpuhp_remove_state_nocalls(CPUHP_AP_KVM_ONLINE);"),
    ])
    km2 = edit(km1, [
        ("static void hardware_disable_all(void)\n{\n\traw_spin_lock(&kvm_count_lock);\n"
         "\thardware_disable_all_nolock();\n\traw_spin_unlock(&kvm_count_lock);\n}",
         "static void hardware_disable_all(void)\n{\n\tcpus_read_lock();\n"
         "\traw_spin_lock(&kvm_count_lock);\n\thardware_disable_all_nolock();\n"
         "\traw_spin_unlock(&kvm_count_lock);\n\tcpus_read_unlock();\n}"),
        ("\tint r = 0;\n\n\traw_spin_lock(&kvm_count_lock);\n\n\tkvm_usage_count++;",
         "\tint r = 0;\n\n\t/* Keep a CPU from coming online between the two. */\n"
         "\tcpus_read_lock();\n\traw_spin_lock(&kvm_count_lock);\n\n\tkvm_usage_count++;"),
        ("\traw_spin_unlock(&kvm_count_lock);\n\n\treturn r;\n}",
         "\traw_spin_unlock(&kvm_count_lock);\n\tcpus_read_unlock();\n\n\treturn r;\n}"),
    ])
    patches = [
        ("KVM: Enable virtualization from the ONLINE hotplug section",
         "A STARTING callback runs with IRQs off and cannot fail, so a CPU that\n"
         "cannot enable virtualization comes online anyway. Move the callbacks\n"
         "to CPUHP_AP_KVM_ONLINE and refuse the CPU when the enable fails.",
         [diff(hp_path, hp0, hp1), diff(main_path, km0, km1)]),
        ("KVM: Exclude CPU hotplug while enabling and disabling virtualization",
         "With the callbacks in the ONLINE section, a CPU is in cpu_online_mask\n"
         "before kvm_online_cpu() runs, so on_each_cpu() in hardware_enable_all()\n"
         "can reach it first. Hold cpus_read_lock() across both.",
         [diff(main_path, km1, km2)]),
    ]
    n = len(patches)
    msgs = []
    cover_id = "20260301120000.0-ada@example.org"
    date = "Sun, 1 Mar 2026 12:00:0{} +0000"
    msgs.append((cover_id, None, f"[PATCH 0/{n}] KVM: Enable virtualization from the ONLINE section",
                 "This example series (written for kvmplan's README) moves KVM's\n"
                 "hotplug callbacks from STARTING to ONLINE and then excludes CPU\n"
                 "hotplug while enabling. kvmplan shows the window the first patch\n"
                 "opens and the second closes.\n\nbase-commit: 830b3c68c1fb1e9176028d02ef86f3cf76aa2476\n"))
    for k, (title, why, diffs) in enumerate(patches, 1):
        body = f"{why}\n\nSigned-off-by: {AUTHOR}\n---\n" + "".join(diffs) + "-- \n2.43.0\n"
        msgs.append((f"20260301120000.{k}-ada@example.org", cover_id, f"[PATCH {k}/{n}] {title}", body))
    out = []
    for i, (mid, parent, subject, body) in enumerate(msgs):
        head = [f"From: {AUTHOR}", f"To: {TO}", f"Cc: {CC}", f"Subject: {subject}",
                f"Date: {date.format(i)}", f"Message-ID: <{mid}>"]
        if parent:
            head += [f"In-Reply-To: <{parent}>", f"References: <{parent}>"]
        head += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
        quoted = "\n".join((">" + ln) if ln.lstrip(">").startswith("From ") else ln
                           for ln in body.split("\n"))
        out.append("From mboxrd@z Thu Jan  1 00:00:00 1970\n" + "\n".join(head) + "\n\n" + quoted + "\n")
    OUT.write_text("".join(out))
    print(f"wrote {OUT} ({n} patches)")


if __name__ == "__main__":
    main()
