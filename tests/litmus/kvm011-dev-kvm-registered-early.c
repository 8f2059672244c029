// litmus: /dev/kvm is registered before the syscore ops (pre-6.3 kvm_init order): userspace can create VMs against a half-initialized KVM
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM011
// system: reboot
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu disable-virtualization-cpu syscore-shutdown create-vm-restart-check

static int __init vmx_init(void)
{
	int r;

	r = misc_register(&kvm_dev);
	if (r)
		return r;
	register_syscore_ops(&kvm_syscore_ops);
	return 0;
}
module_init(vmx_init);
