// litmus: syscore .suspend turns virtualization off on the boot CPU but there is no .resume: the boot CPU comes back from suspend without VMX while a VM exists
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM010 KVM001
// system: suspend
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu syscore-suspend

static struct syscore_ops kvm_syscore_ops = {
	.suspend = kvm_suspend,
};

static int __init vmx_init(void)
{
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
