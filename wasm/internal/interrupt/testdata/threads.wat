;; Threads (needs experimental.CoreFeaturesThreads): shared memory and 0xfe
;; atomics, including atomic.fence, in a loop.
(module
  (memory (export "memory") 1 1 shared)
  (func (export "atomics") (param $n i32) (result i32)
    (local $i i32)
    (loop $l
      (drop (i32.atomic.rmw.add (i32.const 0) (local.get $i)))
      (i64.atomic.store offset=8 (i32.const 0) (i64.extend_i32_u (local.get $i)))
      (drop (i32.atomic.rmw8.cmpxchg_u (i32.const 16) (i32.const 0) (i32.const 7)))
      (atomic.fence)
      (drop (memory.atomic.notify (i32.const 0) (i32.const 0)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (i32.add (i32.atomic.load (i32.const 0))
      (i32.add (i32.wrap_i64 (i64.atomic.load offset=8 (i32.const 0))) (i32.atomic.load8_u (i32.const 16)))))
)
