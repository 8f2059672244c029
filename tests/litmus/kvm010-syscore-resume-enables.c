// litmus: syscore .suspend turns virtualization off on the boot CPU and .resume turns it back on
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// system: suspend
// twin: kvm010-syscore-no-resume
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu syscore-suspend

static void kvm_resume(void)
{
	WARN_ON_ONCE(kvm_online_cpu(0));
}

static struct syscore_ops kvm_syscore_ops = {
	.suspend = kvm_suspend,
	.resume = kvm_resume,
};

static int __init vmx_init(void)
{
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
