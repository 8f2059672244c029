"""KVM009 shutdown-final, error: Virtualization stays off once KVM's shutdown disable has run.

## What it checks

Once KVM's reboot/shutdown disable has run (a reboot notifier of KVM, or
the .shutdown callback of its syscore ops), no vendor per-CPU enable may
succeed again, whether from VM creation, a CPU coming online or resume.

## Why it matters

On x86 virtualization must be off before control goes back to firmware:
VMX operation blocks INIT, which firmware uses to take the APs back, and
Intel TXT requires VMX off at shutdown. Reboot notifiers run before
system_state changes, so a KVM_CREATE_VM already in flight (e.g. during
reboot -f) could enable virtualization after KVM's notifier had disabled
it, with nothing left to turn it off. KVM moved to a syscore .shutdown
hook, which runs after system_state is set ("KVM: Use syscore_ops
instead of reboot_notifier to hook restart/shutdown", 2023), and its
enable path now returns -EBUSY when system_state is SYSTEM_HALT,
SYSTEM_POWER_OFF or SYSTEM_RESTART.

## Example

    static int kvm_reboot(struct notifier_block *nb, unsigned long v, void *p)
    {
        kvm_rebooting = true;
        on_each_cpu(hardware_disable_nolock, NULL, 1);
        return NOTIFY_OK;
    }
    /* hardware_enable_all() checks neither kvm_rebooting nor system_state */

Trace shape: the reboot thread runs the notifier (virtualization off on
every CPU); the user thread's VM creation then enables CPU0; the finding
points at that enable and names the notifier that ran before it.

## How to fix

Hook shutdown with syscore .shutdown, which runs after system_state is
updated, and refuse to enable once system_state says the system is going
down. Check after registering the hooks, so that either the shutdown
hook runs after the enable or the enable sees the shutdown.

## How kvmplan checks it

model: checked at each successful vendor enable after the reboot thread ran
KVM's disable.

## What it cannot see

Shutdown paths other than reboot notifiers and syscore .shutdown: the
emergency reboot and crash (NMI shootdown,
cpu_emergency_disable_virtualization()) and kexec are not in the model.
An enable that only preempt_disable() or local_irq_save() keeps from the
reboot task is judged as if the task could run in between (the model sees
spinlocks and cross calls keep a CPU, not those scopes): a possible false
report.

## Messages

- enable: {name} turns virtualization on on CPU{cpu} after KVM's
  reboot/shutdown disable {final}() ran: the firmware gets the CPU with
  VMX/SVM on
"""

from __future__ import annotations

from kvmplan.model.rules.base import (
    SYSTEM, At, Check, Facts, Report, Rule, RuleCheck, Site, broken, enable_succeeds, facts,
    when,
)


RULE: Rule = Rule.from_doc(__doc__)

# Bookkeeping: World.virt_final, (function, file) of the reboot notifier or
# syscore .shutdown callback of KVM that ran.


def kernel_callback_return(at: At) -> list[Report]:
    at.world.virt_final = (at.name, at.program.functions[at.name].file)
    return []


def enable(at: At) -> list[Report]:
    final = at.world.virt_final
    if at.outcome != "on" or final is None:
        return []
    return [Report(RULE.say("enable", name=at.name, cpu=at.cpu, final=final[0]))]


CHECK = Check({"kernel_callback_return": kernel_callback_return, "enable": enable})


def _promela_decls(f: Facts) -> list[str]:
    return ["bit virt_final;  /* KVM009: a reboot/shutdown callback of KVM has run */",
            ("bit virt_final_next;  /* KVM009: one has returned; virt_final from the system "
             "thread's next step on shared state */")]


def _promela_callback_return(s: Site) -> list[str]:
    return ["virt_final_next = 1"]


def _promela_step(s: Site) -> list[str]:
    """The explorer notes a returned reboot/shutdown callback when the system
    thread goes on (its next transition, whose visible event may be the
    firmware handoff itself)."""
    if s.thread != SYSTEM or not facts(s).shutdown_callbacks:
        return []
    return when("virt_final_next", ["virt_final = 1", "virt_final_next = 0"])


def _promela_enable(s: Site) -> list[str]:
    return broken("KVM009", f"virt_final && {enable_succeeds(s)}")


PROMELA = RuleCheck("KVM009", "no vendor enable succeeds after a reboot notifier or syscore "
                    ".shutdown callback ran",
                    (("kernel_callback_return", _promela_callback_return),
                     ("step", _promela_step), ("enable", _promela_enable)),
                    decls=_promela_decls)
