;; Control flow: nested loops, blocks, if/else, br_table, direct and indirect
;; calls, recursion, memory ops, select, and multi-value blocks and loops with
;; type-index block types.
(module
  (type $binop (func (param i32 i32) (result i32 i32)))
  (type $i2i (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (table 2 funcref)
  (elem (i32.const 0) $double $negate)

  (func $double (type $i2i) (i32.mul (local.get 0) (i32.const 2)))
  (func $negate (type $i2i) (i32.sub (i32.const 0) (local.get 0)))

  ;; sum_{i<n} sum_{j<i} (i*j mod 7), nested loops with br_if exits.
  (func (export "nested") (param $n i32) (result i64)
    (local $i i32) (local $j i32) (local $s i64)
    (block $done_i
      (loop $li
        (br_if $done_i (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $done_j
          (loop $lj
            (br_if $done_j (i32.ge_u (local.get $j) (local.get $i)))
            (local.set $s (i64.add (local.get $s)
              (i64.extend_i32_u (i32.rem_u (i32.mul (local.get $i) (local.get $j)) (i32.const 7)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $lj)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $li)))
    (local.get $s))

  ;; br_table dispatch inside a loop, if/else and select.
  (func (export "classify") (param $x i32) (result i32)
    (local $acc i32) (local $k i32)
    (loop $l
      (block $d (block $c (block $b (block $a
        (br_table $a $b $c $d (i32.rem_u (local.get $k) (i32.const 4))))
        (local.set $acc (i32.add (local.get $acc) (local.get $x))) (br $d))
        (local.set $acc (i32.xor (local.get $acc) (i32.const 0x55))) (br $d))
        (if (i32.and (local.get $acc) (i32.const 1))
          (then (local.set $acc (i32.shr_u (local.get $acc) (i32.const 1))))
          (else (local.set $acc (i32.add (local.get $acc) (i32.const 3))))))
      (local.set $acc (select (local.get $acc) (i32.const 1) (local.get $acc)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 37))))
    (local.get $acc))

  ;; Recursion without loops: only the function entry check applies.
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  ;; call_indirect in a loop.
  (func (export "indirect") (param $x i32) (param $times i32) (result i32)
    (loop $l
      (local.set $x (call_indirect (type $i2i) (local.get $x)
        (i32.and (local.get $times) (i32.const 1))))
      (local.tee $times (i32.sub (local.get $times) (i32.const 1)))
      (br_if $l))
    (local.get $x))

  ;; Memory: write i*i to n words, read them back and checksum.
  (func (export "memsum") (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (loop $w
      (i32.store offset=16 (i32.shl (local.get $i) (i32.const 2)) (i32.mul (local.get $i) (local.get $i)))
      (i32.store8 (local.get $i) (local.get $i))
      (br_if $w (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.set $i (i32.const 0))
    (loop $r
      (local.set $s (i32.add (local.get $s)
        (i32.add (i32.load offset=16 (i32.shl (local.get $i) (i32.const 2)))
                 (i32.load8_u (local.get $i)))))
      (br_if $r (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (i32.add (local.get $s) (memory.size)))

  ;; Multi-value: a block and a loop whose block types are type indices
  ;; ($binop: [i32 i32] -> [i32 i32]); the loop carries its params around.
  ;; Computes gcd(a, b) and a step count.
  (func (export "gcd") (param $a i32) (param $b i32) (result i32 i32)
    (local $steps i32)
    (local.get $a) (local.get $b)
    (block $out (type $binop) (param i32 i32) (result i32 i32)
      (loop $l (type $binop) (param i32 i32) (result i32 i32)
        (local.set $b) (local.set $a)
        (if (i32.eqz (local.get $b))
          (then (local.get $a) (local.get $steps) (br $out)))
        (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
        (local.get $b) (i32.rem_u (local.get $a) (local.get $b))
        (br $l)))
    )

  ;; Never returns.
  (func (export "spin")
    (loop $l (br $l)))

  ;; Never returns; calls a function every iteration.
  (func (export "spin_call") (result i32)
    (local $x i32)
    (loop $l
      (local.set $x (call $double (local.get $x)))
      (br $l))
    (unreachable))
)
