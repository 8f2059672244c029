; File-scope variable declarations (for counters, flags and ops-table types).
(translation_unit (declaration) @declaration)
