; File-scope struct initializers with designated fields:
;   static struct kvm_x86_ops vmx_x86_ops __initdata = { .hardware_enable = ..., };
(translation_unit
  (declaration
    type: (struct_specifier name: (type_identifier) @struct)
    declarator: (init_declarator
      declarator: (_) @name
      value: (initializer_list) @init)) @table)
