;; Imported globals (so the flag's index is 2 imported + 2 defined = 4), an
;; imported function and an imported memory; exports its own globals.
(module
  (import "env" "base" (global $base i32))
  (import "env" "scale" (global $scale (mut i64)))
  (import "env" "add" (func $add (param i64 i64) (result i64)))
  (import "env" "mem" (memory 1))
  (global $calls (export "calls") (mut i32) (i32.const 0))
  (global $k (export "k") i64 (i64.const 5))

  (func (export "run") (param $n i32) (result i64)
    (local $i i32) (local $r i64)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (loop $l
      (local.set $r (call $add (local.get $r)
        (i64.mul (global.get $scale) (i64.extend_i32_u (i32.add (global.get $base) (local.get $i))))))
      (global.set $scale (i64.add (global.get $scale) (global.get $k)))
      (i64.store (i32.shl (local.get $i) (i32.const 3)) (local.get $r))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $r))

  (func (export "spin")
    (loop $l (global.set $calls (i32.add (global.get $calls) (i32.const 1))) (br $l)))
)
