// litmus: TDX per-CPU init (VMXON + tdx_cpu_enable) over the online CPUs with hotplug excluded until the cpuhp state that does the same for CPUs onlined later is registered
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
static DEFINE_MUTEX(kvm_usage_lock);
static int kvm_usage_count;
static atomic_t enable_err;
static LIST_HEAD(vm_list);
static struct miscdevice kvm_dev;
static DEFINE_PER_CPU(bool, virtualization_enabled);

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

static int kvm_enable_virtualization_cpu(void)
{
	if (__this_cpu_read(virtualization_enabled))
		return 0;
	if (kvm_x86_call(enable_virtualization_cpu)())
		return -EIO;
	__this_cpu_write(virtualization_enabled, true);
	return 0;
}

static void kvm_disable_virtualization_cpu(void *ign)
{
	if (!__this_cpu_read(virtualization_enabled))
		return;
	kvm_x86_call(disable_virtualization_cpu)();
	__this_cpu_write(virtualization_enabled, false);
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

static int kvm_offline_cpu(unsigned int cpu)
{
	kvm_disable_virtualization_cpu(NULL);
	return 0;
}

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

static int __init vt_init(void)
{
	int r;

	cpus_read_lock();
	atomic_set(&enable_err, 0);
	on_each_cpu(vmx_tdx_on, NULL, 1);
	r = atomic_read(&enable_err);
	if (!r)
		r = tdx_enable();
	on_each_cpu(kvm_disable_virtualization_cpu, NULL, 1);
	if (!r)
		r = cpuhp_setup_state_nocalls_cpuslocked(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
							 kvm_online_cpu, kvm_offline_cpu);
	cpus_read_unlock();
	if (r)
		return -EIO;
	return misc_register(&kvm_dev);
}
module_init(vt_init);
