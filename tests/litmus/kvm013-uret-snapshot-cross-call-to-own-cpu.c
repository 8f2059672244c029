// litmus: module init, on CPU0, sends the user-return MSR snapshot to CPU0 with smp_call_function_single(): the kernel runs it there directly (IRQs off, no interrupt), so nothing else's state is snapshotted
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// system: none
// twin: kvm013-uret-snapshot-cross-call-to-other-cpu
// prelude: kvm-6.3
// use: decls

static void kvm_uret_snapshot(void *ign)
{
	kvm_user_return_msr_cpu_online();
}

static int __init vmx_init(void)
{
	smp_call_function_single(0, kvm_uret_snapshot, NULL, 1);
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
