;; Tail calls (needs experimental.CoreFeaturesTailCall): loops expressed as
;; self tail calls contain no loop instruction, so only the function entry
;; check can stop them.
(module
  (type $t (func (param i64 i64) (result i64)))
  (table 1 funcref)
  (elem (i32.const 0) $count)
  (func $count (export "count") (param $n i64) (param $acc i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (local.get $acc))
      (else (return_call $count (i64.sub (local.get $n) (i64.const 1))
                                (i64.add (local.get $acc) (local.get $n))))))
  (func (export "count_indirect") (param $n i64) (param $acc i64) (result i64)
    (return_call_indirect (type $t) (local.get $n) (local.get $acc) (i32.const 0)))
  ;; Never returns and never grows the stack.
  (func $spin (export "spin") (param $x i64) (result i64)
    (return_call $spin (i64.add (local.get $x) (i64.const 1))))
)
