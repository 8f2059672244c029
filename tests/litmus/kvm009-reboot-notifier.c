// litmus: virtualization is turned off from a reboot notifier, which runs before system_state changes: a VM created in between passes the system_state check and enables again
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM009
// system: reboot
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu disable-virtualization-cpu create-vm-restart-check

static int kvm_reboot(struct notifier_block *nb, unsigned long val, void *v)
{
	on_each_cpu(kvm_disable_virtualization_cpu, NULL, 1);
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
