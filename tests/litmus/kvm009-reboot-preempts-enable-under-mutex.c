// litmus: on one CPU, VM creation tests a flag the reboot notifier sets before it disables, then enables, under a mutex: the reboot task can preempt it between the test and the enable, and its disable comes first
// expect: KVM009
// system: reboot
// cpus: 1
// prelude: kvm-6.3
// use: decls vendor-ops enable-nolock

static DEFINE_PER_CPU(bool, reboot_seen);

static void hardware_disable_nolock(void *junk)
{
	if (!__this_cpu_read(hardware_enabled))
		return;
	static_call(kvm_x86_hardware_disable)();
	__this_cpu_write(hardware_enabled, false);
}

struct kvm *kvm_create_vm(unsigned long type)
{
	int r = -EBUSY;

	mutex_lock(&kvm_lock);
	if (!__this_cpu_read(reboot_seen))
		r = __hardware_enable_nolock();
	if (!r)
		list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	if (r)
		return ERR_PTR(r);
	return kvm;
}

static int kvm_reboot(struct notifier_block *nb, unsigned long val, void *v)
{
	__this_cpu_write(reboot_seen, true);
	hardware_disable_nolock(NULL);
	return NOTIFY_OK;
}

static struct notifier_block kvm_reboot_notifier = {
	.notifier_call = kvm_reboot,
};

static int __init vmx_init(void)
{
	int r;

	register_reboot_notifier(&kvm_reboot_notifier);
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	unregister_reboot_notifier(&kvm_reboot_notifier);
	return r;
}
module_init(vmx_init);
