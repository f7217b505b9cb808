;; No export section and no global section: the work happens in the start
;; function, which reports through an imported host function.
(module
  (import "env" "report" (func $report (param i32 i32)))
  (func $main
    (local $i i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $i))))
      (call $report (local.get $i) (local.get $s))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 10)))))
  (start $main)
)
