// litmus: the per-CPU enable snapshots user-return MSRs, and runs only as a cpuhp callback (cpuhp_setup_state() by the first VM): thread context, never IPI
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// twin: kvm013-uret-snapshot-in-ipi
// prelude: kvm-6.12
// use: decls vendor-ops offline-cpu create-vm destroy-vm

static int kvm_online_cpu(unsigned int cpu)
{
	if (__this_cpu_read(virtualization_enabled))
		return 0;
	kvm_user_return_msr_cpu_online();
	if (kvm_x86_call(enable_virtualization_cpu)())
		return -EIO;
	__this_cpu_write(virtualization_enabled, true);
	return 0;
}

static int __init vmx_init(void)
{
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
