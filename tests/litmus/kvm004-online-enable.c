// litmus: the same enable in an ONLINE callback that returns its failure
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
static DEFINE_RAW_SPINLOCK(kvm_count_lock);
static int kvm_usage_count;
static atomic_t hardware_enable_failed;
static LIST_HEAD(vm_list);
static DEFINE_PER_CPU(bool, hardware_enabled);
static struct miscdevice kvm_dev;

static int vmx_hardware_enable(void)
{
	return 0;
}

static void vmx_hardware_disable(void)
{
}

struct kvm_x86_ops vmx_x86_ops = {
	.hardware_enable = vmx_hardware_enable,
	.hardware_disable = vmx_hardware_disable,
};

static int enable_this_cpu(void *ign)
{
	if (__this_cpu_read(hardware_enabled))
		return 0;
	if (static_call(kvm_x86_hardware_enable)()) {
		atomic_inc(&hardware_enable_failed);
		return -EIO;
	}
	__this_cpu_write(hardware_enabled, true);
	return 0;
}

static void disable_this_cpu(void *ign)
{
	if (!__this_cpu_read(hardware_enabled))
		return;
	static_call(kvm_x86_hardware_disable)();
	__this_cpu_write(hardware_enabled, false);
}

static int kvm_starting_cpu(unsigned int cpu)
{
	int r = 0;

	raw_spin_lock(&kvm_count_lock);
	if (kvm_usage_count)
		r = enable_this_cpu(NULL);
	raw_spin_unlock(&kvm_count_lock);
	return r;
}

static int kvm_dying_cpu(unsigned int cpu)
{
	raw_spin_lock(&kvm_count_lock);
	if (kvm_usage_count)
		disable_this_cpu(NULL);
	raw_spin_unlock(&kvm_count_lock);
	return 0;
}

struct kvm *kvm_create_vm(unsigned long type)
{
	cpus_read_lock();
	raw_spin_lock(&kvm_count_lock);
	kvm_usage_count++;
	if (kvm_usage_count == 1) {
		atomic_set(&hardware_enable_failed, 0);
		on_each_cpu(enable_this_cpu, NULL, 1);
		if (atomic_read(&hardware_enable_failed)) {
			kvm_usage_count--;
			on_each_cpu(disable_this_cpu, NULL, 1);
			raw_spin_unlock(&kvm_count_lock);
			cpus_read_unlock();
			return ERR_PTR(-EBUSY);
		}
	}
	raw_spin_unlock(&kvm_count_lock);
	cpus_read_unlock();
	list_add(&kvm->vm_list, &vm_list);
	return kvm;
}

static int __init vmx_init(void)
{
	int r;

	r = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
				      kvm_starting_cpu, kvm_dying_cpu);
	if (r)
		return r;
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
