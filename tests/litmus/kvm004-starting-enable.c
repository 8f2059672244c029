// litmus: the per-CPU enable runs in a STARTING callback, which can't fail
// cpuhp: CPUHP_AP_KVM_STARTING STARTING
// expect: KVM004 KVM001
// prelude: kvm-6.1
// use: decls vendor-ops disable create-vm

static void enable_this_cpu(void *ign)
{
	if (__this_cpu_read(hardware_enabled))
		return;
	if (static_call(kvm_x86_hardware_enable)()) {
		atomic_inc(&hardware_enable_failed);
		return;
	}
	__this_cpu_write(hardware_enabled, true);
}

static int kvm_starting_cpu(unsigned int cpu)
{
	raw_spin_lock(&kvm_count_lock);
	if (kvm_usage_count)
		enable_this_cpu(NULL);
	raw_spin_unlock(&kvm_count_lock);
	return 0;
}

static int __init vmx_init(void)
{
	int r;

	r = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_STARTING, "kvm/cpu:starting",
				      kvm_starting_cpu, kvm_dying_cpu);
	if (r)
		return r;
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	cpuhp_remove_state_nocalls(CPUHP_AP_KVM_STARTING);
	return r;
}
module_init(vmx_init);
