"""KVM014 tdx-online, error: With TDX on and a VM, every active CPU has TDX per-CPU init.

## What it checks

While TDX is enabled (tdx_enable() succeeded) and a VM exists, every
active CPU has done tdx_cpu_enable(). Separately, tdx_cpu_enable() only
runs on a CPU with virtualization on (VMXON), which SEAMCALLs require.

## Why it matters

A TD's vCPUs can be scheduled on any active CPU and make SEAMCALLs
there; a CPU that never ran tdx_cpu_enable() (TDH.SYS.LP.INIT) cannot.
In the 2024 TDX series
(https://lore.kernel.org/r/461b78c38ffb3e59229caa806b6ed22e2c847b77.camel@intel.com),
TDX per-CPU init was done once over the online CPUs in hardware setup,
before kvm_init() registered the hotplug callback, so a CPU onlined in
between lacked it. Holding cpus_read_lock() across all of vt_init() was
ruled out (static_call_update() takes it again, KVM007). Kai's preferred
option there is tdx_cpu_enable() right after VMXON in the per-CPU enable
path: every online CPU is TDX-capable whenever a VM can run, and the
window while no VM exists is accepted.

## Example

    static int vt_hardware_enable(void)
    {
        int r = vmx_hardware_enable();

        /* missing: if (!r && enable_tdx) r = tdx_cpu_enable(); */
        return r;
    }

Trace shape: init runs tdx_enable() while CPU1 is offline; the user
thread creates a VM; cpu_up(CPU1) does VMXON only; the finding names
CPU1, active without TDX per-CPU init.

## How to fix

Run tdx_cpu_enable() in the same ONLINE-section path as VMXON, right
after it succeeds, and fail the online (or the VM creation) when it
fails.

## How kvmplan checks it

model: state predicate on every explored state, plus a check at each
tdx_cpu_enable() call.

## What it cannot see

TDX per-CPU init and module init done in core x86 code outside the model's
files (the 2025-26 move of VMXON and TDX setup into the x86 CPU startup
path); TDX functions other than those grammars/lifecycle.txt names.

## Messages

- missing: TDX is enabled and a VM exists while CPU{cpu} is online and
  schedulable without TDX per-CPU init (tdx_cpu_enable)
- vmx_off: {name}() runs on CPU{cpu} without VMXON: TDX per-CPU init needs
  virtualization on
"""

from __future__ import annotations

from kvmplan.model.rules.base import At, Check, Report, Rule, RuleCheck, Site, any_cpu, broken


RULE: Rule = Rule.from_doc(__doc__)


def tdx_cpu(at: At) -> list[Report]:
    """A failing TDX per-CPU init: it ran where VMXON had not."""
    failed = at.outcome == "fails"
    return [Report(RULE.say("vmx_off", name=at.name, cpu=at.cpu))] if failed else []


def tdx_online(at: At) -> list[Report]:
    """While TDX is enabled and a VM exists, every active CPU has done TDX
    per-CPU init."""
    w = at.world
    if not w.tdx_enabled or w.vms <= 0:
        return []
    done = w.tdx_done or (False,) * w.ncpus
    return [Report(RULE.say("missing", cpu=c), cpu=c)
            for c in range(w.ncpus) if w.active[c] and not done[c]]


CHECK = Check({"tdx_cpu": tdx_cpu, "state": tdx_online})


def _promela_tdx(s: Site) -> list[str]:
    return broken("KVM014", f"!virt[{s.cpu}]")


def _promela_state(s: Site) -> list[str]:
    cpus = any_cpu(s.ncpus, lambda c: f"cpu_active[{c}] && !tdx_done[{c}]")
    return broken("KVM014", f"tdx_enabled && vms > 0 && ({cpus})")


PROMELA = RuleCheck("KVM014", "TDX per-CPU init runs only with VMXON; while TDX is enabled and "
                    "a VM exists every active CPU has done it",
                    (("tdx_cpu", _promela_tdx), ("state", _promela_state)))
