;; SIMD: loads/stores with memarg, lane ops, v128.const, shuffle, and
;; sub-opcodes >= 0x80 (two-byte LEB encodings) inside loops.
(module
  (memory (export "memory") 1)
  (global $g (mut v128) (v128.const i32x4 0 0 0 0))

  ;; Sum n i32 values starting at address 0, four lanes at a time.
  (func (export "vsum") (param $n i32) (result i32)
    (local $p i32) (local $acc v128) (local $end i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $acc (v128.const i32x4 0 0 0 0))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $acc (i32x4.add (local.get $acc) (v128.load align=4 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
      (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))

  ;; Fill n i32 values with i*3+1 using lane replacement, splat and stores.
  (func (export "vfill") (param $n i32)
    (local $i i32) (local $v v128)
    (loop $l
      (local.set $v (i32x4.splat (i32.add (i32.mul (local.get $i) (i32.const 3)) (i32.const 1))))
      (local.set $v (i32x4.replace_lane 1 (local.get $v) (i32.const 0)))
      (v128.store32_lane offset=0 0 (i32.shl (local.get $i) (i32.const 2)) (local.get $v))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))

  ;; Shuffle, i64x2.eq (0xfd 0xd6 0x01), i32x4.dot_i16x8_s (0xfd 0xba 0x01),
  ;; f64x2.convert_low_i32x4_u (0xfd 0xff 0x01), bitselect, any_true,
  ;; load lane, load splat, load zero, extend loads and the v128 global.
  (func (export "vmisc") (param $k i32) (result i64)
    (local $v v128) (local $w v128) (local $i i32) (local $r i64)
    (v128.store (i32.const 1024) (v128.const i8x16 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16))
    (loop $l
      (local.set $v (v128.load (i32.const 1024)))
      (local.set $w (i8x16.shuffle 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0 (local.get $v) (local.get $v)))
      (local.set $w (v128.load8_lane 3 (i32.const 1027) (local.get $w)))
      (local.set $v (v128.bitselect (local.get $v) (local.get $w)
                      (i64x2.eq (local.get $v) (local.get $w))))
      (local.set $v (i32x4.add (local.get $v) (i32x4.dot_i16x8_s (local.get $w) (v128.load16_splat (i32.const 1026)))))
      (local.set $v (i32x4.add (local.get $v) (i16x8.extend_low_i8x16_s (v128.load32_zero (i32.const 1028)))))
      (local.set $v (i32x4.add (local.get $v) (v128.load8x8_u (i32.const 1024))))
      (local.set $r (i64.add (local.get $r) (i64x2.extract_lane 0 (local.get $v))))
      (local.set $r (i64.add (local.get $r)
        (i64.trunc_f64_s (f64x2.extract_lane 1 (f64x2.convert_low_i32x4_u (local.get $w))))))
      (global.set $g (i8x16.add (global.get $g) (local.get $v)))
      (if (v128.any_true (local.get $v))
        (then (local.set $r (i64.add (local.get $r) (i64.const 1)))))
      (v128.store (i32.const 1024) (local.get $v))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $k))))
    (i64.add (local.get $r) (i64x2.extract_lane 1 (global.get $g))))

  ;; Never returns; SIMD work in the loop.
  (func (export "spin")
    (local $v v128)
    (loop $l
      (local.set $v (i32x4.add (local.get $v) (v128.const i32x4 1 1 1 1)))
      (br $l)))
)
