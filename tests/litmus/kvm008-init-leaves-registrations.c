// litmus: module init registers its syscore ops and a debugfs directory, then /dev/kvm; when misc_register() fails, the error path returns without undoing either (Linux 6.1's and 6.12's kvm_init() leave the debugfs directory)
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM008
// system: reboot
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
	return r;
}
module_init(vmx_init);
