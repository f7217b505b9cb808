;; hostile/table_grow.wat: a one-element table without a maximum, grown by 100M elements
;; (800 MB of host memory) in weir_map.
;;
;; Expected host behaviour:
;;   The host gives every table without a maximum its minimum as maximum, so table.grow returns
;;   -1 (as the core spec allows) and the guest reports "table.grow refused" as a guest error.
;;
;; The rest is the skeleton of plan_loop.wat, with a normal plan.
;; Build: wat2wasm table_grow.wat -o table_grow.wasm
(module
  (import "weir" "error" (func $weir_error (param i32 i32)))
  (memory (export "memory") 2)
  ;; HOSTILE: a small table without a maximum, grown by 100M elements in weir_map.
  (table $t 1 funcref)
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
  (data (i32.const 80) "table.grow refused")
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
    (i32.store (i32.const 1024) (i32.const 16))               ;; format "+s"
    (i64.store offset=24 (i32.const 1024) (i64.const 1))      ;; n_children
    (i32.store offset=32 (i32.const 1024) (i32.const 1120))   ;; children
    (i32.store (i32.const 1120) (i32.const 1072))
    (i32.store (i32.const 1072) (i32.const 20))               ;; column format
    (i32.store offset=4 (i32.const 1072) (i32.const 24))      ;; column name "y"
    (i64.store offset=16 (i32.const 1072) (i64.const 2))      ;; nullable
    (i32.store (local.get $ret) (i32.const 1))
    (i32.store offset=4 (local.get $ret) (i32.const 1024))
    (i32.const 0))
  (func (export "weir_close") (param $handle i32) (result i32) (i32.const 0))

  ;; weir_map: a normal, valid output (the hostile part is elsewhere).
  (func (export "weir_map") (param $handle i32) (param $in i32) (param $ret i32) (result i32)
    (if (i32.eq (table.grow $t (ref.null func) (i32.const 100000000)) (i32.const -1))
      (then (call $weir_error (i32.const 80) (i32.const 18)) (return (i32.const 1))))
    (table.fill $t (i32.const 0) (ref.null func) (i32.const 100000001))
    (i32.store (local.get $ret) (call $zeros_output (local.get $in)))
    (i32.const 0))
  ;; A normal output: the input's row count of int64 zeros, no nulls. Fresh heap memory from the
  ;; bump allocator is zeroed, so only the structures need writing.
  (func $zeros_output (param $in i32) (result i32)
    (local $rows i64)
    (local.set $rows (i64.load (local.get $in)))                 ;; input batch length
    (i64.store (i32.const 1216) (local.get $rows))               ;; column length
    (i64.store offset=24 (i32.const 1216) (i64.const 2))         ;; n_buffers
    (i32.store offset=40 (i32.const 1216) (i32.const 1288))      ;; buffers
    (i32.store (i32.const 1288) (i32.const 0))                   ;; validity: none
    (i32.store offset=4 (i32.const 1288)                         ;; values
      (call $alloc (i32.wrap_i64 (i64.shl (local.get $rows) (i64.const 3))) (i32.const 8)))
    (i64.store (i32.const 1152) (local.get $rows))               ;; batch length
    (i64.store offset=24 (i32.const 1152) (i64.const 1))         ;; n_buffers
    (i64.store offset=32 (i32.const 1152) (i64.const 1))         ;; n_children
    (i32.store offset=40 (i32.const 1152) (i32.const 1280))
    (i32.store offset=44 (i32.const 1152) (i32.const 1284))
    (i32.store (i32.const 1284) (i32.const 1216))
    (i32.const 1152))
)
