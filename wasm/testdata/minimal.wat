;; minimal.wat: the smallest complete Weir guest (ABI v1, see abi/SPEC.md), written by hand.
;;
;; It registers two map functions over a single int64 column:
;;   identity_i64  output = the input column, same name, same type, same nulls
;;   add_one_i64   output column "y: int64" = x + 1; null stays null
;; and its plan (weir_plan) is: source "sequence" -> map add_one_i64 -> sink "file".
;;
;; It imports only weir.error and weir.log (no WASI) and needs no language runtime: everything
;; an SDK must do is spelled out below. Build: wat2wasm minimal.wat -o minimal.wasm (./build.sh).
;;
;; Linear memory map (pointer 0 is NULL, so nothing useful lives at address 0):
;;     16 ..  1023  constant strings (data segments below), all NUL-terminated
;;   1024 ..  1151  the output schema returned by weir_open (two ArrowSchema + a child list)
;;   1152 ..  1311  the output batch returned by weir_map (two ArrowArray + buffer/child lists)
;;   1312 ..  1327  two scratch-buffer slots {ptr, capacity} for output buffers
;;   4096 ..        the heap of the bump allocator (weir_alloc); grows the memory on demand
;;
;; Ownership (SPEC section 3): memory handed out by weir_alloc belongs to the host until it calls
;; weir_free. Everything this module returns (plan text, schema, output batch) lives in memory the
;; module owns and is reused on the next call, which the SPEC allows: the host copies what it
;; needs before calling any other export. Output buffers are copied, never borrowed from the
;; input: input buffers belong to the host.
(module
  ;; ---------------------------------------------------------------- host imports (SPEC 6)
  ;; weir.error(msg, len): set the error message of the current call (then return status 1).
  (import "weir" "error" (func $weir_error (param i32 i32)))
  ;; weir.log(level, msg, len): 0 debug, 1 info, 2 warn, 3 error.
  (import "weir" "log" (func $weir_log (param i32 i32 i32)))

  ;; ---------------------------------------------------------------- memory and version
  ;; One 32-bit memory, exported as "memory". 2 pages = 128 KiB to start; no maximum: the host
  ;; enforces its own memory limit and memory.grow then returns -1.
  (memory (export "memory") 2)

  ;; The ABI version marker. It is never called; its name is what matters.
  (func (export "weir_abi_v1"))

  ;; ---------------------------------------------------------------- constants
  ;; Fixed addresses (see the memory map above).
  (global $OUT_SCHEMA          i32 (i32.const 1024)) ;; ArrowSchema "+s" (the output batch)
  (global $OUT_SCHEMA_COL      i32 (i32.const 1072)) ;; ArrowSchema of its only column
  (global $OUT_SCHEMA_CHILDREN i32 (i32.const 1120)) ;; [1]ptr -> OUT_SCHEMA_COL
  (global $OUT_BATCH           i32 (i32.const 1152)) ;; ArrowArray "+s"
  (global $OUT_COL             i32 (i32.const 1216)) ;; ArrowArray of the column
  (global $OUT_BATCH_BUFFERS   i32 (i32.const 1280)) ;; [1]ptr: struct validity, always NULL
  (global $OUT_BATCH_CHILDREN  i32 (i32.const 1284)) ;; [1]ptr -> OUT_COL
  (global $OUT_COL_BUFFERS     i32 (i32.const 1288)) ;; [2]ptr: validity, values
  (global $SLOT_VALUES         i32 (i32.const 1312)) ;; {ptr, cap} of the output values buffer
  (global $SLOT_VALIDITY       i32 (i32.const 1320)) ;; {ptr, cap} of the output validity bitmap

  ;; Operator handles (any non-zero u32 will do). The two functions keep no per-operator state,
  ;; so every open of the same function returns the same handle.
  (global $H_IDENTITY i32 (i32.const 1))
  (global $H_ADD_ONE  i32 (i32.const 2))

  ;; Constant strings, all NUL-terminated; lengths are computed with $strlen.
  (global $FMT_STRUCT i32 (i32.const 16))   (data (i32.const 16) "+s\00")
  (global $FMT_INT64  i32 (i32.const 20))   (data (i32.const 20) "l\00")
  (global $NAME_Y     i32 (i32.const 24))   (data (i32.const 24) "y\00")
  (global $FN_IDENTITY i32 (i32.const 32))  (data (i32.const 32) "identity_i64\00")
  (global $FN_ADD_ONE  i32 (i32.const 48))  (data (i32.const 48) "add_one_i64\00")
  (global $MSG_UNKNOWN i32 (i32.const 64))
  (data (i32.const 64) ": no such function (this module has identity_i64 and add_one_i64)\00")
  (global $MSG_NOT_MAP i32 (i32.const 160))
  (data (i32.const 160) ": is a map function (kind 1) and cannot be opened as another kind\00")
  (global $MSG_BAD_INPUT i32 (i32.const 256))
  (data (i32.const 256) ": the input must be exactly one int64 column\00")
  (global $MSG_BAD_HANDLE i32 (i32.const 320))
  (data (i32.const 320) "unknown operator handle\00")
  (global $MSG_NO_MEMORY i32 (i32.const 368))
  (data (i32.const 368) "out of memory\00")

  ;; The plan (SPEC 7), returned verbatim by weir_plan.
  (global $PLAN i32 (i32.const 512))
  (data (i32.const 512)
    "{\"weir_plan\": 1, \"name\": \"minimal\", \"nodes\": ["
    "{\"id\": \"numbers\", \"kind\": \"source\", \"connector\": \"sequence\"}, "
    "{\"id\": \"plus_one\", \"kind\": \"map\", \"function\": \"add_one_i64\", \"inputs\": [\"numbers\"]}, "
    "{\"id\": \"out\", \"kind\": \"sink\", \"connector\": \"file\", "
    "\"params\": {\"path\": \"out\", \"format\": \"jsonl\"}, \"inputs\": [\"plus_one\"]}"
    "]}\00")

  ;; ---------------------------------------------------------------- allocation (SPEC 3)
  ;; The next free heap byte. Memory is never reclaimed: a bump allocator is enough because
  ;; the host keeps and reuses the regions it allocates, and this module reuses its own
  ;; output buffers ($scratch).
  (global $heap (mut i32) (i32.const 4096))

  ;; weir_alloc(size, align) -> ptr, or 0 if memory cannot grow. align is a power of two <= 64.
  (func $alloc (export "weir_alloc") (param $size i32) (param $align i32) (result i32)
    (local $p i32)
    (local $end i32)
    (if (i32.eqz (local.get $align)) (then (local.set $align (i32.const 1))))
    ;; p = heap rounded up to a multiple of align
    (local.set $p
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $p) (local.get $size)))
    ;; wrapped around the 32-bit address space: cannot allocate
    (if (i32.lt_u (local.get $end) (local.get $p)) (then (return (i32.const 0))))
    ;; grow the memory if end lies past it (compared in 64 bits: 4 GiB does not fit an i32)
    (if (i64.gt_u (i64.extend_i32_u (local.get $end))
                  (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
      (then
        (if (i32.eq
              (memory.grow
                ;; pages needed = ceil((end - current size) / 64 KiB)
                (i32.wrap_i64
                  (i64.shr_u
                    (i64.sub
                      (i64.add (i64.extend_i32_u (local.get $end)) (i64.const 65535))
                      (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
                    (i64.const 16))))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    ;; size 0: p is still a valid, non-zero, aligned pointer (the heap starts at 4096)
    (local.get $p))

  ;; weir_free(ptr, size, align): a bump allocator cannot free; doing nothing is allowed.
  (func (export "weir_free") (param $ptr i32) (param $size i32) (param $align i32))

  ;; A reusable output buffer: slot is {ptr, capacity}. Returns a buffer of at least size
  ;; bytes, allocating a bigger one only when needed. Returns 0 for size 0 before any
  ;; allocation (a NULL buffer is allowed for 0 rows), and 0 when out of memory.
  (func $scratch (param $slot i32) (param $size i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (local.get $size) (i32.load offset=4 (local.get $slot)))
      (then
        (local.set $p (call $alloc (local.get $size) (i32.const 8)))
        (if (i32.eqz (local.get $p)) (then (return (i32.const 0))))
        (i32.store (local.get $slot) (local.get $p))
        (i32.store offset=4 (local.get $slot) (local.get $size))))
    (i32.load (local.get $slot)))

  ;; ---------------------------------------------------------------- small string helpers
  ;; Length of the NUL-terminated string at p.
  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; 1 if the len bytes at a equal the NUL-terminated string lit, else 0.
  (func $equals (param $a i32) (param $len i32) (param $lit i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $len) (call $strlen (local.get $lit))) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $lit) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; Report "<name><msg>" through weir.error and return status 1 (SPEC 5). The message names
  ;; the function, as SPEC 8 requires for open errors.
  (func $fail_named (param $name i32) (param $name_len i32) (param $msg i32) (result i32)
    (local $msg_len i32)
    (local $buf i32)
    (local.set $msg_len (call $strlen (local.get $msg)))
    (local.set $buf (call $alloc (i32.add (local.get $name_len) (local.get $msg_len)) (i32.const 1)))
    (if (i32.eqz (local.get $buf))
      (then (call $weir_error (local.get $msg) (local.get $msg_len)) (return (i32.const 1))))
    (memory.copy (local.get $buf) (local.get $name) (local.get $name_len))
    (memory.copy (i32.add (local.get $buf) (local.get $name_len)) (local.get $msg) (local.get $msg_len))
    (call $weir_error (local.get $buf) (i32.add (local.get $name_len) (local.get $msg_len)))
    (i32.const 1))

  ;; Report a constant NUL-terminated message and return status 1.
  (func $fail (param $msg i32) (result i32)
    (call $weir_error (local.get $msg) (call $strlen (local.get $msg)))
    (i32.const 1))

  ;; ---------------------------------------------------------------- the plan (SPEC 7)
  ;; weir_plan(args, args_len, ret): this plan takes no arguments. ret[0] = ptr, ret[1] = len.
  (func (export "weir_plan") (param $args i32) (param $args_len i32) (param $ret i32) (result i32)
    (i32.store (local.get $ret) (global.get $PLAN))
    (i32.store offset=4 (local.get $ret) (call $strlen (global.get $PLAN)))
    (i32.const 0))

  ;; ---------------------------------------------------------------- operators (SPEC 8)
  ;; weir_open(kind, name, name_len, params, params_len, in_schema, ret)
  ;; ret[0] = handle, ret[1] = output schema (a "+s" ArrowSchema with one child).
  (func (export "weir_open")
        (param $kind i32) (param $name i32) (param $name_len i32)
        (param $params i32) (param $params_len i32) (param $in_schema i32) (param $ret i32)
        (result i32)
    (local $handle i32)
    (local $col i32)      ;; the input column's ArrowSchema
    (local $fmt i32)
    (local $col_name i32)
    (local $len i32)

    (call $weir_log (i32.const 0) (local.get $name) (local.get $name_len)) ;; debug: what opens

    ;; 1. Which function? An unknown name fails with a message naming it.
    (if (call $equals (local.get $name) (local.get $name_len) (global.get $FN_IDENTITY))
      (then (local.set $handle (global.get $H_IDENTITY))))
    (if (call $equals (local.get $name) (local.get $name_len) (global.get $FN_ADD_ONE))
      (then (local.set $handle (global.get $H_ADD_ONE))))
    (if (i32.eqz (local.get $handle))
      (then (return (call $fail_named (local.get $name) (local.get $name_len) (global.get $MSG_UNKNOWN)))))

    ;; 2. Both are map functions (kind 1); another kind fails, naming the function.
    (if (i32.ne (local.get $kind) (i32.const 1))
      (then (return (call $fail_named (local.get $name) (local.get $name_len) (global.get $MSG_NOT_MAP)))))

    ;; 3. Validate the input schema now rather than at the first batch: exactly one child
    ;;    (n_children, i64 at offset 24) whose format (offset 0) is "l" (int64).
    (if (i64.ne (i64.load offset=24 (local.get $in_schema)) (i64.const 1))
      (then (return (call $fail_named (local.get $name) (local.get $name_len) (global.get $MSG_BAD_INPUT)))))
    (local.set $col (i32.load (i32.load offset=32 (local.get $in_schema)))) ;; children[0]
    (local.set $fmt (i32.load (local.get $col)))
    (if (i32.or (i32.ne (i32.load8_u (local.get $fmt)) (i32.const 0x6c))         ;; 'l'
                (i32.ne (i32.load8_u offset=1 (local.get $fmt)) (i32.const 0)))  ;; then NUL
      (then (return (call $fail_named (local.get $name) (local.get $name_len) (global.get $MSG_BAD_INPUT)))))

    ;; 4. The output schema. The batch: format "+s", one child, flags 0.
    (i32.store          (global.get $OUT_SCHEMA) (global.get $FMT_STRUCT))  ;; format
    (i32.store offset=4 (global.get $OUT_SCHEMA) (i32.const 0))             ;; name: none
    (i64.store offset=16 (global.get $OUT_SCHEMA) (i64.const 0))            ;; flags
    (i64.store offset=24 (global.get $OUT_SCHEMA) (i64.const 1))            ;; n_children
    (i32.store offset=32 (global.get $OUT_SCHEMA) (global.get $OUT_SCHEMA_CHILDREN))
    (i32.store (global.get $OUT_SCHEMA_CHILDREN) (global.get $OUT_SCHEMA_COL))
    ;; The column: format "l", no children. metadata, dictionary, release and private_data
    ;; stay 0 (memory starts zeroed and nothing else writes there).
    (i32.store          (global.get $OUT_SCHEMA_COL) (global.get $FMT_INT64))
    (i64.store offset=24 (global.get $OUT_SCHEMA_COL) (i64.const 0))        ;; n_children
    (i32.store offset=32 (global.get $OUT_SCHEMA_COL) (i32.const 0))        ;; children
    (if (i32.eq (local.get $handle) (global.get $H_IDENTITY))
      (then
        ;; identity_i64: same name and flags as the input column. The name is copied: the
        ;; input schema belongs to the host.
        (local.set $col_name (i32.load offset=4 (local.get $col)))
        (local.set $len (i32.add (call $strlen (local.get $col_name)) (i32.const 1))) ;; with NUL
        (local.set $fmt (call $alloc (local.get $len) (i32.const 1)))                ;; reuse $fmt
        (if (i32.eqz (local.get $fmt)) (then (return (call $fail (global.get $MSG_NO_MEMORY)))))
        (memory.copy (local.get $fmt) (local.get $col_name) (local.get $len))
        (i32.store offset=4 (global.get $OUT_SCHEMA_COL) (local.get $fmt))
        (i64.store offset=16 (global.get $OUT_SCHEMA_COL) (i64.load offset=16 (local.get $col))))
      (else
        ;; add_one_i64: "y", nullable (flags 2)
        (i32.store offset=4 (global.get $OUT_SCHEMA_COL) (global.get $NAME_Y))
        (i64.store offset=16 (global.get $OUT_SCHEMA_COL) (i64.const 2))))

    (i32.store (local.get $ret) (local.get $handle))
    (i32.store offset=4 (local.get $ret) (global.get $OUT_SCHEMA))
    (i32.const 0))

  ;; weir_close(handle): nothing to release.
  (func (export "weir_close") (param $handle i32) (result i32)
    (i32.const 0))

  ;; ---------------------------------------------------------------- map (SPEC 9.1)
  ;; weir_map(handle, in, ret): ret[0] = the output batch, one row per input row.
  ;; Row i of the input column is element (offset + i) of its buffers (SPEC 4.2, 4.4). The
  ;; output column keeps the same offset, so the validity bitmap can be copied byte by byte.
  (func (export "weir_map") (param $handle i32) (param $in i32) (param $ret i32) (result i32)
    (local $add i64)      ;; 0 for identity_i64, 1 for add_one_i64
    (local $rows i32)     ;; rows in the batch
    (local $col i32)      ;; the input column's ArrowArray
    (local $off i32)      ;; its offset, in elements
    (local $validity i32) ;; its validity bitmap, or 0 = no nulls
    (local $values i32)   ;; its int64 values
    (local $out_validity i32)
    (local $out_values i32)
    (local $nbytes i32)
    (local $i i32)
    (local $end i32)

    (if (i32.eq (local.get $handle) (global.get $H_IDENTITY))
      (then (local.set $add (i64.const 0)))
      (else
        (if (i32.eq (local.get $handle) (global.get $H_ADD_ONE))
          (then (local.set $add (i64.const 1)))
          (else (return (call $fail (global.get $MSG_BAD_HANDLE)))))))

    ;; The input: ArrowArray "+s" (length at 0, children at 44) -> children[0].
    (local.set $rows (i32.wrap_i64 (i64.load (local.get $in))))
    (local.set $col (i32.load (i32.load offset=44 (local.get $in))))
    (local.set $off (i32.wrap_i64 (i64.load offset=16 (local.get $col))))
    (local.set $validity (i32.load (i32.load offset=40 (local.get $col))))           ;; buffers[0]
    (local.set $values (i32.load offset=4 (i32.load offset=40 (local.get $col))))    ;; buffers[1]
    (local.set $end (i32.add (local.get $off) (local.get $rows)))

    ;; Values: out[k] = in[k] + add for k in off .. off+rows. Under a null slot the value is
    ;; unspecified; adding to it is harmless (i64 arithmetic wraps, it never traps).
    (local.set $out_values (call $scratch (global.get $SLOT_VALUES) (i32.shl (local.get $end) (i32.const 3))))
    (if (i32.and (i32.eqz (local.get $out_values)) (i32.ne (local.get $end) (i32.const 0)))
      (then (return (call $fail (global.get $MSG_NO_MEMORY)))))
    (local.set $i (local.get $off))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (i64.store
          (i32.add (local.get $out_values) (i32.shl (local.get $i) (i32.const 3)))
          (i64.add
            (i64.load (i32.add (local.get $values) (i32.shl (local.get $i) (i32.const 3))))
            (local.get $add)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))

    ;; Validity: NULL in means no nulls, so NULL out. Otherwise copy the ceil(end/8) bytes that
    ;; hold bits 0 .. end-1: bit off+i is row i, in the input and in the output alike.
    (if (local.get $validity)
      (then
        (local.set $nbytes (i32.shr_u (i32.add (local.get $end) (i32.const 7)) (i32.const 3)))
        (local.set $out_validity (call $scratch (global.get $SLOT_VALIDITY) (local.get $nbytes)))
        (if (i32.and (i32.eqz (local.get $out_validity)) (i32.ne (local.get $nbytes) (i32.const 0)))
          (then (return (call $fail (global.get $MSG_NO_MEMORY)))))
        (memory.copy (local.get $out_validity) (local.get $validity) (local.get $nbytes))))

    ;; The output column: ArrowArray with 2 buffers and no children.
    (i64.store           (global.get $OUT_COL) (i64.extend_i32_u (local.get $rows))) ;; length
    (i64.store offset=8  (global.get $OUT_COL)                                      ;; null_count:
      (select (i64.const -1) (i64.const 0) (local.get $out_validity)))              ;; -1 = host counts
    (i64.store offset=16 (global.get $OUT_COL) (i64.extend_i32_u (local.get $off)))  ;; offset
    (i64.store offset=24 (global.get $OUT_COL) (i64.const 2))                       ;; n_buffers
    (i64.store offset=32 (global.get $OUT_COL) (i64.const 0))                       ;; n_children
    (i32.store offset=40 (global.get $OUT_COL) (global.get $OUT_COL_BUFFERS))
    (i32.store offset=44 (global.get $OUT_COL) (i32.const 0))                       ;; children
    (i32.store          (global.get $OUT_COL_BUFFERS) (local.get $out_validity))
    (i32.store offset=4 (global.get $OUT_COL_BUFFERS) (local.get $out_values))

    ;; The output batch: struct array, one NULL validity buffer, null_count 0, offset 0.
    (i64.store           (global.get $OUT_BATCH) (i64.extend_i32_u (local.get $rows))) ;; length
    (i64.store offset=8  (global.get $OUT_BATCH) (i64.const 0))                       ;; null_count
    (i64.store offset=16 (global.get $OUT_BATCH) (i64.const 0))                       ;; offset
    (i64.store offset=24 (global.get $OUT_BATCH) (i64.const 1))                       ;; n_buffers
    (i64.store offset=32 (global.get $OUT_BATCH) (i64.const 1))                       ;; n_children
    (i32.store offset=40 (global.get $OUT_BATCH) (global.get $OUT_BATCH_BUFFERS))
    (i32.store offset=44 (global.get $OUT_BATCH) (global.get $OUT_BATCH_CHILDREN))
    (i32.store (global.get $OUT_BATCH_BUFFERS) (i32.const 0))
    (i32.store (global.get $OUT_BATCH_CHILDREN) (global.get $OUT_COL))

    (i32.store (local.get $ret) (global.get $OUT_BATCH))
    (i32.const 0))
)
