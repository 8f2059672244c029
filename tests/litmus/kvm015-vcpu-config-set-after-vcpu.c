// litmus: seed 003's shape: vCPU creation reads kvm->arch.max_vcpu_ids (it bounds the vCPU IDs, and per-VM tables indexed by them are sized from it), and KVM_ENABLE_CAP(KVM_CAP_MAX_VCPU_ID) sets it at any time, even once vCPUs exist: a vCPU created under the old bound outlives the new one
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM015
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu enable-virtualization disable-virtualization create-vm destroy-vm

static int kvm_arch_vcpu_precreate(struct kvm *kvm, unsigned int id)
{
	if (!kvm->arch.max_vcpu_ids)
		kvm->arch.max_vcpu_ids = KVM_MAX_VCPU_IDS;
	if (id >= kvm->arch.max_vcpu_ids)
		return -EINVAL;
	return 0;
}

static int kvm_vm_ioctl_create_vcpu(struct kvm *kvm, unsigned long id)
{
	int r;

	mutex_lock(&kvm->lock);
	r = kvm_arch_vcpu_precreate(kvm, id);
	if (r) {
		mutex_unlock(&kvm->lock);
		return r;
	}
	kvm->created_vcpus++;
	mutex_unlock(&kvm->lock);
	return 0;
}

static int kvm_vm_ioctl_enable_cap(struct kvm *kvm, struct kvm_enable_cap *cap)
{
	int r;

	switch (cap->cap) {
	case KVM_CAP_MAX_VCPU_ID:
		r = -EINVAL;
		if (cap->args[0] <= KVM_MAX_VCPU_IDS) {
			kvm->arch.max_vcpu_ids = cap->args[0];
			r = 0;
		}
		break;
	default:
		r = -EINVAL;
		break;
	}
	return r;
}

static long kvm_vm_ioctl(struct file *filp, unsigned int ioctl, unsigned long arg)
{
	struct kvm *kvm = filp->private_data;
	void __user *argp = (void __user *)arg;
	struct kvm_enable_cap cap;
	int r;

	switch (ioctl) {
	case KVM_CREATE_VCPU:
		r = kvm_vm_ioctl_create_vcpu(kvm, arg);
		break;
	case KVM_ENABLE_CAP:
		r = -EFAULT;
		if (copy_from_user(&cap, argp, sizeof(cap)))
			break;
		r = kvm_vm_ioctl_enable_cap(kvm, &cap);
		break;
	default:
		r = -ENOTTY;
	}
	return r;
}

static int __init vmx_init(void)
{
	return misc_register(&kvm_dev);
}
module_init(vmx_init);

static void __exit vmx_exit(void)
{
	misc_deregister(&kvm_dev);
}
module_exit(vmx_exit);
