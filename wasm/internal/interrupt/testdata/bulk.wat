;; Bulk memory (0xfc 8..11), table ops (0xfc 12..17, table.get/set),
;; reference types, typed select, saturating truncation (0xfc 0..7) and
;; sign extension ops, inside loops. Has a data count section and passive
;; data and element segments.
(module
  (memory (export "memory") 1)
  (table $t 4 funcref)
  (table $u 2 externref)
  (data $d "weir-interrupt-bulk-data")
  (elem $e func $a $b)
  (global $count (export "count") (mut i32) (i32.const 0))

  (func $a (result i32) (i32.const 11))
  (func $b (result i32) (i32.const 22))

  (func (export "bulk") (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (memory.fill (i32.const 0) (i32.const 0xAB) (i32.const 256))
    (loop $l
      (memory.init $d (i32.mul (local.get $i) (i32.const 32)) (i32.const 0) (i32.const 24))
      (memory.copy (i32.add (i32.const 4096) (local.get $i)) (i32.mul (local.get $i) (i32.const 32)) (i32.const 8))
      (local.set $s (i32.add (local.get $s) (i32.load8_s (i32.add (i32.const 4096) (local.get $i)))))
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (data.drop $d)
    (i32.add (local.get $s) (i32.load (i32.const 4096))))

  (func (export "tables") (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 2))
    (elem.drop $e)
    (table.copy $t $t (i32.const 2) (i32.const 0) (i32.const 2))
    (drop (table.grow $t (ref.null func) (i32.const 2)))
    (table.fill $t (i32.const 4) (ref.func $b) (i32.const 2))
    (table.set $u (i32.const 0) (ref.null extern))
    (loop $l
      (if (i32.eqz (ref.is_null (table.get $t (local.get $i))))
        (then (local.set $s (i32.add (local.get $s)
          (call_indirect $t (result i32) (local.get $i))))))
      (local.set $s (i32.add (local.get $s) (ref.is_null (table.get $u (i32.const 0)))))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (table.size $t))))
    (i32.add (local.get $s)
      (i32.mul (local.get $n)
        (ref.is_null (select (result funcref) (ref.null func) (ref.func $a) (local.get $n))))))

  (func (export "convert") (param $x f64) (param $n i32) (result i64)
    (local $i i32) (local $r i64)
    (loop $l
      (local.set $r (i64.add (local.get $r) (i64.trunc_sat_f64_s (local.get $x))))
      (local.set $r (i64.add (local.get $r) (i64.extend_i32_s (i32.trunc_sat_f64_u (local.get $x)))))
      (local.set $r (i64.add (local.get $r) (i64.extend_i32_s (i32.extend8_s (local.get $i)))))
      (local.set $r (i64.add (local.get $r) (i64.extend16_s (i64.const 0xfff0))))
      (local.set $r (i64.add (local.get $r) (i64.trunc_sat_f32_u (f32.demote_f64 (local.get $x)))))
      (local.set $x (f64.mul (local.get $x) (f64.const -1.5)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $r))
)
