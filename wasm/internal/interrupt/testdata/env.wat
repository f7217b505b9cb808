;; Provider of the imports of imports.wat, instantiated as module "env".
(module
  (global (export "base") i32 (i32.const 100))
  (global (export "scale") (mut i64) (i64.const 3))
  (memory (export "mem") 1)
  (func (export "add") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1))))
