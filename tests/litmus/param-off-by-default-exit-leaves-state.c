// litmus: as its twin, but module exit forgets the feature's cpuhp state: with x=1 at load, its callbacks outlive the module; a model that kept the parameter at its default (off) would never run that code and call it clean
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// cpuhp: CPUHP_AP_ONLINE_DYN ONLINE
// expect: KVM012
// system: unload
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu create-vm-enables enable-virtualization disable-virtualization

static bool enable_x;
module_param_named(x, enable_x, bool, 0444);

static int x_state;

static int x_online_cpu(unsigned int cpu)
{
	return 0;
}

static int __init vmx_init(void)
{
	int r;

	if (enable_x) {
		r = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "kvm/x:online", x_online_cpu, NULL);
		if (r < 0)
			return r;
		x_state = r;
	}
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	if (enable_x)
		cpuhp_remove_state(x_state);
	return r;
}
module_init(vmx_init);

static void __exit vmx_exit(void)
{
	misc_deregister(&kvm_dev);
}
module_exit(vmx_exit);
