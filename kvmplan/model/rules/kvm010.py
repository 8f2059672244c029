"""KVM010 suspend-resume, error: Suspend/resume restores virtualization and handles failures.

## What it checks

The model runs a suspend/resume cycle: the secondary CPUs go offline,
syscore suspend runs on the boot CPU with IRQs off, then syscore resume,
then the secondary CPUs come back online. Afterwards each CPU's
virtualization state must equal what it was before the suspend, and an
enable failure on the resume path must not be dropped.

## Why it matters

VMX/SVM state does not survive the CPU losing power, so KVM must turn
virtualization back on exactly where it was on: the boot CPU through its
syscore .resume, the others through the hotplug callbacks as they are
onlined again. A resume that skips a CPU leaves running VMs on a CPU
without VMXON (KVM001); one that enables where nothing was on leaks it
(KVM002). syscore .resume returns void and runs with IRQs off, so a
failure can only be reported: 6.1's kvm_resume() called
hardware_enable_nolock() and nothing read the result, 6.12 wraps the
enable in WARN_ON_ONCE().

## Example

    static void kvm_resume(void)
    {
        /* missing: if (kvm_usage_count) hardware_enable_nolock(NULL); */
    }

    static struct syscore_ops kvm_syscore_ops = {
        .suspend = kvm_suspend,    /* disables the boot CPU */
        .resume = kvm_resume,
    };

Trace shape: a VM exists and every CPU is on; the pm thread takes CPU1
offline, kvm_suspend() disables CPU0, resume runs, CPU1 is onlined
again; the finding says CPU0 ends the cycle with virtualization off
where it was on before.

## How to fix

Make .suspend and .resume mirror each other and depend on the same state
(kvm_usage_count or the per-CPU flag); leave the secondary CPUs to the
hotplug callbacks; WARN on a resume failure, since it cannot be
returned.

## How kvmplan checks it

model: compares per-CPU state before and after each pm cycle; checks enable
failures on the resume path.

## What it cannot see

Hibernation and suspend-to-idle (only suspend to RAM, with CPU0 losing its
virtualization state while asleep); resume callbacks other than syscore ops.

## Messages

- lost: CPU{cpu} had virtualization on before suspend and is online without
  it after resume
"""

from __future__ import annotations

from kvmplan.model.rules.base import (
    At, Check, Facts, Report, Rule, RuleCheck, Site, any_cpu, broken,
)


RULE: Rule = Rule.from_doc(__doc__)


def resume_done(at: At) -> list[Report]:
    """At the end of resume, `before` is the CPUs' virtualization before
    suspend; the site is KVM's last syscore callback that ran (or module
    init when none of KVM's ran)."""
    w = at.world
    return [Report(RULE.say("lost", cpu=c)) for c in range(w.ncpus)
            if w.online[c] and at.before[c] and not w.virt[c]]


CHECK = Check({"resume_done": resume_done})


def _promela_decls(f: Facts) -> list[str]:
    return ["byte virt_before;  /* KVM010: the CPUs with virtualization on before suspend */"]


def _promela_suspend(s: Site) -> list[str]:
    return ["virt_before = VIRT_MASK"]


def _promela_resume(s: Site) -> list[str]:
    lost = any_cpu(s.ncpus, lambda c: f"online[{c}] && (virt_before & BIT({c})) != 0 && !virt[{c}]")
    return broken("KVM010", lost) + ["virt_before = 0"]


PROMELA = RuleCheck("KVM010", "after resume every online CPU that had virtualization on before "
                    "suspend has it on",
                    (("suspend_begin", _promela_suspend),
                     ("resume_done", _promela_resume)), decls=_promela_decls)
