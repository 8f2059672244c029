// litmus: virtualization is turned off from a syscore .shutdown callback, which runs after system_state changes: a VM created concurrently either enables before it or sees SYSTEM_RESTART and backs out
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// system: reboot
// twin: kvm009-reboot-notifier
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu disable-virtualization-cpu create-vm-restart-check

static void kvm_shutdown(void)
{
	on_each_cpu(kvm_disable_virtualization_cpu, NULL, 1);
}

static struct syscore_ops kvm_syscore_ops = {
	.shutdown = kvm_shutdown,
};

static int __init vmx_init(void)
{
	int r;

	register_syscore_ops(&kvm_syscore_ops);
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	unregister_syscore_ops(&kvm_syscore_ops);
	return r;
}
module_init(vmx_init);
