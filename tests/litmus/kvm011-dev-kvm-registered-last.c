// litmus: /dev/kvm is registered as the very last step of module init, after the syscore ops
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// system: reboot
// twin: kvm011-dev-kvm-registered-early
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu disable-virtualization-cpu syscore-shutdown create-vm-restart-check

static int __init vmx_init(void)
{
	int r;

	register_syscore_ops(&kvm_syscore_ops);
	r = misc_register(&kvm_dev);
	if (r)
		unregister_syscore_ops(&kvm_syscore_ops);
	return r;
}
module_init(vmx_init);
