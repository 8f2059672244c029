; File-scope macro statements: module_init(vmx_init); module_exit(vmx_exit);
(translation_unit
  (expression_statement
    (call_expression
      function: (identifier) @name
      arguments: (argument_list) @args)) @statement)
