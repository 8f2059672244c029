/* kvmplan Promela environment: the model's primitives (kvmplan/model/semantics.py,
 * /work/shared/docs/model.md), written for SPIN.
 *
 * kvmplan/model/promela/export.py puts this text after its own #defines (NCPUS,
 * NLOCKS, NTHREADS, INIT, USER, HOTPLUG, SYSTEM, NO_CPU, NO_THREAD) and before
 * the generated threads. Nothing here depends on the scenario. */

/* ---- Values (world.Value) -------------------------------------------------
 * A number is itself. The model's other values are codes below every number
 * the exporter lets through (it refuses constants of a million or more). */
#define V_ABSENT   (-1000001)   /* a local slot never assigned: value() falls back to globals */
#define V_UNK      (-1000002)   /* "?": a value the model does not know */
#define V_OK       (-1000003)   /* "ok": success of a call that returns no number */
#define V_ERR      (-1000004)   /* "err": an -E... code or an ERR_PTR */
#define V_T        (-1000005)   /* "t": true */
#define V_F        (-1000006)   /* "f": false */
/* named constant number k (an enumerator, NULL, 1UL...) is V_NAMED_BASE - k */
#define V_NAMED_BASE (-1000100)
#define IS_INT(v)  ((v) > -1000000)

/* Three-valued truth: 0 false, 1 true, 2 unknown (an unknown branch takes
 * the side that is not the error path; the generated branch decides). */
#define TRUTH(v)   ((((v) == V_OK) || ((v) == V_F)) -> 0 : \
                   ((((v) == V_ERR) || ((v) == V_T)) -> 1 : \
                   (IS_INT(v) -> (((v) != 0) -> 1 : 0) : 2)))
#define NOT3(x)    (((x) == 2) -> 2 : (1 - (x)))
#define AND3(x, y) ((((x) == 0) || ((y) == 0)) -> 0 : ((((x) == 2) || ((y) == 2)) -> 2 : 1))
#define OR3(x, y)  ((((x) == 1) || ((y) == 1)) -> 1 : ((((x) == 2) || ((y) == 2)) -> 2 : 0))

/* An operand of a comparison: "ok" compares as 0, an absent slot as unknown. */
#define CVAL(v)    (((v) == V_OK) -> 0 : (((v) == V_ABSENT) -> V_UNK : (v)))
#define KNOWN2(a, b) (((a) != V_UNK) && ((b) != V_UNK))
#define EQ3(a, b)  (KNOWN2(a, b) -> (((a) == (b)) -> 1 : 0) : 2)
#define NE3(a, b)  (KNOWN2(a, b) -> (((a) != (b)) -> 1 : 0) : 2)
/* order comparisons between two numbers; an error (an -E... code, negative)
 * is below any number from 0 up (interp.order) */
#define NUM2(a, b) (KNOWN2(a, b) && IS_INT(a) && IS_INT(b))
#define ERR_BELOW(a, b) (((a) == V_ERR) && IS_INT(b) && ((b) >= 0))
#define BELOW3(a, b) (ERR_BELOW(a, b) -> 1 : (ERR_BELOW(b, a) -> 0 : 2))
#define LT3(a, b)  (NUM2(a, b) -> (((a) < (b)) -> 1 : 0) : BELOW3(a, b))
#define GT3(a, b)  (NUM2(a, b) -> (((a) > (b)) -> 1 : 0) : BELOW3(b, a))
#define LE3(a, b)  (NUM2(a, b) -> (((a) <= (b)) -> 1 : 0) : BELOW3(a, b))
#define GE3(a, b)  (NUM2(a, b) -> (((a) >= (b)) -> 1 : 0) : BELOW3(b, a))

/* ---- CPUs -------------------------------------------------------------------
 * online / cpu_active (schedulable) / virt (VMXON, EFER.SVME) per CPU; all CPUs
 * start online and active with virtualization off. `bad` is the one CPU
 * (never CPU0) that can't enable virtualization, or NO_CPU. */
bit online[NCPUS] = 1;
bit cpu_active[NCPUS] = 1;
bit virt[NCPUS];
byte bad = NO_CPU;

/* lowest / highest CPU in a mask (NCPUS <= 4) */
#define LOWEST(m)  ((((m) & 1) != 0) -> 0 : ((((m) & 2) != 0) -> 1 : ((((m) & 4) != 0) -> 2 : 3)))
#define HIGHEST(m) ((((m) & 8) != 0) -> 3 : ((((m) & 4) != 0) -> 2 : ((((m) & 2) != 0) -> 1 : 0)))
#define BIT(c)     (1 << (c))
/* the next CPU of a cross call's mask: the lowest other than the caller's
 * CPU o, then o (the IPIs go out before the local call) */
#define LOCAL_LAST(m, o) (((((m) & ~BIT(o)) != 0) -> LOWEST((m) & ~BIT(o)) : (o)))

/* CPUs whose cpu_up() is in its PREPARE/STARTING phase: it holds the hotplug
 * lock for write and has not marked the CPU online yet */
byte up_early;

/* ---- TDX (semantics.py "tdx") ---------------------------------------------------
 * tdx_enable() marks TDX enabled; tdx_cpu_enable() needs virtualization on
 * its CPU (else it fails) and marks the CPU. */
bit tdx_enabled;
bit tdx_done[NCPUS];

/* ---- VMs and the module -------------------------------------------------------
 * A VM exists from its list_add(vm_list) to its list_del. The module is
 * loading until module_init returns, then live, or gone if it returned an
 * error; module unload makes it unloading, then gone when module_exit has
 * returned. The user thread starts only while it is loading or live. */
byte vms;
#define MOD_LOADING   0
#define MOD_LIVE      1
#define MOD_GONE      2
#define MOD_UNLOADING 3
byte module_state = MOD_LOADING;

/* ---- Threads' operations and the system events -----------------------------------
 * busy[t]: thread t is inside an operation (module init, a VM ioctl, a
 * cpu_up/cpu_down, a system event): the explorer's "its frames are not
 * empty". The system thread runs at most one event; sys_phase says which.
 * Suspend freezes tasks (no new VM operation or hotplug) until resume is
 * done. Once a reboot has begun no new hotplug starts, and KVM forgives a
 * faulting disable. Suspend and unload start only when QUIET. */
bit busy[NTHREADS];
#define PH_NONE    0
#define PH_REBOOT  1
#define PH_SUSPEND 2
#define PH_UNLOAD  3
byte sys_phase = PH_NONE;
bit frozen;
#define QUIET (!busy[USER] && !busy[HOTPLUG] && module_state == MOD_LIVE)

/* ---- IRQs-off contexts and stop_machine ----------------------------------------
 * irqcpu[t] is the CPU thread t runs on with IRQs off (inside an IPI or a
 * STARTING/DYING callback), else NO_CPU. A statement of thread `me` on CPU c
 * touching shared state runs only when no other thread is IRQs-off on c
 * (IRQs-off contexts run to completion on their CPU) and no other thread
 * runs stop_machine(). FREE(me, c) says so; it is generated with the list
 * of threads, like STOP_OK(me): no other thread holds a spinlock or runs
 * with IRQs off, so stop_machine() can start. */
byte irqcpu[NTHREADS] = NO_CPU;
byte spins[NTHREADS];          /* spinlocks (raw_spin, spin) each thread holds */
byte stopper = NO_THREAD;      /* the thread inside stop_machine(), else NO_THREAD */
#define NOSTOP(me) ((stopper == NO_THREAD) || (stopper == (me)))

/* ---- Where tasks run (world.where, kernel.TASK_CONTEXTS) -------------------------
 * hcpu[t] is the CPU thread t keeps with preemption off (a spinlock, a cross
 * call in progress; hdepth[t] such scopes open), else NO_CPU. A task step of
 * thread t runs on pcpu[t]: while t holds no CPU, each such step first moves
 * it to the lowest online, active CPU that no other thread keeps (TAKEN_MASK,
 * generated with the thread list) and waits while there is none. A step
 * bound to CPU c (an ONLINE callback...) waits while another thread keeps c
 * (FREE_TASK); an IRQs-off one only while another runs on c with IRQs off
 * (FREE). */
byte pcpu[NTHREADS];
byte hcpu[NTHREADS] = NO_CPU;
byte hdepth[NTHREADS];
#define ENTER_ATOMIC(me, c) hcpu[me] = ((hdepth[me] == 0) -> (c) : hcpu[me]); hdepth[me] = hdepth[me] + 1
#define LEAVE_ATOMIC(me) hdepth[me] = ((hdepth[me] > 0) -> hdepth[me] - 1 : 0); \
                         hcpu[me] = ((hdepth[me] == 0) -> NO_CPU : hcpu[me])
#define FLOAT_MASK(me) (ONLINE_MASK & ACTIVE_MASK & ~TAKEN_MASK(me))
#define TASK_OK(me) (NOSTOP(me) && ((hdepth[me] == 0 && FLOAT_MASK(me) != 0) || \
                     (hdepth[me] != 0 && FREE_TASK(me, pcpu[me]))))
#define PLACE(me) pcpu[me] = ((hdepth[me] == 0) -> LOWEST(FLOAT_MASK(me)) : pcpu[me])

/* ---- Locks (world.acquire / world.release) --------------------------------------
 * Each lock is free, held for read by a set of threads, or held exclusively
 * by one thread. cpus_read_lock is the read side of cpu_hotplug_lock;
 * cpu_up/cpu_down take it for write; mutexes and spinlocks are exclusive. */
#define LK_FREE 0
#define LK_READ 1
#define LK_EXCL 2
byte lk_mode[NLOCKS];
byte lk_owner[NLOCKS];
byte lk_readers[NLOCKS];

/* may `me` take L for read now? (only an exclusive holder other than me blocks) */
#define CAN_SHARED(L, me) (!((lk_mode[L] == LK_EXCL) && (lk_owner[L] != (me))))
/* may `me` take L exclusively now? (also blocked by readers other than me) */
#define CAN_EXCL(L, me)   (CAN_SHARED(L, me) && \
                           !((lk_mode[L] == LK_READ) && ((lk_readers[L] & ~BIT(me)) != 0)))
#define IS_READER(L, me)  ((lk_mode[L] == LK_READ) && ((lk_readers[L] & BIT(me)) != 0))
#define IS_OWNER(L, me)   ((lk_mode[L] == LK_EXCL) && (lk_owner[L] == (me)))
/* `me` holds L, for read or exclusively: taking it again goes on (the rules
 * report it) and changes nothing but a lone reader's upgrade */
#define HOLDS(L, me)      (IS_READER(L, me) || IS_OWNER(L, me))

/* take L for read: join the readers (my own exclusive hold stays as it is) */
inline take_shared(L, me) {
	if
	:: lk_mode[L] == LK_EXCL -> skip
	:: else ->
		lk_readers[L] = (((lk_mode[L] == LK_READ) -> lk_readers[L] : 0) | BIT(me));
		lk_mode[L] = LK_READ;
		lk_owner[L] = 0
	fi
}

/* take L exclusively (a lone reader of my own becomes the owner) */
inline take_excl(L, me) {
	lk_mode[L] = LK_EXCL;
	lk_owner[L] = me;
	lk_readers[L] = 0
}

/* release: a reader leaves the read set; the exclusive holder frees it;
 * releasing a lock one does not hold changes nothing */
inline release(L, me) {
	if
	:: lk_mode[L] == LK_READ ->
		lk_readers[L] = (lk_readers[L] & ~BIT(me));
		if
		:: lk_readers[L] == 0 -> lk_mode[L] = LK_FREE
		:: else -> skip
		fi
	:: lk_mode[L] == LK_EXCL && lk_owner[L] == (me) ->
		lk_mode[L] = LK_FREE;
		lk_owner[L] = 0
	:: else -> skip
	fi
}
