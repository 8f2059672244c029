// litmus: the same module init, whose error path after a failed misc_register() removes the debugfs directory and unregisters the syscore ops
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// system: reboot
// twin: kvm008-init-leaves-registrations
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu disable-virtualization-cpu syscore-shutdown create-vm-restart-check

static struct dentry *kvm_debugfs_dir;

static int __init vmx_init(void)
{
	int r;

	register_syscore_ops(&kvm_syscore_ops);
	kvm_debugfs_dir = debugfs_create_dir("kvm", NULL);
	r = misc_register(&kvm_dev);
	if (r)
		goto err_register;
	return 0;

err_register:
	debugfs_remove_recursive(kvm_debugfs_dir);
	unregister_syscore_ops(&kvm_syscore_ops);
	return r;
}
module_init(vmx_init);
