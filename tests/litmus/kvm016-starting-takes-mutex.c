// litmus: a STARTING callback takes a mutex: it runs on the CPU coming up with IRQs off, where nothing may sleep
// cpuhp: CPUHP_AP_KVM_STARTING STARTING
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM016
// prelude: kvm-6.1
// use: decls vendor-ops enable-this-cpu disable create-vm

static DEFINE_MUTEX(kvm_lock);

static int kvm_starting_cpu(unsigned int cpu)
{
	mutex_lock(&kvm_lock);
	kvm_usage_count = kvm_usage_count;	/* some bookkeeping under the lock */
	mutex_unlock(&kvm_lock);
	return 0;
}

static int kvm_online_cpu(unsigned int cpu)
{
	int r = 0;

	raw_spin_lock(&kvm_count_lock);
	if (kvm_usage_count)
		r = enable_this_cpu(NULL);
	raw_spin_unlock(&kvm_count_lock);
	return r;
}

static int __init vmx_init(void)
{
	int r;

	cpuhp_setup_state_nocalls(CPUHP_AP_KVM_STARTING, "kvm/cpu:starting",
				  kvm_starting_cpu, NULL);
	cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
				  kvm_online_cpu, kvm_dying_cpu);
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	cpuhp_remove_state_nocalls(CPUHP_AP_KVM_ONLINE);
	cpuhp_remove_state_nocalls(CPUHP_AP_KVM_STARTING);
	return r;
}
module_init(vmx_init);
