// Mini-KVM in the style of Linux 6.12 (virtualization enabled by the first VM
// through cpuhp_setup_state(), kvm_usage_lock, kvm_x86_call()), with the
// variants the scenarios of tests/litmus/ share: TDX's load-time enable,
// syscore hooks, the reboot check, VM creation with or without a helper.
// vmx_init()/vt_init() and module_exit stay in the scenarios (the model takes
// the vendor module's entries from the scenario's own file).
//
// A scenario takes blocks with `// prelude: kvm-6.12` and `// use: BLOCK ...`;
// a block runs from its `// block:` line to the next one. Blocks named alike
// (create-vm, create-vm-enables...) define the same function: use one. See
// kvmplan/model/litmus.py.

// block: decls
// the usage count and its lock, kvm_lock, the VM list, the per-CPU flag,
// /dev/kvm
static DEFINE_MUTEX(kvm_lock);
static DEFINE_MUTEX(kvm_usage_lock);
static int kvm_usage_count;
static LIST_HEAD(vm_list);
static struct miscdevice kvm_dev;
static DEFINE_PER_CPU(bool, virtualization_enabled);

// block: vendor-ops
// VMX's enable/disable, bound in kvm_x86_ops (kvm_x86_call())
static int vmx_enable_virtualization_cpu(void)
{
	return 0;
}

static void vmx_disable_virtualization_cpu(void)
{
}

struct kvm_x86_ops vt_x86_ops = {
	.enable_virtualization_cpu = vmx_enable_virtualization_cpu,
	.disable_virtualization_cpu = vmx_disable_virtualization_cpu,
};

// block: online-cpu
// the ONLINE callback: the flag-guarded per-CPU enable
static int kvm_online_cpu(unsigned int cpu)
{
	if (__this_cpu_read(virtualization_enabled))
		return 0;
	if (kvm_x86_call(enable_virtualization_cpu)())
		return -EIO;
	__this_cpu_write(virtualization_enabled, true);
	return 0;
}

// block: offline-cpu
// its teardown: the flag-guarded per-CPU disable
static int kvm_offline_cpu(unsigned int cpu)
{
	if (!__this_cpu_read(virtualization_enabled))
		return 0;
	kvm_x86_call(disable_virtualization_cpu)();
	__this_cpu_write(virtualization_enabled, false);
	return 0;
}

// block: disable-virtualization-cpu
// kvm_disable_virtualization_cpu(), the flag-guarded per-CPU disable as an IPI
// callback, and the teardown calling it (a kvm_offline_cpu() of its own: not
// with offline-cpu)
static void kvm_disable_virtualization_cpu(void *ign)
{
	if (!__this_cpu_read(virtualization_enabled))
		return;
	kvm_x86_call(disable_virtualization_cpu)();
	__this_cpu_write(virtualization_enabled, false);
}

static int kvm_offline_cpu(unsigned int cpu)
{
	kvm_disable_virtualization_cpu(NULL);
	return 0;
}

// block: enable-virtualization
// kvm_enable_virtualization(): the first user registers the cpuhp state
static int kvm_enable_virtualization(void)
{
	guard(mutex)(&kvm_usage_lock);
	if (kvm_usage_count++)
		return 0;
	if (cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
			      kvm_online_cpu, kvm_offline_cpu)) {
		--kvm_usage_count;
		return -EIO;
	}
	return 0;
}

// block: disable-virtualization
// kvm_disable_virtualization(): the last user removes it
static void kvm_disable_virtualization(void)
{
	guard(mutex)(&kvm_usage_lock);
	if (--kvm_usage_count)
		return;
	cpuhp_remove_state(CPUHP_AP_KVM_ONLINE);
}

// block: create-vm
// the first VM registers the cpuhp state under kvm_usage_lock; the VM joins
// vm_list under kvm_lock
struct kvm *kvm_create_vm(unsigned long type)
{
	struct kvm *kvm = kvm_arch_alloc_vm();

	mutex_lock(&kvm_usage_lock);
	if (kvm_usage_count++ == 0 &&
	    cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
			      kvm_online_cpu, kvm_offline_cpu)) {
		--kvm_usage_count;
		mutex_unlock(&kvm_usage_lock);
		return ERR_PTR(-EIO);
	}
	mutex_unlock(&kvm_usage_lock);
	mutex_lock(&kvm_lock);
	list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	return kvm;
}

// block: destroy-vm
// the VM leaves vm_list; the last one removes the cpuhp state
// (cpuhp_remove_state(), teardown on every CPU)
static void kvm_destroy_vm(struct kvm *kvm)
{
	mutex_lock(&kvm_lock);
	list_del(&kvm->vm_list);
	mutex_unlock(&kvm_lock);
	mutex_lock(&kvm_usage_lock);
	if (--kvm_usage_count == 0)
		cpuhp_remove_state(CPUHP_AP_KVM_ONLINE);
	mutex_unlock(&kvm_usage_lock);
}

// block: create-vm-enables
// VM creation through kvm_enable_virtualization()
struct kvm *kvm_create_vm(unsigned long type)
{
	struct kvm *kvm = kvm_arch_alloc_vm();

	if (kvm_enable_virtualization())
		return ERR_PTR(-EIO);
	list_add(&kvm->vm_list, &vm_list);
	return kvm;
}

// block: create-vm-restart-check
// the first VM registers the cpuhp state, and backs out if a reboot has begun
// (system_state)
struct kvm *kvm_create_vm(unsigned long type)
{
	guard(mutex)(&kvm_usage_lock);
	if (kvm_usage_count++ == 0) {
		if (cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
				      kvm_online_cpu, kvm_offline_cpu))
			goto err;
		if (system_state == SYSTEM_RESTART) {
			cpuhp_remove_state(CPUHP_AP_KVM_ONLINE);
			goto err;
		}
	}
	mutex_lock(&kvm_lock);
	list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	return kvm;
err:
	--kvm_usage_count;
	return ERR_PTR(-EBUSY);
}

// block: syscore-shutdown
// syscore .shutdown: virtualization off on every CPU
static void kvm_shutdown(void)
{
	on_each_cpu(kvm_disable_virtualization_cpu, NULL, 1);
}

static struct syscore_ops kvm_syscore_ops = {
	.shutdown = kvm_shutdown,
};

// block: syscore-suspend
// syscore .suspend (the boot CPU's teardown), and VM creation/destruction
// registering kvm_syscore_ops (which the scenario defines) with the cpuhp
// state
static int kvm_suspend(void)
{
	kvm_offline_cpu(0);
	return 0;
}

struct kvm *kvm_create_vm(unsigned long type)
{
	struct kvm *kvm = kvm_arch_alloc_vm();

	mutex_lock(&kvm_usage_lock);
	if (kvm_usage_count++ == 0 &&
	    cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
			      kvm_online_cpu, kvm_offline_cpu)) {
		--kvm_usage_count;
		mutex_unlock(&kvm_usage_lock);
		return ERR_PTR(-EIO);
	}
	if (kvm_usage_count == 1)
		register_syscore_ops(&kvm_syscore_ops);
	mutex_unlock(&kvm_usage_lock);
	mutex_lock(&kvm_lock);
	list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	return kvm;
}

static void kvm_destroy_vm(struct kvm *kvm)
{
	mutex_lock(&kvm_lock);
	list_del(&kvm->vm_list);
	mutex_unlock(&kvm_lock);
	mutex_lock(&kvm_usage_lock);
	if (--kvm_usage_count == 0) {
		unregister_syscore_ops(&kvm_syscore_ops);
		cpuhp_remove_state(CPUHP_AP_KVM_ONLINE);
	}
	mutex_unlock(&kvm_usage_lock);
}

// block: tdx-cpuhp
// TDX's own cpuhp callback
static int tdx_online_cpu(unsigned int cpu)
{
	return tdx_cpu_enable();
}

// block: tdx-enable
// TDX's load-time enable (the TDX host series): the flag-guarded VMXON, its
// IPI callback counting failures in enable_err, VMXON + tdx_cpu_enable() on
// each CPU (vmx_tdx_on), and the ONLINE callback doing the same, VMX off again
// while no VM exists (a kvm_online_cpu() of its own: not with online-cpu)
static atomic_t enable_err;

static int kvm_enable_virtualization_cpu(void)
{
	if (__this_cpu_read(virtualization_enabled))
		return 0;
	if (kvm_x86_call(enable_virtualization_cpu)())
		return -EIO;
	__this_cpu_write(virtualization_enabled, true);
	return 0;
}

static void kvm_enable_ipi(void *ign)
{
	if (kvm_enable_virtualization_cpu())
		atomic_inc(&enable_err);
}

static void vmx_tdx_on(void *ign)
{
	int r;

	r = kvm_enable_virtualization_cpu();
	if (!r)
		r = tdx_cpu_enable();
	if (r)
		atomic_inc(&enable_err);
}

static int kvm_online_cpu(unsigned int cpu)
{
	int r;

	guard(mutex)(&kvm_usage_lock);
	r = kvm_enable_virtualization_cpu();
	if (!r)
		r = tdx_cpu_enable();
	if (!kvm_usage_count)
		kvm_disable_virtualization_cpu(NULL);
	return r;
}

// block: create-vm-ipi
// the first VM enables every online CPU by IPI under cpus_read_lock() and
// kvm_usage_lock
struct kvm *kvm_create_vm(unsigned long type)
{
	struct kvm *kvm = kvm_arch_alloc_vm();

	cpus_read_lock();
	mutex_lock(&kvm_usage_lock);
	if (kvm_usage_count++ == 0) {
		atomic_set(&enable_err, 0);
		on_each_cpu(kvm_enable_ipi, NULL, 1);
		if (atomic_read(&enable_err)) {
			kvm_usage_count--;
			on_each_cpu(kvm_disable_virtualization_cpu, NULL, 1);
			mutex_unlock(&kvm_usage_lock);
			cpus_read_unlock();
			return ERR_PTR(-EIO);
		}
	}
	mutex_unlock(&kvm_usage_lock);
	cpus_read_unlock();
	list_add(&kvm->vm_list, &vm_list);
	return kvm;
}

// block: enable-this-cpu
// the flag-guarded per-CPU enable of a KVM that enables at load (see enable-
// at-load)
static int enable_this_cpu(void)
{
	if (__this_cpu_read(virtualization_enabled))
		return 0;
	if (kvm_x86_call(enable_virtualization_cpu)())
		return -EIO;
	__this_cpu_write(virtualization_enabled, true);
	return 0;
}

// block: enable-at-load
// for a KVM that enables at load: the IPI callback and the ONLINE callback,
// both calling enable_this_cpu() (enable-this-cpu, or the scenario's own)
static void enable_ipi(void *ign)
{
	enable_this_cpu();
}

static int kvm_online_cpu(unsigned int cpu)
{
	return enable_this_cpu();
}
