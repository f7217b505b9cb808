;; hostile/wasi_sock.wat: weir_map tries the WASI socket calls on every fd 0..7 (stdio, and where
;; preopened sockets would be): sock_accept(fd, 0), sock_recv(fd, one 16-byte iovec, flags 0),
;; sock_send(fd, the same iovec, flags 0) and sock_shutdown(fd, RD|WR). If any call succeeds
;; (errno 0) it fails with weir.error("used a socket"); otherwise it returns a normal output:
;; one int64 per input row (column "y", no nulls), the bitwise OR of every errno it got.
;;
;; Expected host behaviour:
;;   weir_map SUCCEEDS and every y is 8 (EBADF): the sandbox has no preopened sockets and no fd
;;   is a socket, so every call is refused (SPEC 10). A failure "used a socket" means the
;;   sandbox gave the guest network access.
;;
;; The rest is the compact skeleton shared by every hostile module (derived from
;; ../minimal.wat) so that loading and opening succeed: weir_open accepts any function name
;; opened as a map (1) or a flatmap (2), over any input schema, and returns handle 1 and
;; the output schema "y: int64"; weir_plan returns a valid one-operator plan.
;; Build: wat2wasm wasi_sock.wat -o wasi_sock.wasm
(module
  (import "weir" "error" (func $weir_error (param i32 i32)))
  ;; HOSTILE imports: WASI sock_accept(fd, flags, result_fd) -> errno,
  ;;   sock_recv(fd, ri_data, ri_data_len, ri_flags, result_ro_datalen, result_ro_flags) -> errno,
  ;;   sock_send(fd, si_data, si_data_len, si_flags, result_so_datalen) -> errno,
  ;;   sock_shutdown(fd, how) -> errno
  (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_recv" (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_shutdown" (func $sock_shutdown (param i32 i32) (result i32)))
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

  ;; 1392 a result u32 (fd or data length), 1396 a result u16 (ro_flags), 1400 an iovec
  ;; {buf 1424, len 16}, 1424 the 16-byte buffer, 1464 the message.
  (data (i32.const 1424) "hello, host net!")
  (data (i32.const 1464) "used a socket")
  ;; $try folds one errno into $errs, or fails the call if it is 0 (the call succeeded).
  (global $errs (mut i32) (i32.const 0))
  (func $try (param $errno i32) (result i32)
    (global.set $errs (i32.or (global.get $errs) (local.get $errno)))
    (i32.eqz (local.get $errno)))
  ;; HOSTILE: try to accept, receive, send and shut down on every fd 0..7.
  (func (export "weir_map") (param $handle i32) (param $in i32) (param $ret i32) (result i32)
    (local $fd i32)
    (i32.store (i32.const 1400) (i32.const 1424))
    (i32.store offset=4 (i32.const 1400) (i32.const 16))
    (global.set $errs (i32.const 0))
    (loop $next_fd
      (if (i32.or (i32.or
            (call $try (call $sock_accept (local.get $fd) (i32.const 0) (i32.const 1392)))
            (call $try (call $sock_recv (local.get $fd) (i32.const 1400) (i32.const 1) (i32.const 0)
                                         (i32.const 1392) (i32.const 1396))))
          (i32.or
            (call $try (call $sock_send (local.get $fd) (i32.const 1400) (i32.const 1) (i32.const 0)
                                         (i32.const 1392)))
            (call $try (call $sock_shutdown (local.get $fd) (i32.const 3)))))
        (then
          (call $weir_error (i32.const 1464) (i32.const 13))
          (return (i32.const 1))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next_fd (i32.le_u (local.get $fd) (i32.const 7))))
    ;; every attempt was refused: behave normally, reporting the errnos
    (i32.store (local.get $ret) (call $errno_output (local.get $in) (i64.extend_i32_u (global.get $errs))))
    (i32.const 0))
  ;; A normal output: the input's row count of int64 v, no nulls.
  (func $errno_output (param $in i32) (param $v i64) (result i32)
    (local $rows i64) (local $values i32) (local $i i64)
    (local.set $rows (i64.load (local.get $in)))                 ;; input batch length
    (local.set $values (call $alloc (i32.wrap_i64 (i64.shl (local.get $rows) (i64.const 3))) (i32.const 8)))
    (block $done
      (loop $fill
        (br_if $done (i64.ge_u (local.get $i) (local.get $rows)))
        (i64.store (i32.add (local.get $values) (i32.wrap_i64 (i64.shl (local.get $i) (i64.const 3))))
                   (local.get $v))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $fill)))
    (i64.store (i32.const 1216) (local.get $rows))               ;; column length
    (i64.store offset=24 (i32.const 1216) (i64.const 2))         ;; n_buffers
    (i32.store offset=40 (i32.const 1216) (i32.const 1288))      ;; buffers
    (i32.store (i32.const 1288) (i32.const 0))                   ;; validity: none
    (i32.store offset=4 (i32.const 1288) (local.get $values))   ;; values
    (i64.store (i32.const 1152) (local.get $rows))               ;; batch length
    (i64.store offset=24 (i32.const 1152) (i64.const 1))         ;; n_buffers
    (i64.store offset=32 (i32.const 1152) (i64.const 1))         ;; n_children
    (i32.store offset=40 (i32.const 1152) (i32.const 1280))
    (i32.store offset=44 (i32.const 1152) (i32.const 1284))
    (i32.store (i32.const 1284) (i32.const 1216))
    (i32.const 1152))
)
