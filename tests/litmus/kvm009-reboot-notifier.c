// litmus: virtualization is turned off from a reboot notifier, which runs before system_state changes: a VM created in between passes the system_state check and enables again
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM009
// system: reboot
static DEFINE_MUTEX(kvm_lock);
static DEFINE_MUTEX(kvm_usage_lock);
static int kvm_usage_count;
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

static int kvm_online_cpu(unsigned int cpu)
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

static int kvm_offline_cpu(unsigned int cpu)
{
	kvm_disable_virtualization_cpu(NULL);
	return 0;
}

static int kvm_reboot(struct notifier_block *nb, unsigned long val, void *v)
{
	on_each_cpu(kvm_disable_virtualization_cpu, NULL, 1);
	return NOTIFY_OK;
}

static struct notifier_block kvm_reboot_notifier = {
	.notifier_call = kvm_reboot,
};

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

static int __init vmx_init(void)
{
	register_reboot_notifier(&kvm_reboot_notifier);
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
