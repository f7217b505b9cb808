// Unit tests of the SDK's pure parts, run by tests/sdk.test.mjs under node:
// each exported test_* function checks a table of cases, reports every
// failure through weir.log (level 3) and returns the number of failures.

import {
  Builder, DataType, FlagSet, Plan, Schema, Selection, TypeId, countSet, copyBits, params, parseF64, parseI64,
  quote, takeError, Bitmap, logAt, Level,
} from "../assembly/index";

export * from "../assembly/exports";

let failures = 0;

function check(ok: bool, what: string): void {
  if (!ok) {
    failures++;
    logAt(Level.Error, what);
  }
}

function done(): i32 {
  const f = failures;
  failures = 0;
  return f;
}

class F64Case {
  constructor(public text: string, public ok: bool, public bits: u64) {}
}

export function test_parseF64(): i32 {
  const cases: F64Case[] = [
    new F64Case("0.908", true, reinterpret<u64>(0.908)),
    new F64Case(" -2.5 ", true, reinterpret<u64>(-2.5)),
    new F64Case("1.0000000000000002", true, 0x3ff0000000000001),
    new F64Case("2", true, reinterpret<u64>(2.0)),
    new F64Case("0.1", true, reinterpret<u64>(0.1)),
    new F64Case("1e-3", true, reinterpret<u64>(0.001)),
    new F64Case("-0", true, 0x8000000000000000),
    new F64Case(".5", true, reinterpret<u64>(0.5)),
    new F64Case("5.", true, reinterpret<u64>(5.0)),
    new F64Case("abc", false, 0),
    new F64Case("", false, 0),
    new F64Case("  ", false, 0),
    new F64Case("1.2.3", false, 0),
    new F64Case("Infinity", false, 0),
    new F64Case("NaN", false, 0),
    new F64Case("0x10", false, 0),
    new F64Case("1e", false, 0),
    new F64Case("1_000", false, 0),
    new F64Case("-", false, 0),
    new F64Case(".", false, 0),
  ];
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const r = parseF64(c.text);
    check(r.ok == c.ok, "parseF64(\"" + c.text + "\") ok=" + r.ok.toString());
    if (c.ok && r.ok) check(reinterpret<u64>(r.value) == c.bits, "parseF64(\"" + c.text + "\") = " + r.value.toString());
  }
  return done();
}

class I64Case {
  constructor(public text: string, public ok: bool, public value: i64) {}
}

export function test_parseI64(): i32 {
  const cases: I64Case[] = [
    new I64Case("-12", true, -12),
    new I64Case(" 42 ", true, 42),
    new I64Case("+7", true, 7),
    new I64Case("0", true, 0),
    new I64Case("9223372036854775807", true, i64.MAX_VALUE),
    new I64Case("-9223372036854775808", true, i64.MIN_VALUE),
    new I64Case("9223372036854775808", false, 0),
    new I64Case("-9223372036854775809", false, 0),
    new I64Case("99999999999999999999", false, 0),
    new I64Case("1.5", false, 0),
    new I64Case("1e3", false, 0),
    new I64Case("abc", false, 0),
    new I64Case("", false, 0),
    new I64Case("-", false, 0),
  ];
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const r = parseI64(c.text);
    check(r.ok == c.ok, "parseI64(\"" + c.text + "\") ok=" + r.ok.toString());
    if (c.ok && r.ok) check(r.value == c.value, "parseI64(\"" + c.text + "\") = " + r.value.toString());
  }
  return done();
}

class TypeCase {
  constructor(public text: string, public format: string, public name: string) {}
}

export function test_types(): i32 {
  const cases: TypeCase[] = [
    new TypeCase("int64", "l", "int64"),
    new TypeCase("bool", "b", "bool"),
    new TypeCase("uint16", "S", "uint16"),
    new TypeCase("float32", "f", "float32"),
    new TypeCase("utf8", "u", "utf8"),
    new TypeCase("binary", "z", "binary"),
    new TypeCase("date32", "tdD", "date32"),
    new TypeCase("timestamp[ms]", "tsm:", "timestamp[ms]"),
    new TypeCase("timestamp[us, UTC]", "tsu:UTC", "timestamp[us, UTC]"),
    new TypeCase("timestamp[ns,Europe/Paris]", "tsn:Europe/Paris", "timestamp[ns, Europe/Paris]"),
    new TypeCase("g", "g", "float64"),
    new TypeCase("timestamp[m]", "", ""),
    new TypeCase("decimal", "", ""),
    new TypeCase("timestamp[s", "", ""),
  ];
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const t = DataType.parse(c.text);
    if (c.format.length == 0) {
      check(t === null, "DataType.parse(\"" + c.text + "\") accepted");
      continue;
    }
    if (t === null) { check(false, "DataType.parse(\"" + c.text + "\") refused"); continue; }
    check(t.format == c.format, "format of " + c.text + ": " + t.format);
    check(t.toString() == c.name, "name of " + c.text + ": " + t.toString());
  }
  check(DataType.timestamp(0x6d, "UTC").timeZone == "UTC", "timeZone");
  check(new DataType("+s").id == TypeId.Invalid, "+s is not a column type");

  const s = new Schema().add("auction", DataType.Int64).add("price", DataType.Float64).add("t", DataType.TimestampMs, false);
  check(s.toString() == "auction:int64,price:float64,t:timestamp[ms] not null", "schema string " + s.toString());
  check(s.lookupError("auction", [DataType.Int64]) === null, "lookup auction");
  check(s.lookupError("t", [DataType.timestamp(0x75, "")]) === null, "a timestamp type without zone accepts any timestamp");
  const e1 = s.lookupError("x", []);
  check(e1 !== null && e1 == "input has no column \"x\" (columns: auction, price, t)", "missing column message");
  const e2 = s.lookupError("price", [DataType.Utf8]);
  check(e2 !== null && e2 == "column \"price\" is float64, want utf8", "mistyped column message");
  const dup = new Schema().add("a", DataType.Int8).add("a", DataType.Int8).validate();
  check(dup !== null && dup.includes("duplicate"), "duplicate columns");
  return done();
}

class QuoteCase {
  constructor(public in_: string, public out: string) {}
}

export function test_quote(): i32 {
  const cases: QuoteCase[] = [
    new QuoteCase("plain", "\"plain\""),
    new QuoteCase("a\"b\\c", "\"a\\\"b\\\\c\""),
    new QuoteCase("line\nnext\ttab\r", "\"line\\nnext\\ttab\\r\""),
    new QuoteCase("<&>", "\"\\u003c\\u0026\\u003e\""),
    new QuoteCase("\u0001", "\"\\u0001\""),
    new QuoteCase("USD→EUR é 数据 💥", "\"USD→EUR é 数据 💥\""),
    new QuoteCase("\u2028", "\"\\u2028\""),
  ];
  for (let i = 0; i < cases.length; i++) {
    const got = quote(cases[i].in_);
    check(got == cases[i].out, "quote(" + cases[i].in_ + ") = " + got);
  }
  return done();
}

class FlagCase {
  constructor(public args: string[], public ok: bool, public input: string, public verbose: string, public err: string) {}
}

export function test_flags(): i32 {
  const cases: FlagCase[] = [
    new FlagCase([], true, "in.txt", "false", ""),
    new FlagCase(["--input", "a b"], true, "a b", "false", ""),
    new FlagCase(["-input=x=y", "-verbose"], true, "x=y", "true", ""),
    new FlagCase(["--verbose=false", "--input", "z", "rest"], true, "z", "false", ""),
    new FlagCase(["--", "--input", "q"], true, "in.txt", "false", ""),
    new FlagCase(["positional", "--input", "q"], true, "in.txt", "false", ""),
    new FlagCase(["--nope", "1"], false, "", "", "flag provided but not defined: -nope"),
    new FlagCase(["--input"], false, "", "", "flag needs an argument: -input"),
    new FlagCase(["---input", "x"], false, "", "", "bad flag syntax: ---input"),
    new FlagCase(["--verbose=maybe"], false, "", "", "invalid boolean value \"maybe\" for -verbose"),
  ];
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const f = new FlagSet("t").string("input", "in.txt").bool("verbose");
    const ok = f.parse(c.args);
    const err = takeError();
    check(ok == c.ok, "flags case " + i.toString() + ": ok=" + ok.toString());
    if (c.ok && ok) {
      check(f.get("input") == c.input, "flags case " + i.toString() + ": input " + f.get("input"));
      check(f.get("verbose") == c.verbose, "flags case " + i.toString() + ": verbose " + f.get("verbose"));
    }
    if (!c.ok) check(err !== null && err == c.err, "flags case " + i.toString() + ": error " + (err === null ? "none" : err));
  }
  return done();
}

export function test_plan(): i32 {
  // The wordcount plan of abi/SPEC.md §7.
  const p = new Plan("wordcount").parallelism(2).set("pipeline.buffer-timeout", "100ms");
  p.source("file", params(["path", "in.txt", "format", "lines"])).id("lines").parallelism(1)
    .flatMap("tokenize").id("words")
    .keyBy(["word"]).process("count").id("counts")
    .sink("file", params(["path", "out", "format", "jsonl"])).id("out");
  const js = p.toJSON();
  const want = "{\"weir_plan\":1,\"name\":\"wordcount\",\"parallelism\":2,\"config\":{\"pipeline.buffer-timeout\":\"100ms\"},\"nodes\":[" +
    "{\"id\":\"lines\",\"kind\":\"source\",\"connector\":\"file\",\"params\":{\"format\":\"lines\",\"path\":\"in.txt\"},\"parallelism\":1}," +
    "{\"id\":\"words\",\"kind\":\"flatmap\",\"function\":\"tokenize\",\"inputs\":[\"lines\"]}," +
    "{\"id\":\"counts\",\"kind\":\"process\",\"function\":\"count\",\"inputs\":[\"words\"],\"keyBy\":[\"word\"]}," +
    "{\"id\":\"out\",\"kind\":\"sink\",\"connector\":\"file\",\"params\":{\"format\":\"jsonl\",\"path\":\"out\"},\"inputs\":[\"counts\"]}]}";
  check(js !== null && js == want, "wordcount plan: " + (js === null ? "error " + takeError()! : js));

  // Generated ids, params, union, rebalance.
  const q = new Plan("gen");
  const a = q.source("gen", params([]));
  const b = q.source("gen", params([]));
  a.union([b]).rebalance().map("f", "1,2").map("f").sink("print", params([]));
  const qs = q.toJSON();
  const qwant = "{\"weir_plan\":1,\"name\":\"gen\",\"nodes\":[" +
    "{\"id\":\"source-gen\",\"kind\":\"source\",\"connector\":\"gen\"}," +
    "{\"id\":\"source-gen-2\",\"kind\":\"source\",\"connector\":\"gen\"}," +
    "{\"id\":\"f\",\"kind\":\"map\",\"function\":\"f\",\"params\":\"1,2\",\"inputs\":[\"source-gen\",\"source-gen-2\"],\"partition\":\"rebalance\"}," +
    "{\"id\":\"f-2\",\"kind\":\"map\",\"function\":\"f\",\"inputs\":[\"f\"]}," +
    "{\"id\":\"sink-print\",\"kind\":\"sink\",\"connector\":\"print\",\"inputs\":[\"f-2\"]}]}";
  check(qs !== null && qs == qwant, "generated plan: " + (qs === null ? "error " + takeError()! : qs));

  // Errors.
  const errCases: string[][] = [];
  const e1 = new Plan("e1");
  e1.source("file", params([])).process("count").sink("print", params([]));
  check(e1.toJSON() === null, "process without keyBy accepted");
  errCases.push(["process without keyBy", takeError()!, "plan \"e1\": process node \"count\" needs keyBy"]);
  const e2 = new Plan("e2");
  e2.source("file", params([])).id("bad id!");
  check(e2.toJSON() === null, "bad id accepted");
  errCases.push(["bad id", takeError()!, "plan \"e2\": node id \"bad id!\": must match [A-Za-z0-9_.-]{1,64}"]);
  const e3 = new Plan("e3").parallelism(200);
  e3.source("file", params([]));
  check(e3.toJSON() === null, "parallelism over max accepted");
  errCases.push(["parallelism", takeError()!, "plan \"e3\": parallelism 200 exceeds max parallelism 128"]);
  const e4 = new Plan("e4");
  e4.source("a", params([])).id("x").map("m").id("x");
  check(e4.toJSON() === null, "duplicate id accepted");
  errCases.push(["duplicate id", takeError()!, "plan \"e4\": duplicate node id \"x\""]);
  const e5 = new Plan("e5");
  check(e5.toJSON() === null, "empty plan accepted");
  errCases.push(["no nodes", takeError()!, "plan \"e5\": no nodes"]);
  for (let i = 0; i < errCases.length; i++) {
    check(errCases[i][1] == errCases[i][2], errCases[i][0] + ": " + errCases[i][1]);
  }
  return done();
}

/** A bitmap of n bits from a seed, and its bools. */
function randomBits(n: i32, seed: u32): StaticArray<bool> {
  const out = new StaticArray<bool>(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    out[i] = (x & 3) != 0;
  }
  return out;
}

export function test_bits(): i32 {
  // copyBits and countSet against bit-by-bit references, every offset pair.
  const n = 200;
  const bools = randomBits(n, 12345);
  const src = heap.alloc(64);
  memory.fill(src, 0, 64);
  for (let i = 0; i < n; i++) if (bools[i]) store<u8>(src + (<usize>i >> 3), load<u8>(src + (<usize>i >> 3)) | <u8>(<u32>1 << <u32>(i & 7)));
  const dst = heap.alloc(64);
  for (let so = 0; so < 16; so++) {
    for (let dof = 0; dof < 16; dof++) {
      for (let len = 0; len <= 150; len += 13) {
        memory.fill(dst, 0xa5, 64);
        copyBits(dst, dof, src, so, len);
        let bad = 0;
        for (let i = 0; i < len; i++) {
          const got = ((load<u8>(dst + (<usize>(dof + i) >> 3)) >> <u8>((dof + i) & 7)) & 1) != 0;
          if (got != bools[so + i]) bad++;
        }
        // Bits outside the destination range are untouched.
        for (let i = 0; i < 64 * 8; i++) {
          if (i >= dof && i < dof + len) continue;
          const got = (load<u8>(dst + (<usize>i >> 3)) >> <u8>(i & 7)) & 1;
          if (<u32>got != ((<u32>0xa5 >> <u32>(i & 7)) & 1)) bad++;
        }
        check(bad == 0, "copyBits so=" + so.toString() + " dof=" + dof.toString() + " len=" + len.toString() + ": " + bad.toString() + " wrong bits");
        let want = 0;
        for (let i = 0; i < len; i++) if (bools[so + i]) want++;
        check(countSet(src, so, len) == want, "countSet so=" + so.toString() + " len=" + len.toString());
      }
    }
  }
  heap.free(src);
  heap.free(dst);
  return done();
}

export function test_selection(): i32 {
  const s = new Selection();
  const ret = heap.alloc(16);
  // Nothing kept: kind none.
  s.reset(10);
  s.result(ret);
  check(load<u32>(ret) == 3, "fresh selection is none");
  // keepAll: kind all.
  s.reset(10); s.keepAll(); s.result(ret);
  check(load<u32>(ret) == 2, "keepAll is all");
  // keep: a bitmap.
  s.reset(10); s.keep(1); s.keep(9); s.result(ret);
  check(load<u32>(ret) == 0 && load<u16>(load<u32>(ret + 4)) == 0x202, "keep(1), keep(9) bitmap");
  // keepAll then set(i, false): a bitmap with all but i.
  s.reset(10); s.keepAll(); s.set(3, false); s.result(ret);
  check(load<u32>(ret) == 0 && (load<u16>(load<u32>(ret + 4)) & 0x3ff) == 0x3f7, "keepAll then drop 3");
  // append: a selection vector.
  s.reset(10); s.append(2); s.append(5); s.result(ret);
  const p = load<u32>(ret + 4);
  check(load<u32>(ret) == 1 && load<u32>(ret + 8) == 2 && load<i32>(p) == 2 && load<i32>(p + 4) == 5, "append vector");
  check(s.isKept(5) && !s.isKept(4), "isKept on a vector");
  // mask with an unaligned validity: rows 0..9, validity bits from offset 3.
  const v = heap.alloc(8);
  store<u16>(v, 0b0101010101010101 << 3);
  const m = new Bitmap();
  m.ptr = v; m.offset = 3; m.length = 10;
  s.reset(10); s.keepAll(); s.mask(m); s.result(ret);
  check(load<u32>(ret) == 0 && (load<u16>(load<u32>(ret + 4)) & 0x3ff) == 0b0101010101, "mask unaligned");
  m.offset = 0; store<u16>(v, 0b1111111100);
  s.reset(10); s.keepAll(); s.mask(m); s.result(ret);
  check((load<u16>(load<u32>(ret + 4)) & 0x3ff) == 0b1111111100, "mask aligned");
  heap.free(v);
  heap.free(ret);
  return done();
}

export function test_builder(): i32 {
  const b = new Builder(new Schema().add("x", DataType.Int64).add("s", DataType.Utf8).add("f", DataType.Bool));
  const x = b.int64(0), s = b.utf8(1), f = b.bool(2);
  for (let i = 0; i < 100; i++) {
    if (i % 7 == 3) x.appendNull(); else x.append(<i64>i * 3);
    if (i % 11 == 5) s.appendNull(); else s.append("v" + i.toString() + "é");
    f.append(i % 2 == 0);
  }
  check(x.length == 100 && s.length == 100 && f.length == 100, "lengths");
  check(x.nullCount == 14, "int nulls " + x.nullCount.toString());
  check(s.nullCount == 9, "string nulls " + s.nullCount.toString());
  check(x.isNull(3) && !x.isNull(4) && x.get(4) == 12, "int values");
  check(s.getString(4) == "v4é" && s.isNull(5), "string values");
  check(f.get(2) && !f.get(3), "bool values");
  x.setNull(4);
  check(x.nullCount == 15 && x.isNull(4), "setNull");
  const errs: string[] = [];
  const a = b.exportBatch(errs);
  check(a != 0 && errs.length == 0, "export");
  check(load<i64>(a) == 100, "exported length");
  b.reset();
  check(b.length == 0 && x.nullCount == 0, "reset");
  x.append(1);
  check(!x.isNull(0), "valid after reset");
  // Unequal column lengths are refused at export.
  const errs2: string[] = [];
  check(b.exportBatch(errs2) == 0 && errs2.length == 1 && errs2[0].includes("has 0 rows"), "unequal lengths refused");
  return done();
}
