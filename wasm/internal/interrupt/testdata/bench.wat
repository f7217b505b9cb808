;; Benchmark kernels: sum n 8-byte values starting at address p. One loop
;; iteration per element, as in a per-row loop over a batch.
(module
  (memory (export "memory") 9) ;; 64K * 8 bytes = 8 pages, plus one
  (func (export "sum_i64") (param $p i32) (param $n i32) (result i64)
    (local $s i64) (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (loop $l
        (local.set $s (i64.add (local.get $s) (i64.load (local.get $p))))
        (br_if $l (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 8))) (local.get $end)))))
    (local.get $s))
  (func (export "sum_f64") (param $p i32) (param $n i32) (result f64)
    (local $s f64) (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (loop $l
        (local.set $s (f64.add (local.get $s) (f64.load (local.get $p))))
        (br_if $l (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 8))) (local.get $end)))))
    (local.get $s))
)
