// litmus: the ONLINE callback's enable walks vm_list (TSC fixup) under kvm_lock, the lock VM creation adds to vm_list under
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
static DEFINE_MUTEX(kvm_lock);
static int kvm_usage_count;
static atomic_t hardware_enable_failed;
static LIST_HEAD(vm_list);
static struct miscdevice kvm_dev;
static DEFINE_PER_CPU(bool, hardware_enabled);

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

static int __hardware_enable_nolock(void)
{
	struct kvm *kvm;

	if (__this_cpu_read(hardware_enabled))
		return 0;
	if (static_call(kvm_x86_hardware_enable)())
		return -EIO;
	__this_cpu_write(hardware_enabled, true);
	list_for_each_entry(kvm, &vm_list, vm_list)
		kvm_make_all_cpus_request(kvm, KVM_REQ_CLOCK_UPDATE);
	return 0;
}

static void hardware_enable_nolock(void *junk)
{
	if (__hardware_enable_nolock())
		atomic_inc(&hardware_enable_failed);
}

static void hardware_disable_nolock(void *junk)
{
	if (!__this_cpu_read(hardware_enabled))
		return;
	static_call(kvm_x86_hardware_disable)();
	__this_cpu_write(hardware_enabled, false);
}

static int kvm_online_cpu(unsigned int cpu)
{
	int ret = 0;

	mutex_lock(&kvm_lock);
	if (kvm_usage_count)
		ret = __hardware_enable_nolock();
	mutex_unlock(&kvm_lock);
	return ret;
}

static int kvm_offline_cpu(unsigned int cpu)
{
	mutex_lock(&kvm_lock);
	if (kvm_usage_count)
		hardware_disable_nolock(NULL);
	mutex_unlock(&kvm_lock);
	return 0;
}

struct kvm *kvm_create_vm(unsigned long type)
{
	struct kvm *kvm = kvm_arch_alloc_vm();
	int r = 0;

	cpus_read_lock();
	mutex_lock(&kvm_lock);
	kvm_usage_count++;
	if (kvm_usage_count == 1) {
		atomic_set(&hardware_enable_failed, 0);
		on_each_cpu(hardware_enable_nolock, NULL, 1);
		if (atomic_read(&hardware_enable_failed)) {
			kvm_usage_count--;
			on_each_cpu(hardware_disable_nolock, NULL, 1);
			r = -EBUSY;
		}
	}
	mutex_unlock(&kvm_lock);
	cpus_read_unlock();
	if (r)
		return ERR_PTR(r);
	mutex_lock(&kvm_lock);
	list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	return kvm;
}

static int __init vmx_init(void)
{
	int r;

	r = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
				      kvm_online_cpu, kvm_offline_cpu);
	if (r)
		return r;
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
