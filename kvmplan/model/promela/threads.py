"""The environment threads of the Promela model: init (the vendor
module_init), user (VM creation and destruction), hotplug (cpu_up/cpu_down
of non-boot CPUs) and system (at most one of reboot, suspend/resume, module
unload), with the kernel procedures they run around KVM's code: cpu_up and
cpu_down with their cpuhp callbacks, the reboot notifiers and syscore
callbacks (see the package docstring for the threads' shape)."""

from __future__ import annotations


from kvmplan.graph.hooks import ONLINE, PREPARE, STARTING
from kvmplan.model.kernel import HOTPLUG_LOCK, SYSTEM_EVENTS, TASK_CONTEXTS, VM_IOCTL
from kvmplan.model.promela.checks import HOTPLUG, INIT, SYSTEM, USER, Site
from kvmplan.model.promela.events import Emitter
from kvmplan.model.promela.program import _next_cpu, _Proc, _State, _step, task_cpu


class Threads(Emitter):
    """Each environment thread as a Promela process."""

    # -- init and user ------------------------------------------------------------------------
    def init_thread(self) -> _Proc:
        """init: runs the vendor module_init on CPU0 (busy from the start);
        then the environment sees its return value: the module is live, or
        gone if it returned an error."""
        proc = _Proc("t_init", INIT)
        entry = self.p.entry()
        if not entry:
            proc.emit(_step(f"NOSTOP({INIT})", ["module_state = MOD_LIVE"]))
            return proc
        proc.decls.append("int init_ret = V_OK;  /* module_init's return value */")
        self._expand(proc, entry, task_cpu(proc), "init", "init_ret", "init_done", None, ends=("idle",))
        proc.label("init_done")
        site = Site(INIT, task_cpu(proc), "init", self.ncpus, result="init_ret")
        proc.emit(_step(f"NOSTOP({INIT})",
                        ["module_state = ((init_ret == V_ERR) -> MOD_GONE : MOD_LIVE)"]
                        + self._hook("init_done", site) + ["init_ret = V_OK"]))
        return proc

    def user_thread(self) -> _Proc:
        """user: once a misc device (/dev/kvm) is registered, the module is
        neither unloading nor gone and tasks are not frozen, create a VM
        (kvm_create_vm on CPU0, context ioctl); if that succeeded and left a
        VM on vm_list, destroy it the same way (when there is a destroy
        path)."""
        proc = _Proc("t_user", USER)
        create = self._vm_op("vm_create")
        destroy = self._vm_op("vm_destroy")
        ready = (f"NOSTOP({USER}) && ({self.facts.dev_kvm}) && module_state != MOD_GONE && "
                 "module_state != MOD_UNLOADING && !frozen")
        if not create:
            proc.emit("skip")
            return proc
        proc.decls += ["byte owns;  /* VMs this thread put on vm_list */",
                       "int user_ret = V_OK;  /* what the VM operation returned */"]
        site = Site(USER, task_cpu(proc), "ioctl", self.ncpus)
        proc.emit(_step(ready, [f"busy[{USER}] = 1"] + self._hook("vm_create_begin", site)))
        self._expand(proc, create, task_cpu(proc), "ioctl", "user_ret", "user_created", None,
                     ends=("vm_create_end", "idle"))
        proc.label("user_created")
        if destroy:
            proc.emit("atomic { if :: owns == 0 || user_ret == V_ERR -> user_ret = V_OK; "
                      "goto user_end :: else -> user_ret = V_OK fi }")
            if self.bounds.vm_ops and self.p.vm_ioctl:
                # the VM-operations pass: up to vm_ops ioctls on the VM first
                proc.decls.append(f"byte vm_ops_left = {self.bounds.vm_ops};  /* VM ioctls left */")
                proc.label("user_ops")
                proc.emit(_step(ready, [f"busy[{USER}] = 1"]))
                proc.emit("if :: vm_ops_left > 0 -> vm_ops_left-- :: else -> goto user_destroy "
                          ":: true -> goto user_destroy fi")
                self._expand(proc, self.p.vm_ioctl, task_cpu(proc), VM_IOCTL, "user_ret",
                             "user_op_done", None, ends=("idle",))
                proc.label("user_op_done")
                proc.emit("user_ret = V_OK; goto user_ops")
                proc.label("user_destroy")
            else:
                proc.emit(_step(ready, [f"busy[{USER}] = 1"]))
            self._expand(proc, destroy, task_cpu(proc), "ioctl", "user_ret", "user_end", None, ends=("idle",))
        proc.label("user_end")
        proc.emit("user_ret = V_OK")
        return proc

    def _vm_op(self, role: str) -> str:
        return next((n for n in sorted(self.vocab.get(role, frozenset())) if n in self.p.functions), "")

    # -- hotplug: cpu_up / cpu_down ------------------------------------------------------------
    def hotplug_thread(self) -> _Proc:
        """hotplug: up to HOTPLUG_EVENTS times (none once a reboot has begun or
        while tasks are frozen), for a non-boot CPU c: cpu_down(c) if online,
        else cpu_up(c)."""
        proc = _Proc("t_hotplug", HOTPLUG)
        proc.decls += ["byte hp_left = HOTPLUG_EVENTS;",
                       "byte hc;  /* the CPU going up or down */"] + self._hp_decls("hp")
        choices = " ".join(f":: hc = {c}" for c in range(1, self.ncpus))
        proc.label("hp_idle")
        proc.emit(f"atomic {{ NOSTOP({HOTPLUG}) && hp_left > 0 && sys_phase != PH_REBOOT && !frozen "
                  f"-> hp_left--; busy[{HOTPLUG}] = 1; if {choices} fi; "
                  "if :: online[hc] -> goto hp_down :: else -> goto hp_up fi }")
        finish = ["hc = 0"] + self._op_end(proc, task_cpu(proc), "hotplug", ("idle",), "V_OK")
        proc.label("hp_up")
        self._cpu_up(proc, "hc", "hp", finish, "hp_idle")
        proc.label("hp_down")
        self._cpu_down(proc, "hc", "hp", finish, "hp_idle")
        return proc

    def _hp_decls(self, pfx: str) -> list[str]:
        return [f"int {pfx}_snap;  /* states registered when the hotplug phase began */",
                f"int {pfx}_done;  /* ONLINE states whose startup succeeded */",
                f"int {pfx}_cb = V_ABSENT;  /* an ONLINE startup's return value */"]

    def _cpu_up(self, proc: _Proc, c: str, pfx: str, finish: list[str], goto: str) -> None:
        """cpu_up(c), holding cpu_hotplug_lock for write: PREPARE and STARTING
        startups in state order (STARTING on c with IRQs off, PREPARE on CPU0;
        errors ignored; meanwhile c is in up_early), c online, ONLINE startups
        on c (a failure tears down the ONLINE states done in reverse, takes c
        offline, tears down STARTING/PREPARE in reverse), c active. A callback
        runs only if its state was registered when the phase began and still
        is. Ends with `finish`, then goes to `goto`."""
        hp = self.locks[HOTPLUG_LOCK]
        snap, done, cb = f"{pfx}_snap", f"{pfx}_done", f"{pfx}_cb"
        early = self._sorted_states((PREPARE, STARTING))
        late = self._sorted_states((ONLINE,))
        rollback = f"{pfx}_up_rollback"
        end = [f"release({hp}, {proc.me})", f"{snap} = 0", f"{done} = 0"] + finish
        site = Site(proc.me, c, "hotplug", self.ncpus)
        proc.comment(f"cpu_up({c})")
        self._take(proc, task_cpu(proc), "hotplug", HOTPLUG_LOCK, False,
                   [f"{snap} = {self._reg_mask(early)}", f"up_early = up_early | BIT({c})"])
        for st in early:
            self._hp_callback(proc, st, "startup", c, snap, None, rollback, done)
        # CPU c marks itself online; its hotplug thread runs the ONLINE callbacks
        # and marks it active (interp's builtins.up)
        proc.emit(self._shared(proc, c, ONLINE, [
            f"online[{c}] = 1", f"up_early = up_early & ~BIT({c})",
            f"{snap} = {self._reg_mask(late)}", f"{done} = 0"]))
        for st in late:
            self._hp_callback(proc, st, "startup", c, snap, cb, rollback, done)
        proc.emit(self._shared(proc, c, ONLINE,
                               [f"cpu_active[{c}] = 1"] + self._hook("cpu_active", site)))
        proc.emit(self._shared(proc, task_cpu(proc), "hotplug", end, goto=goto))
        proc.label(rollback)
        for st in reversed(late):
            self._hp_callback(proc, st, "teardown", c, done, None, rollback, done)
        proc.emit(self._shared(proc, task_cpu(proc), "hotplug", [f"online[{c}] = 0"]
                               + self._hook("cpu_rollback", site)
                               + [f"{snap} = {self._reg_mask(early)}"]))
        for st in reversed(early):
            self._hp_callback(proc, st, "teardown", c, snap, None, rollback, done)
        proc.emit(self._shared(proc, task_cpu(proc), "hotplug", end, goto=goto))

    def _cpu_down(self, proc: _Proc, c: str, pfx: str, finish: list[str], goto: str) -> None:
        """cpu_down(c), holding cpu_hotplug_lock for write: c inactive, ONLINE
        teardowns in reverse, then stop_machine() (once no other thread holds
        a spinlock or runs with IRQs off; from then on only this thread
        touches shared state): c offline, STARTING/PREPARE teardowns in
        reverse. Ends with `finish`, then goes to `goto`."""
        hp = self.locks[HOTPLUG_LOCK]
        snap, done = f"{pfx}_snap", f"{pfx}_done"
        early = self._sorted_states((PREPARE, STARTING))
        late = self._sorted_states((ONLINE,))
        proc.comment(f"cpu_down({c})")
        self._take(proc, task_cpu(proc), "hotplug", HOTPLUG_LOCK, False,
                   [f"cpu_active[{c}] = 0", f"{snap} = {self._reg_mask(late)}"])
        for st in reversed(late):
            self._hp_callback(proc, st, "teardown", c, snap, None, "", done)
        proc.emit(self._shared(proc, task_cpu(proc), "hotplug", [f"stopper = {proc.me}", f"online[{c}] = 0",
                                                      f"{snap} = {self._reg_mask(early)}"],
                               extra_guard=f"STOP_OK({proc.me})"))
        for st in reversed(early):
            self._hp_callback(proc, st, "teardown", c, snap, None, "", done)
        proc.emit(self._shared(proc, task_cpu(proc), "hotplug", ["stopper = NO_THREAD", f"release({hp}, {proc.me})",
                                                      f"{snap} = 0", f"{done} = 0"] + finish,
                               goto=goto))

    def _sorted_states(self, sections: tuple[str, ...]) -> list[_State]:
        return sorted((st for st in self.states.values() if st.section in sections),
                      key=lambda st: (st.index, st.name))

    def _reg_mask(self, states: list[_State]) -> str:
        parts = [f"((reg[{st.id}] != 0) -> {1 << st.id} : 0)" for st in states]
        return " | ".join(parts) if parts else "0"

    def _hp_callback(self, proc: _Proc, st: _State, which: str, c: str, mask: str,
                     result: str | None, rollback: str, done: str) -> None:
        """Run the startup/teardown of state `st` for CPU c if `mask` has it and
        it is registered now: on c (STARTING with IRQs off, ONLINE) or CPU0
        (PREPARE). An ONLINE startup's err goes to `rollback`; its success
        adds the state to `done`."""
        pick = 0 if which == "startup" else 1
        options = [(vid, pair[pick]) for vid, pair in enumerate(st.variants, 1) if pair[pick]]
        if not options:
            return
        self.callbacks += 1
        lab = f"hp_cb{self.callbacks}"
        proc.comment(f"{st.name} [{st.section}] {which}")
        choose = " ".join(f":: ({mask} & {1 << st.id}) != 0 && reg[{st.id}] == {vid} -> goto {lab}_{vid}"
                          for vid, _ in options)
        cpu = c if st.section in (STARTING, ONLINE) else task_cpu(proc)
        # cpu_up's STARTING and ONLINE startups run on c, its other steps in the task
        on_c = which == "startup" and st.section in (STARTING, ONLINE)
        proc.emit(self._shared(proc, cpu if on_c else task_cpu(proc),
                               st.section if on_c else "hotplug",
                               [f"if {choose} :: else -> goto {lab}_skip fi"], writes=False))
        after = f"{lab}_ret" if result else f"{lab}_skip"
        for vid, key in options:
            proc.label(f"{lab}_{vid}")
            self._expand(proc, key, cpu, st.section, result, after, None)
        if result:
            proc.label(f"{lab}_ret")
            proc.emit(_step(None, [(f"if :: {result} == V_ERR -> {result} = V_ABSENT; "
                                    f"goto {rollback} "
                                    f":: else -> {result} = V_ABSENT; {done} = {done} | {1 << st.id} fi")]))
        proc.label(f"{lab}_skip")

    # -- system: reboot, suspend/resume, unload ------------------------------------------------
    def system_thread(self) -> _Proc | None:
        """system: at most one system event of Bounds.system. Reboot at any
        time; suspend/resume once the module is live and no VM operation or
        hotplug runs (QUIET); module unload then too, with no VM and a
        module_exit to run. None when no event is possible."""
        exit_key = self.p.entry("module_exit")
        events = [e for e in SYSTEM_EVENTS if e in self.bounds.system
                  and (e != "unload" or exit_key in self.p.functions)]
        if not events:
            return None
        proc = _Proc("t_system", SYSTEM)
        me = SYSTEM
        proc.decls.append("int sreg;  /* the registrations in force when callbacks were listed */")
        options = []
        if "reboot" in events:
            options.append(f"atomic {{ NOSTOP({me}) -> sys_phase = PH_REBOOT; busy[{me}] = 1; "
                           "sreg = REG_MASK; goto sys_reboot }")
        if "suspend" in events:
            proc.decls += [("byte s_todo; byte s_downed; byte sc;  /* suspend: CPUs to take down "
                            "or bring up, the ones taken down, the CPU now */")] + self._hp_decls("sp")
            begin = (["sys_phase = PH_SUSPEND", "frozen = 1", f"busy[{me}] = 1"]
                     + self._hook("suspend_begin", Site(me, task_cpu(proc), "pm", self.ncpus))
                     + ["s_todo = ONLINE_MASK & ~BIT(0)", "s_downed = s_todo", "goto sys_suspend"])
            options.append(f"atomic {{ NOSTOP({me}) && QUIET -> {'; '.join(begin)} }}")
        if "unload" in events:
            options.append(f"atomic {{ NOSTOP({me}) && QUIET && vms == 0 -> sys_phase = PH_UNLOAD; "
                           f"module_state = MOD_UNLOADING; busy[{me}] = 1; goto sys_unload }}")
        proc.emit("if " + " ".join(f":: {o}" for o in options) + " fi")
        if "reboot" in events:
            self._reboot(proc)
        if "suspend" in events:
            self._suspend(proc)
        if "unload" in events:
            self._unload(proc, exit_key)
        proc.label("sys_end")
        proc.emit("skip")
        return proc

    def _kernel_callbacks(self, proc: _Proc, kinds: tuple[str, ...], reverse: bool, ctx: str,
                          returned: bool) -> None:
        """Run the callbacks of kinds `kinds` that the registrations in the
        snapshot `sreg` install, in registration order (kind, object; reversed
        with `reverse`), each on CPU0 in context `ctx`; with `returned` the
        kernel_callback_return hooks run after each."""
        found = [(i, key) for i, item in enumerate(sorted(self.regs))
                 for kind, key in self.p.callbacks.get(item, ()) if kind in kinds]
        if reverse:
            found.reverse()
        for i, key in found:
            self.callbacks += 1
            lab = f"sys_cb{self.callbacks}"
            proc.emit(f"if :: (sreg & BIT({i})) != 0 -> skip :: else -> goto {lab}_skip fi")
            cpu = task_cpu(proc) if ctx in TASK_CONTEXTS else "0"
            self._expand(proc, key, cpu, ctx, None, f"{lab}_ret", None)
            proc.label(f"{lab}_ret")
            back = self._hook("kernel_callback_return", Site(SYSTEM, cpu, ctx, self.ncpus)) \
                if returned else []
            if back:
                # nothing shared changes: the hooks keep what the system thread's next step does
                proc.emit(_step(None, back))
            proc.label(f"{lab}_skip")

    def _reboot(self, proc: _Proc) -> None:
        """reboot: the reboot notifier chain, system_state = SYSTEM_RESTART,
        cpu_hotplug_disable() (waits for a hotplug operation in flight), the
        syscore .shutdown callbacks (reverse order), then the firmware takes
        over: the system thread stays the stopper, nothing else runs."""
        me = SYSTEM
        proc.label("sys_reboot")
        proc.comment("reboot: the reboot notifier chain")
        self._kernel_callbacks(proc, ("reboot",), False, "reboot", True)
        proc.emit(self._shared(proc, task_cpu(proc), "reboot", self._store_global(
            "system_state", self._named("SYSTEM_RESTART"))))
        proc.comment("migrate_to_reboot_cpu(): cpu_hotplug_disable(); syscore_shutdown()")
        proc.emit(self._shared(proc, task_cpu(proc), "reboot", ["sreg = REG_MASK"],
                               extra_guard=f"!busy[{HOTPLUG}]", writes=False))
        self._kernel_callbacks(proc, ("syscore_shutdown",), True, "shutdown", True)
        proc.comment("machine_restart(): the firmware takes over")
        proc.emit(self._shared(proc, task_cpu(proc), "reboot", [f"stopper = {me}", "sreg = 0"]
                               + self._op_end(proc, task_cpu(proc), "reboot", ("idle",), "V_OK"),
                               goto="sys_end"))

    def _suspend(self, proc: _Proc) -> None:
        """suspend to RAM and resume (tasks frozen since the start): the
        non-boot CPUs online taken down (ascending), the syscore .suspend
        callbacks on CPU0 with IRQs off (reverse order), the platform sleeps
        and CPU0 comes back with virtualization off, the .resume callbacks
        (forward), the CPUs taken down brought up again (ascending), tasks
        thawed."""
        proc.label("sys_suspend")
        proc.comment("suspend: non-boot CPUs taken down")
        proc.label("s_down_next")
        proc.emit(_step(None, [_next_cpu("s_todo", "sc", ["goto s_downs_done"])]))
        self._cpu_down(proc, "sc", "sp", [], "s_down_next")
        proc.label("s_downs_done")
        proc.comment("syscore_suspend() on CPU0, IRQs off")
        proc.emit(self._shared(proc, task_cpu(proc), "pm", ["sreg = REG_MASK"], writes=False))
        self._kernel_callbacks(proc, ("syscore_suspend",), True, "syscore", False)
        proc.comment("the platform sleeps and wakes: CPU0 loses virtualization; syscore_resume()")
        proc.emit(self._shared(proc, task_cpu(proc), "pm", ["virt[0] = 0", "sreg = REG_MASK"]))
        self._kernel_callbacks(proc, ("syscore_resume",), False, "syscore", False)
        proc.comment("non-boot CPUs brought up again")
        proc.emit(self._shared(proc, task_cpu(proc), "pm", ["s_todo = s_downed", "sreg = 0"], writes=False))
        proc.label("s_up_next")
        proc.emit(_step(None, [_next_cpu("s_todo", "sc", ["goto s_ups_done"])]))
        self._cpu_up(proc, "sc", "sp", [], "s_up_next")
        proc.label("s_ups_done")
        stmts = (["frozen = 0"] + self._hook("resume_done", Site(SYSTEM, task_cpu(proc), "pm", self.ncpus))
                 + ["s_downed = 0", "sc = 0"] + self._op_end(proc, task_cpu(proc), "pm", ("idle",), "V_OK"))
        proc.emit(self._shared(proc, task_cpu(proc), "pm", stmts, goto="sys_end"))

    def _unload(self, proc: _Proc, exit_key: str) -> None:
        """module unload: module_exit on CPU0 (the module unloading: no new VM
        operation starts); when it has returned the module is gone."""
        proc.label("sys_unload")
        self._expand(proc, exit_key, task_cpu(proc), "exit", None, "sys_unloaded", None, ends=("idle",))
        proc.label("sys_unloaded")
        proc.emit(_step(f"NOSTOP({SYSTEM})", ["module_state = MOD_GONE"]
                        + self._hook("unloaded", Site(SYSTEM, task_cpu(proc), "exit", self.ncpus)),
                        goto="sys_end"))
