;; sandbox_probe.wat: reports what the sandbox gives a guest. Built on the hostile skeleton
;; (see hostile/wasi_fs.wat): weir_open accepts any name as a map over any input and declares
;; the output "y: int64". weir_map (input of at least 3 rows) returns
;;   y[0] realtime clock in ns, y[1] monotonic clock in ns, y[2] 8 bytes of random_get,
;; and writes one line to stdout and one through weir.log, so the host's tests can check the
;; fake clocks, the seeded randomness and the capture of guest output (SPEC 6, 10).
;; Build: wat2wasm sandbox_probe.wat -o sandbox_probe.wasm
(module
  (import "weir" "error" (func $weir_error (param i32 i32)))
  (import "weir" "log" (func $weir_log (param i32 i32 i32)))
  ;; WASI clock_time_get(clock_id, precision, result_ptr) -> errno
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  ;; WASI random_get(buf, len) -> errno
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  ;; WASI fd_write(fd, iovs, iovs_len, nwritten_ptr) -> errno
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
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

  (data (i32.const 1540) "probe stdout\n")  ;; 13 bytes
  (data (i32.const 1560) "probe: hello")    ;; 12 bytes
  ;; weir_map: the output (one int64 per input row, at least 3 rows) holds
  ;;   y[0] = realtime clock (ns), y[1] = monotonic clock (ns), y[2] = 8 random bytes;
  ;; it also writes "probe stdout" to fd 1 and logs "probe: hello" at level 1 (info).
  (func (export "weir_map") (param $handle i32) (param $in i32) (param $ret i32) (result i32)
    (local $out i32) (local $vals i32)
    (if (i64.lt_u (i64.load (local.get $in)) (i64.const 3))
      (then (call $weir_error (i32.const 1560) (i32.const 5)) (return (i32.const 1))))
    (local.set $out (call $zeros_output (local.get $in)))
    (local.set $vals (i32.load offset=4 (i32.const 1288)))
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (local.get $vals)))
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.add (local.get $vals) (i32.const 8))))
    (drop (call $random_get (i32.add (local.get $vals) (i32.const 16)) (i32.const 8)))
    (i32.store (i32.const 1520) (i32.const 1540))  ;; iov.buf
    (i32.store (i32.const 1524) (i32.const 13))    ;; iov.len
    (drop (call $fd_write (i32.const 1) (i32.const 1520) (i32.const 1) (i32.const 1530)))
    (call $weir_log (i32.const 1) (i32.const 1560) (i32.const 12))
    (i32.store (local.get $ret) (local.get $out))
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
