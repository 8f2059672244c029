; Function definitions at any depth (tree-sitter may nest them in ERROR nodes).
(function_definition
  declarator: (_) @declarator
  body: (compound_statement) @body) @function
