;; hostile/bad_offsets.wat: weir_map returns a 3-row utf8 column ("y: utf8", declared at open) whose offsets are
;; invalid. weir_open's params pick the defect:
;;   params "decreasing" (or empty params): offsets [0, 4, 2, 6]: offsets[2] < offsets[1]
;;   params "past_end": offsets [0, 2, 4, 0x7FFFFF00]: non-decreasing, but the last one is far past the end of memory
;;   params "negative": offsets [-8, 0, 2, 4]: the first offset is negative
;;   params "bad_utf8": offsets [0, 2, 4, 6] over data "ab\xff\xfeef": well-formed offsets, invalid UTF-8 in row 1
;; Any other params fail weir_open. Data is the 6 bytes "abcdef" ("ab\xff\xfeef" for
;; bad_utf8) at 1360; offsets are at 1344.
;;
;; Expected host behaviour:
;;   weir_map fails with an offsets error (decreasing / out of range / negative) or, for
;;   bad_utf8, an invalid-UTF-8 error (SPEC 4.4, 4.5); nothing is read out of bounds. The
;;   output always has 3 rows: open as a flatmap (kind 2), or as a map with a 3-row input.
;;
;; The rest is the compact skeleton shared by every hostile module (derived from
;; ../minimal.wat) so that loading and opening succeed: weir_open accepts any function name
;; opened as a map (1) or a flatmap (2), over any input schema, and returns handle 1 and
;; the output schema "y: utf8"; weir_plan returns a valid one-operator plan.
;; Build: wat2wasm bad_offsets.wat -o bad_offsets.wasm
(module
  (import "weir" "error" (func $weir_error (param i32 i32)))
  (memory (export "memory") 2)
  (func (export "weir_abi_v1"))

  ;; Constant strings. 16 "+s", 20 "l", 22 "u", 24 "y", 32 the kind error, 128 the plan.
  ;; Static structures: 1024 output ArrowSchema "+s", 1072 its column, 1120 [1]ptr children;
  ;; 1152 output ArrowArray "+s", 1216 its column, 1280 [1]ptr struct buffers,
  ;; 1284 [1]ptr children, 1288 [2]ptr column buffers. The heap starts at 4096.
  (data (i32.const 16) "+s\00")
  (data (i32.const 20) "l\00")
  (data (i32.const 22) "u\00")
  (data (i32.const 24) "y\00")
  (data (i32.const 32) "only map (1) and flatmap (2) are supported")
  (data (i32.const 128) "{\"weir_plan\": 1, \"name\": \"hostile\", \"nodes\": [{\"id\": \"src\", \"kind\": \"source\", \"connector\": \"sequence\"}, {\"id\": \"op\", \"kind\": \"map\", \"function\": \"hostile\", \"inputs\": [\"src\"]}, {\"id\": \"out\", \"kind\": \"sink\", \"connector\": \"file\", \"params\": {\"path\": \"out\", \"format\": \"jsonl\"}, \"inputs\": [\"op\"]}]}")

  ;; Bump allocator (see minimal.wat); weir_free does nothing.
  (global $heap (mut i32) (i32.const 4096))
  (func $alloc (export "weir_alloc") (param $size i32) (param $align i32) (result i32)
    (local $p i32) (local $end i32)
    (if (i32.eqz (local.get $align)) (then (local.set $align (i32.const 1))))
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $p) (local.get $size)))
    (if (i32.lt_u (local.get $end) (local.get $p)) (then (return (i32.const 0))))
    (if (i64.gt_u (i64.extend_i32_u (local.get $end)) (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
      (then
        (if (i32.eq (memory.grow (i32.wrap_i64 (i64.shr_u
                      (i64.sub (i64.add (i64.extend_i32_u (local.get $end)) (i64.const 65535))
                               (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
                      (i64.const 16))))
                    (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "weir_free") (param $ptr i32) (param $size i32) (param $align i32))

  ;; weir_plan: ret[0], ret[1] = the constant plan at 128.
  (func (export "weir_plan") (param $args i32) (param $args_len i32) (param $ret i32) (result i32)
    (i32.store (local.get $ret) (i32.const 128))
    (i32.store offset=4 (local.get $ret) (i32.const 291))
    (i32.const 0))

  ;; weir_open: any name, kind map or flatmap; ret[0] = handle 1, ret[1] = the output schema.
  (func (export "weir_open")
        (param $kind i32) (param $name i32) (param $name_len i32) (param $params i32)
        (param $params_len i32) (param $in_schema i32) (param $ret i32) (result i32)
    (if (i32.gt_u (i32.sub (local.get $kind) (i32.const 1)) (i32.const 1))
      (then (call $weir_error (i32.const 32) (i32.const 42)) (return (i32.const 1))))
    ;; HOSTILE setup: params choose the defect (see the header).
    (global.set $variant (call $pick_variant (local.get $params) (local.get $params_len)))
    (if (i32.lt_s (global.get $variant) (i32.const 0))
      (then (call $weir_error (i32.const 1472) (i32.const 70)) (return (i32.const 1))))
    (i32.store (i32.const 1024) (i32.const 16))               ;; format "+s"
    (i64.store offset=24 (i32.const 1024) (i64.const 1))      ;; n_children
    (i32.store offset=32 (i32.const 1024) (i32.const 1120))   ;; children
    (i32.store (i32.const 1120) (i32.const 1072))
    (i32.store (i32.const 1072) (i32.const 22))               ;; column format
    (i32.store offset=4 (i32.const 1072) (i32.const 24))      ;; column name "y"
    (i64.store offset=16 (i32.const 1072) (i64.const 2))      ;; nullable
    (i32.store (local.get $ret) (i32.const 1))
    (i32.store offset=4 (local.get $ret) (i32.const 1024))
    (i32.const 0))
  (func (export "weir_close") (param $handle i32) (result i32) (i32.const 0))

  ;; HOSTILE: a 3-row utf8 column with bad offsets (or bad UTF-8).
  (func (export "weir_map") (param $handle i32) (param $in i32) (param $ret i32) (result i32)
    ;; data: 6 bytes at 1360
    (i64.store (i32.const 1360) (i64.const 0x666564636261))     ;; "abcdef"
    (if (i32.eq (global.get $variant) (i32.const 3))
      (then (i32.store16 offset=2 (i32.const 1360) (i32.const 0xfeff))))  ;; "ab\xff\xfeef"
    ;; offsets: 4 x i32 at 1344
    (if (i32.eqz (global.get $variant))                          ;; decreasing
      (then (call $offsets (i32.const 0) (i32.const 4) (i32.const 2) (i32.const 6))))
    (if (i32.eq (global.get $variant) (i32.const 1))             ;; past_end
      (then (call $offsets (i32.const 0) (i32.const 2) (i32.const 4) (i32.const 0x7FFFFF00))))
    (if (i32.eq (global.get $variant) (i32.const 2))             ;; negative
      (then (call $offsets (i32.const -8) (i32.const 0) (i32.const 2) (i32.const 4))))
    (if (i32.eq (global.get $variant) (i32.const 3))             ;; bad_utf8
      (then (call $offsets (i32.const 0) (i32.const 2) (i32.const 4) (i32.const 6))))
    ;; column (1216): utf8, length 3, 3 buffers: validity none, offsets, data
    (i64.store (i32.const 1216) (i64.const 3))
    (i64.store offset=8 (i32.const 1216) (i64.const 0))
    (i64.store offset=24 (i32.const 1216) (i64.const 3))
    (i32.store offset=40 (i32.const 1216) (i32.const 1288))
    (i32.store (i32.const 1288) (i32.const 0))
    (i32.store offset=4 (i32.const 1288) (i32.const 1344))
    (i32.store offset=8 (i32.const 1288) (i32.const 1360))
    ;; batch (1152): length 3
    (i64.store (i32.const 1152) (i64.const 3))
    (i64.store offset=24 (i32.const 1152) (i64.const 1))
    (i64.store offset=32 (i32.const 1152) (i64.const 1))
    (i32.store offset=40 (i32.const 1152) (i32.const 1280))
    (i32.store offset=44 (i32.const 1152) (i32.const 1284))
    (i32.store (i32.const 1280) (i32.const 0))
    (i32.store (i32.const 1284) (i32.const 1216))
    (i32.store (local.get $ret) (i32.const 1152))
    (i32.const 0))

  ;; The variant names (1400, 1416, 1432, 1448) and the error for unknown params (1472).
  (data (i32.const 1400) "decreasing\00")
  (data (i32.const 1416) "past_end\00")
  (data (i32.const 1432) "negative\00")
  (data (i32.const 1448) "bad_utf8\00")
  (data (i32.const 1472) "bad_offsets: params must be decreasing, past_end, negative or bad_utf8")
  (global $variant (mut i32) (i32.const 0))

  (func $offsets (param i32 i32 i32 i32)
    (i32.store (i32.const 1344) (local.get 0))
    (i32.store offset=4 (i32.const 1344) (local.get 1))
    (i32.store offset=8 (i32.const 1344) (local.get 2))
    (i32.store offset=12 (i32.const 1344) (local.get 3)))

  ;; 0..3 for the variant named by params (empty = 0), -1 for anything else.
  (func $pick_variant (param $p i32) (param $len i32) (result i32)
    (local $v i32)
    (if (i32.eqz (local.get $len)) (then (return (i32.const 0))))
    (block $none
      (loop $next
        (br_if $none (i32.ge_u (local.get $v) (i32.const 4)))
        (if (call $equals (local.get $p) (local.get $len) (i32.add (i32.const 1400) (i32.shl (local.get $v) (i32.const 4))))
          (then (return (local.get $v))))
        (local.set $v (i32.add (local.get $v) (i32.const 1)))
        (br $next)))
    (i32.const -1))

  ;; 1 if the len bytes at a equal the NUL-terminated string at lit.
  (func $equals (param $a i32) (param $len i32) (param $lit i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $lit) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.eqz (i32.load8_u (i32.add (local.get $lit) (local.get $len)))))
)
