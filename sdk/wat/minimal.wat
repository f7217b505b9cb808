;; minimal.wat - the smallest Weir guest SDK: a job module in plain
;; WebAssembly text that speaks the guest ABI v1 (abi/SPEC.md) with one
;; operator, the `identity` map of SPEC section 11.1.
;;
;; Build:  wat2wasm sdk/wat/minimal.wat -o bin/sdk/minimal-wat.wasm
;;         (bash sdk/c/build.sh bin does it)
;; Check:  bin/weir abi check bin/sdk/minimal-wat.wasm
;;
;; docs/sdk-authors.md walks through this file section by section.
(module
  ;; ---- host imports (SPEC 6) ----------------------------------------------
  ;; weir.error(msg, len) sets the message of the current call's failure;
  ;; weir.log(level, msg, len) writes a line to the host's log.
  (import "weir" "error" (func $host_error (param i32 i32)))
  (import "weir" "log" (func $host_log (param i32 i32 i32)))

  ;; ---- memory (SPEC 3) ----------------------------------------------------
  ;; One exported 32-bit memory. Addresses 0..63 are never handed out (0 is
  ;; NULL); the constant data sits at 64..1023; the heap starts at 1024.
  (memory (export "memory") 1)

  ;; The plan (SPEC 7): a fixed document; the program arguments are ignored.
  (data (i32.const 64) "{\"weir_plan\":1,\"name\":\"minimal\",\"nodes\":[{\"id\":\"in\",\"kind\":\"source\",\"connector\":\"file\",\"params\":{\"path\":\"in.jsonl\",\"format\":\"jsonl\",\"schema\":\"x:int64\"}},{\"id\":\"identity\",\"kind\":\"map\",\"function\":\"identity\",\"inputs\":[\"in\"]},{\"id\":\"out\",\"kind\":\"sink\",\"connector\":\"file\",\"params\":{\"path\":\"out\",\"format\":\"jsonl\"},\"inputs\":[\"identity\"]}]}")
  (global $plan_len i32 (i32.const 332))

  ;; Messages.
  (data (i32.const 400) "function \"")                                  ;; 10 bytes
  (data (i32.const 416) "\" is not in this module (it has: identity)")  ;; 42 bytes
  (data (i32.const 464) "identity: registered as a map function, opened as another kind") ;; 62
  (data (i32.const 528) "unknown operator handle")                      ;; 23 bytes
  (data (i32.const 560) "identity: the input batch does not have the columns of its schema") ;; 65
  (data (i32.const 632) "out of memory")                                ;; 13 bytes
  (data (i32.const 648) "identity: open")                               ;; 14 bytes
  (data (i32.const 672) "identity")                                     ;; 8 bytes

  ;; The version marker (SPEC 2): exported, never called.
  (func (export "weir_abi_v1"))

  ;; ---- the allocator (SPEC 3) ----------------------------------------------
  ;; A bump allocator. weir_alloc returns `size` bytes aligned to `align`,
  ;; growing the memory as needed, or 0 when it cannot. weir_free gives back
  ;; only the most recent block; other blocks stay allocated. That is enough
  ;; here: the host keeps and reuses its input regions, and this module
  ;; allocates only when an operator is opened.
  (global $heap (mut i32) (i32.const 1024))

  (func $alloc (export "weir_alloc") (param $size i32) (param $align i32) (result i32)
    (local $p i64) (local $end i64) (local $pages i64)
    ;; align must be a power of two, at most 64
    (if (i32.or (i32.or (i32.eqz (local.get $align)) (i32.gt_u (local.get $align) (i32.const 64)))
                (i32.and (local.get $align) (i32.sub (local.get $align) (i32.const 1))))
      (then (return (i32.const 0))))
    ;; p = heap rounded up to align; end = p + max(size, 1), in 64 bits so
    ;; that nothing wraps
    (local.set $p (i64.and
      (i64.add (i64.extend_i32_u (global.get $heap)) (i64.extend_i32_u (i32.sub (local.get $align) (i32.const 1))))
      (i64.xor (i64.extend_i32_u (i32.sub (local.get $align) (i32.const 1))) (i64.const -1))))
    (local.set $end (i64.add (local.get $p)
      (i64.extend_i32_u (select (local.get $size) (i32.const 1) (local.get $size)))))
    (if (i64.gt_u (local.get $end) (i64.const 0xFFFFFFFF)) (then (return (i32.const 0))))
    ;; grow the memory if end is past it
    (local.set $pages (i64.sub
      (i64.shr_u (i64.add (local.get $end) (i64.const 0xFFFF)) (i64.const 16))
      (i64.extend_i32_u (memory.size))))
    (if (i64.gt_s (local.get $pages) (i64.const 0))
      (then
        (if (i32.eq (memory.grow (i32.wrap_i64 (local.get $pages))) (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (i32.wrap_i64 (local.get $end)))
    (i32.wrap_i64 (local.get $p)))

  (func (export "weir_free") (param $ptr i32) (param $size i32) (param $align i32)
    (if (i32.eq (i32.add (local.get $ptr) (select (local.get $size) (i32.const 1) (local.get $size)))
                (global.get $heap))
      (then (global.set $heap (local.get $ptr)))))

  ;; ---- the plan (SPEC 7) ---------------------------------------------------
  ;; ret[0] = pointer, ret[1] = length of the plan JSON.
  (func (export "weir_plan") (param $args i32) (param $args_len i32) (param $ret i32) (result i32)
    (i32.store offset=0 (local.get $ret) (i32.const 64))
    (i32.store offset=4 (local.get $ret) (global.get $plan_len))
    (i32.const 0))

  ;; ---- errors (SPEC 5) -----------------------------------------------------
  ;; $fail reports a message and returns status 1.
  (func $fail (param $msg i32) (param $len i32) (result i32)
    (call $host_error (local.get $msg) (local.get $len))
    (i32.const 1))

  ;; $unknown_function reports `function "NAME" is not in this module (it
  ;; has: identity)`, composed in freshly allocated memory.
  (func $unknown_function (param $name i32) (param $len i32) (result i32)
    (local $buf i32)
    (local.set $buf (call $alloc (i32.add (local.get $len) (i32.const 52)) (i32.const 1)))
    (if (i32.eqz (local.get $buf)) (then (return (call $fail (i32.const 632) (i32.const 13)))))
    (memory.copy (local.get $buf) (i32.const 400) (i32.const 10))
    (memory.copy (i32.add (local.get $buf) (i32.const 10)) (local.get $name) (local.get $len))
    (memory.copy (i32.add (local.get $buf) (i32.add (local.get $len) (i32.const 10))) (i32.const 416) (i32.const 42))
    (call $fail (local.get $buf) (i32.add (local.get $len) (i32.const 52))))

  ;; ---- open and close (SPEC 8) ---------------------------------------------
  ;; An operator is a 16-byte record, whose address is its handle:
  ;;   +0 magic 0x57454952 ("WEIR", cleared at close), +4 column count n,
  ;;   +8 the output schema, +12 the output batch structures.
  ;;
  ;; $copy_str copies the NUL-terminated string at $s into the heap.
  (func $copy_str (param $s i32) (result i32)
    (local $n i32) (local $d i32)
    (block $end (loop $scan
      (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $s) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $scan)))
    (local.set $d (call $alloc (i32.add (local.get $n) (i32.const 1)) (i32.const 1)))
    (if (local.get $d)
      (then (memory.copy (local.get $d) (local.get $s) (i32.add (local.get $n) (i32.const 1)))))
    (local.get $d))

  ;; $copy_schema copies the "+s" ArrowSchema at $in (48 bytes, SPEC 4.1) and
  ;; its n children into guest memory: the output schema of identity is its
  ;; input schema. Returns 0 when out of memory.
  (func $copy_schema (param $in i32) (param $n i32) (result i32)
    (local $out i32) (local $kids i32) (local $j i32) (local $src i32) (local $dst i32) (local $s i32)
    ;; parent, n children and the children pointer array in one block
    (local.set $out (call $alloc (i32.add (i32.mul (i32.add (local.get $n) (i32.const 1)) (i32.const 48))
                                          (i32.mul (local.get $n) (i32.const 4))) (i32.const 8)))
    (if (i32.eqz (local.get $out)) (then (return (i32.const 0))))
    (local.set $kids (i32.add (local.get $out) (i32.mul (i32.add (local.get $n) (i32.const 1)) (i32.const 48))))
    (memory.copy (local.get $out) (local.get $in) (i32.const 48))
    (local.set $s (call $copy_str (i32.load offset=0 (local.get $in))))         ;; format "+s"
    (if (i32.eqz (local.get $s)) (then (return (i32.const 0))))
    (i32.store offset=0 (local.get $out) (local.get $s))
    (i32.store offset=4 (local.get $out) (i32.const 0))                         ;; name
    (i32.store offset=32 (local.get $out) (select (local.get $kids) (i32.const 0) (local.get $n))) ;; children
    (block $done (loop $child
      (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $src (i32.load (i32.add (i32.load offset=32 (local.get $in)) (i32.mul (local.get $j) (i32.const 4)))))
      (local.set $dst (i32.add (local.get $out) (i32.mul (i32.add (local.get $j) (i32.const 1)) (i32.const 48))))
      (memory.copy (local.get $dst) (local.get $src) (i32.const 48))            ;; flags come along
      (local.set $s (call $copy_str (i32.load offset=0 (local.get $src))))      ;; format
      (if (i32.eqz (local.get $s)) (then (return (i32.const 0))))
      (i32.store offset=0 (local.get $dst) (local.get $s))
      (local.set $s (call $copy_str (i32.load offset=4 (local.get $src))))      ;; name
      (if (i32.eqz (local.get $s)) (then (return (i32.const 0))))
      (i32.store offset=4 (local.get $dst) (local.get $s))
      (i32.store (i32.add (local.get $kids) (i32.mul (local.get $j) (i32.const 4))) (local.get $dst))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $child)))
    (local.get $out))

  ;; $new_batch allocates the output struct array: the parent ArrowArray (64
  ;; bytes, SPEC 4.1) with its one (NULL) buffer pointer, n child ArrowArrays,
  ;; the children pointer array and three buffer pointers per child. The
  ;; fields that never change are set here, once.
  (func $new_batch (param $n i32) (result i32)
    (local $p i32) (local $kids i32) (local $ptrs i32) (local $bufs i32) (local $j i32) (local $kid i32)
    (local.set $p (call $alloc (i32.add (i32.mul (local.get $n) (i32.const 80)) (i32.const 72)) (i32.const 8)))
    (if (i32.eqz (local.get $p)) (then (return (i32.const 0))))
    (memory.fill (local.get $p) (i32.const 0) (i32.add (i32.mul (local.get $n) (i32.const 80)) (i32.const 72)))
    (local.set $kids (i32.add (local.get $p) (i32.const 64)))                             ;; n × 64
    (local.set $ptrs (i32.add (local.get $kids) (i32.mul (local.get $n) (i32.const 64)))) ;; n × 4
    (local.set $bufs (i32.add (local.get $ptrs) (i32.mul (local.get $n) (i32.const 4))))  ;; 4 + n × 12
    (i64.store offset=24 (local.get $p) (i64.const 1))                    ;; n_buffers (validity)
    (i64.store offset=32 (local.get $p) (i64.extend_i32_u (local.get $n))) ;; n_children
    (i32.store offset=40 (local.get $p) (local.get $bufs))                ;; buffers -> [NULL]
    (i32.store offset=44 (local.get $p) (select (local.get $ptrs) (i32.const 0) (local.get $n)))
    (block $done (loop $child
      (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $kid (i32.add (local.get $kids) (i32.mul (local.get $j) (i32.const 64))))
      (i32.store (i32.add (local.get $ptrs) (i32.mul (local.get $j) (i32.const 4))) (local.get $kid))
      (i32.store offset=40 (local.get $kid)                               ;; its buffer pointers
        (i32.add (i32.add (local.get $bufs) (i32.const 4)) (i32.mul (local.get $j) (i32.const 12))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $child)))
    (local.get $p))

  ;; weir_open(kind, name, name_len, params, params_len, in_schema, ret):
  ;; ret[0] = handle, ret[1] = output schema.
  (func (export "weir_open")
        (param $kind i32) (param $name i32) (param $name_len i32) (param $params i32)
        (param $params_len i32) (param $in_schema i32) (param $ret i32) (result i32)
    (local $op i32) (local $n i32)
    ;; the only function is "identity", a map (kind 1)
    (if (i32.ne (local.get $name_len) (i32.const 8))
      (then (return (call $unknown_function (local.get $name) (local.get $name_len)))))
    (if (i64.ne (i64.load (local.get $name)) (i64.load (i32.const 672)))  ;; 8 bytes: "identity"
      (then (return (call $unknown_function (local.get $name) (local.get $name_len)))))
    (if (i32.ne (local.get $kind) (i32.const 1))
      (then (return (call $fail (i32.const 464) (i32.const 62)))))
    (call $host_log (i32.const 0) (i32.const 648) (i32.const 14))  ;; debug: "identity: open"
    (local.set $n (i32.wrap_i64 (i64.load offset=24 (local.get $in_schema))))  ;; n_children
    (local.set $op (call $alloc (i32.const 16) (i32.const 8)))
    (if (i32.eqz (local.get $op)) (then (return (call $fail (i32.const 632) (i32.const 13)))))
    (i32.store offset=0 (local.get $op) (i32.const 0x57454952))
    (i32.store offset=4 (local.get $op) (local.get $n))
    (i32.store offset=8 (local.get $op) (call $copy_schema (local.get $in_schema) (local.get $n)))
    (i32.store offset=12 (local.get $op) (call $new_batch (local.get $n)))
    (if (i32.or (i32.eqz (i32.load offset=8 (local.get $op))) (i32.eqz (i32.load offset=12 (local.get $op))))
      (then (return (call $fail (i32.const 632) (i32.const 13)))))
    (i32.store offset=0 (local.get $ret) (local.get $op))
    (i32.store offset=4 (local.get $ret) (i32.load offset=8 (local.get $op)))
    (i32.const 0))

  ;; $check returns 1 if $h is the handle of an open operator.
  (func $check (param $h i32) (result i32)
    (if (i32.or (i32.lt_u (local.get $h) (i32.const 1024))
                (i32.gt_u (i32.add (local.get $h) (i32.const 16)) (global.get $heap)))
      (then (return (i32.const 0))))
    (i32.eq (i32.load (local.get $h)) (i32.const 0x57454952)))

  (func (export "weir_close") (param $h i32) (result i32)
    (if (i32.eqz (call $check (local.get $h)))
      (then (return (call $fail (i32.const 528) (i32.const 23)))))
    (i32.store (local.get $h) (i32.const 0))
    (i32.const 0))

  ;; ---- the map (SPEC 9.1) --------------------------------------------------
  ;; weir_map(handle, in, ret): ret[0] = the output batch. identity returns
  ;; its input: each output child copies the input child's length,
  ;; null_count, offset and n_buffers (bytes 0..31) and its buffer pointers,
  ;; which keep pointing at the input's buffers: SPEC 3 lets an output buffer
  ;; point into the call's own inputs. Only the structures are the guest's.
  (func (export "weir_map") (param $h i32) (param $in i32) (param $ret i32) (result i32)
    (local $n i32) (local $out i32) (local $j i32) (local $src i32) (local $dst i32)
    (if (i32.eqz (call $check (local.get $h)))
      (then (return (call $fail (i32.const 528) (i32.const 23)))))
    (local.set $n (i32.load offset=4 (local.get $h)))
    (local.set $out (i32.load offset=12 (local.get $h)))
    (if (i64.ne (i64.load offset=32 (local.get $in)) (i64.extend_i32_u (local.get $n)))
      (then (return (call $fail (i32.const 560) (i32.const 65)))))
    (i64.store offset=0 (local.get $out) (i64.load offset=0 (local.get $in)))  ;; length: the row count
    (block $done (loop $child
      (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $src (i32.load (i32.add (i32.load offset=44 (local.get $in)) (i32.mul (local.get $j) (i32.const 4)))))
      (local.set $dst (i32.load (i32.add (i32.load offset=44 (local.get $out)) (i32.mul (local.get $j) (i32.const 4)))))
      (memory.copy (local.get $dst) (local.get $src) (i32.const 32))
      ;; n_buffers is 2, or 3 for utf8/binary; never copy more than 3 pointers
      (memory.copy (i32.load offset=40 (local.get $dst)) (i32.load offset=40 (local.get $src))
                   (select (i32.const 12) (i32.const 8) (i64.gt_u (i64.load offset=24 (local.get $src)) (i64.const 2))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $child)))
    (i32.store (local.get $ret) (local.get $out))
    (i32.const 0))
)
