// Runs the SDK's unit tests (tests/unit.ts, compiled by `npm test` to
// build/unit.wasm) under node's test runner: one test per exported test_*
// function, whose failures arrive through the weir.log import.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const bytes = readFileSync(new URL("../build/unit.wasm", import.meta.url));
let memory;
let logs = [];
const text = (p, n) => new TextDecoder().decode(new Uint8Array(memory.buffer, p, n));
const { instance } = await WebAssembly.instantiate(bytes, {
  weir: {
    log: (level, p, n) => logs.push(`[${level}] ${text(p, n)}`),
    error: (p, n) => logs.push(`[error] ${text(p, n)}`),
  },
});
memory = instance.exports.memory;
instance.exports._initialize();

const tests = Object.keys(instance.exports).filter((k) => k.startsWith("test_"));
assert.ok(tests.length >= 8, `only ${tests.length} test functions exported`);
for (const name of tests) {
  test(name.slice(5), () => {
    logs = [];
    const failures = instance.exports[name]();
    assert.equal(failures, 0, logs.join("\n"));
  });
}

test("weir_alloc alignment and weir_free", () => {
  const { weir_alloc, weir_free } = instance.exports;
  for (const align of [1, 2, 4, 8, 16, 32, 64]) {
    for (const size of [0, 1, 7, 100, 4096]) {
      const p = weir_alloc(size, align);
      assert.notEqual(p, 0, `weir_alloc(${size}, ${align})`);
      assert.equal(p % align, 0, `weir_alloc(${size}, ${align}) = ${p}`);
      new Uint8Array(memory.buffer, p, size).fill(0xee);
      weir_free(p, size, align);
    }
  }
  for (const [size, align] of [[8, 0], [8, 3], [8, 128], [0x7fffffff, 8]]) {
    assert.equal(weir_alloc(size, align), 0, `weir_alloc(${size}, ${align}) must refuse`);
  }
});
