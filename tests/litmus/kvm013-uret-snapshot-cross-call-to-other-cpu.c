// litmus: module init sends the user-return MSR snapshot to CPU1 with smp_call_function_single(): on CPU1 it runs in IPI context
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM013
// system: none
// prelude: kvm-6.3
// use: decls

static void kvm_uret_snapshot(void *ign)
{
	kvm_user_return_msr_cpu_online();
}

static int __init vmx_init(void)
{
	smp_call_function_single(1, kvm_uret_snapshot, NULL, 1);
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
