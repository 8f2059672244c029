// litmus: the per-CPU enable snapshots user-return MSRs only when irqs_disabled(): true in the IPI VM creation sends through on_each_cpu(), so the snapshot is still taken in interrupt context
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM013
// prelude: kvm-6.3
// use: decls vendor-ops hardware-nolock online-cpu offline-cpu create-vm

static int __hardware_enable_nolock(void)
{
	if (__this_cpu_read(hardware_enabled))
		return 0;
	if (irqs_disabled())
		kvm_user_return_msr_cpu_online();
	if (static_call(kvm_x86_hardware_enable)())
		return -EIO;
	__this_cpu_write(hardware_enabled, true);
	return 0;
}

static int __init vmx_init(void)
{
	int r;

	r = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
				      kvm_online_cpu, kvm_offline_cpu);
	if (r)
		return r;
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	cpuhp_remove_state_nocalls(CPUHP_AP_KVM_ONLINE);
	return r;
}
module_init(vmx_init);
