// The job graph returned by weir_plan (abi/SPEC.md §7), program arguments.

import { fail } from "./host";

/** String parameters of a native connector. */
export type Params = Map<string, string>;

/** Makes connector params from alternating keys and values: params(["path", "in.txt", "format", "lines"]). */
export function params(kv: string[]): Params {
  assert((kv.length & 1) == 0, "params: an odd number of keys and values");
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < kv.length; i += 2) m.set(kv[i], kv[i + 1]);
  return m;
}

class PlanNode {
  id: string = "";
  kind: string = "";
  connector: string = "";
  fn: string = "";
  fparams: string = "";
  cparams: Params | null = null;
  inputs: PlanNode[] = [];
  keyBy: string[] = [];
  partition: string = "";
  parallelism: i32 = 0;
  name: string = "";
}

/**
 * A job plan under construction: sources, operator chains and sinks.
 * Problems are collected and reported by toJSON() as the first error.
 */
export class Plan {
  readonly name: string;
  private par: i32 = 0;
  private maxPar: i32 = 0;
  private config: Map<string, string> = new Map<string, string>();
  nodes: PlanNode[] = [];
  private errs: string[] = [];

  constructor(name: string) {
    this.name = name;
  }

  error(msg: string): void { this.errs.push(msg); }

  /** The job's default parallelism (at least 1). */
  parallelism(n: i32): Plan {
    if (n < 1) this.error("job parallelism " + n.toString() + ": must be at least 1");
    this.par = n;
    return this;
  }

  /** The number of key groups (default 128). */
  maxParallelism(n: i32): Plan {
    if (n < 1) this.error("max parallelism " + n.toString() + ": must be at least 1");
    this.maxPar = n;
    return this;
  }

  /** Sets a job configuration entry. */
  set(key: string, value: string): Plan {
    this.config.set(key, value);
    return this;
  }

  /** Adds a source reading a native connector. */
  source(connector: string, p: Params): Stream {
    const n = new PlanNode();
    n.kind = "source";
    n.connector = connector;
    n.cparams = p;
    if (connector.length == 0) this.error("source with no connector name");
    this.nodes.push(n);
    return new Stream(this, n, [n]);
  }

  /** The plan as the JSON document of SPEC §7; on an error calls fail() and returns null. */
  toJSON(): string | null {
    const e = this.build();
    if (e !== null) {
      fail(e);
      return null;
    }
    return this.json;
  }

  private json: string = "";

  /** Validates the plan and writes this.json; returns an error or null. */
  private build(): string | null {
    if (this.name.length == 0) return "plan: the job has no name";
    const pre = "plan \"" + this.name + "\": ";
    if (this.errs.length > 0) return pre + this.errs[0];
    if (this.nodes.length == 0) return pre + "no nodes";
    // Node ids: explicit ones first, then generated from the function or connector.
    const used = new Set<string>();
    const ids: string[] = [];
    for (let i = 0; i < this.nodes.length; i++) {
      const id = this.nodes[i].id;
      ids.push(id);
      if (id.length == 0) continue;
      if (!validID(id)) return pre + "node id \"" + id + "\": must match [A-Za-z0-9_.-]{1,64}";
      if (used.has(id)) return pre + "duplicate node id \"" + id + "\"";
      used.add(id);
    }
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i];
      if (n.id.length > 0) continue;
      const base = sanitizeID(n.kind == "source" || n.kind == "sink" ? n.kind + "-" + n.connector : n.fn);
      let id = base;
      for (let k = 2; used.has(id); k++) id = base + "-" + k.toString();
      used.add(id);
      ids[i] = id;
    }
    let maxPar = this.maxPar;
    if (maxPar == 0) maxPar = 128;
    if (this.par > maxPar) return pre + "parallelism " + this.par.toString() + " exceeds max parallelism " + maxPar.toString();

    let s = "{\"weir_plan\":1,\"name\":" + quote(this.name);
    if (this.par != 0) s += ",\"parallelism\":" + this.par.toString();
    if (this.maxPar != 0) s += ",\"maxParallelism\":" + this.maxPar.toString();
    if (this.config.size > 0) s += ",\"config\":" + stringMap(this.config);
    s += ",\"nodes\":[";
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i];
      const id = ids[i];
      if (i > 0) s += ",";
      s += "{\"id\":" + quote(id) + ",\"kind\":" + quote(n.kind);
      if (n.connector.length > 0) s += ",\"connector\":" + quote(n.connector);
      if (n.fn.length > 0) s += ",\"function\":" + quote(n.fn);
      if (n.kind == "source" || n.kind == "sink") {
        const cp = n.cparams;
        if (cp !== null && cp.size > 0) s += ",\"params\":" + stringMap(cp);
      } else if (n.fparams.length > 0) {
        s += ",\"params\":" + quote(n.fparams);
      }
      if (n.inputs.length > 0) {
        s += ",\"inputs\":[";
        for (let k = 0; k < n.inputs.length; k++) {
          const in_ = n.inputs[k];
          if (in_.kind == "sink") return pre + "node \"" + id + "\" reads from sink \"" + ids[this.nodes.indexOf(in_)] + "\"";
          if (k > 0) s += ",";
          s += quote(ids[this.nodes.indexOf(in_)]);
        }
        s += "]";
      }
      if (n.kind != "source" && n.inputs.length == 0) return pre + "node \"" + id + "\" has no inputs";
      if (n.kind == "process" && n.keyBy.length == 0) return pre + "process node \"" + id + "\" needs keyBy";
      if (n.parallelism > maxPar) return pre + "node \"" + id + "\": parallelism " + n.parallelism.toString() + " exceeds max parallelism " + maxPar.toString();
      if (n.keyBy.length > 0) {
        s += ",\"keyBy\":[";
        for (let k = 0; k < n.keyBy.length; k++) {
          if (k > 0) s += ",";
          s += quote(n.keyBy[k]);
        }
        s += "]";
      }
      if (n.partition.length > 0) s += ",\"partition\":" + quote(n.partition);
      if (n.parallelism != 0) s += ",\"parallelism\":" + n.parallelism.toString();
      if (n.name.length > 0) s += ",\"name\":" + quote(n.name);
      s += "}";
    }
    s += "]}";
    this.json = s;
    return null;
  }
}

/**
 * A stream of batches: the output of a node (or a union of several), with
 * the partitioning the next node reads it with.
 */
export class Stream {
  readonly plan: Plan;
  private node: PlanNode | null;
  private inputs: PlanNode[];
  private keys: string[] = [];
  private partition: string = "";

  constructor(plan: Plan, node: PlanNode | null, inputs: PlanNode[]) {
    this.plan = plan;
    this.node = node;
    this.inputs = inputs;
  }

  private add(kind: string, fn: string, p: string): Stream {
    const n = new PlanNode();
    n.kind = kind;
    n.fn = fn;
    n.fparams = p;
    n.inputs = this.inputs.slice(0);
    n.keyBy = this.keys.slice(0);
    n.partition = this.partition;
    if (fn.length == 0) this.plan.error(kind + " node with no function name");
    this.plan.nodes.push(n);
    return new Stream(this.plan, n, [n]);
  }

  /** A map node running the registered function fn with params p. */
  map(fn: string, p: string = ""): Stream { return this.add("map", fn, p); }
  flatMap(fn: string, p: string = ""): Stream { return this.add("flatmap", fn, p); }
  filter(fn: string, p: string = ""): Stream { return this.add("filter", fn, p); }
  /** A keyed process node; the stream must be keyed (keyBy). */
  process(fn: string, p: string = ""): Stream { return this.add("process", fn, p); }
  aggregate(fn: string, p: string = ""): Stream { return this.add("aggregate", fn, p); }

  /** A sink writing to a native connector. */
  sink(connector: string, p: Params): Stream {
    const n = new PlanNode();
    n.kind = "sink";
    n.connector = connector;
    n.cparams = p;
    n.inputs = this.inputs.slice(0);
    n.keyBy = this.keys.slice(0);
    n.partition = this.partition;
    if (connector.length == 0) this.plan.error("sink with no connector name");
    this.plan.nodes.push(n);
    return new Stream(this.plan, n, [n]);
  }

  /** The stream partitioned by hash of the columns, for the next node. */
  keyBy(columns: string[]): Stream {
    if (columns.length == 0) this.plan.error("keyBy with no columns");
    const c = new Stream(this.plan, this.node, this.inputs);
    c.keys = columns.slice(0);
    return c;
  }

  /** The stream redistributed round-robin to the next node. */
  rebalance(): Stream {
    const c = new Stream(this.plan, this.node, this.inputs);
    c.partition = "rebalance";
    return c;
  }

  /** The union of this stream and others, as the input of the next node. */
  union(others: Stream[]): Stream {
    const ins = this.inputs.slice(0);
    for (let i = 0; i < others.length; i++) {
      if (others[i].plan !== this.plan) {
        this.plan.error("union of streams of different plans");
        continue;
      }
      const o = others[i].inputs;
      for (let k = 0; k < o.length; k++) ins.push(o[k]);
    }
    return new Stream(this.plan, null, ins);
  }

  private producer(what: string): PlanNode | null {
    if (this.node === null) this.plan.error(what + " on a union of streams");
    return this.node;
  }

  /** Sets the producing node's parallelism. */
  parallelism(n: i32): Stream {
    const nd = this.producer("parallelism");
    if (nd !== null) {
      if (n < 1) this.plan.error("node parallelism " + n.toString() + ": must be at least 1");
      nd.parallelism = n;
    }
    return this;
  }

  /** Sets the producing node's display name. */
  name(display: string): Stream {
    const nd = this.producer("name");
    if (nd !== null) nd.name = display;
    return this;
  }

  /** Sets the producing node's id (default: from its function or connector). */
  id(id: string): Stream {
    const nd = this.producer("id");
    if (nd !== null) nd.id = id;
    return this;
  }
}

function validIDChar(c: i32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x2e || c == 0x2d;
}

function validID(id: string): bool {
  if (id.length < 1 || id.length > 64) return false;
  for (let i = 0; i < id.length; i++) if (!validIDChar(id.charCodeAt(i))) return false;
  return true;
}

function sanitizeID(s: string): string {
  let out = "";
  for (let i = 0; i < s.length && i < 56; i++) {
    const c = s.charCodeAt(i);
    out += validIDChar(c) ? String.fromCharCode(c) : "_";
  }
  return out.length == 0 ? "node" : out;
}

const HEX = "0123456789abcdef";

/** s as a JSON string, escaped like Go's encoding/json (<, >, & and U+2028/9 too). */
export function quote(s: string): string {
  let out = "\"";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c == 0x22) esc = "\\\"";
    else if (c == 0x5c) esc = "\\\\";
    else if (c == 0x0a) esc = "\\n";
    else if (c == 0x0d) esc = "\\r";
    else if (c == 0x09) esc = "\\t";
    else if (c < 0x20 || c == 0x3c || c == 0x3e || c == 0x26 || c == 0x2028 || c == 0x2029) {
      esc = "\\u" + HEX.charAt((c >> 12) & 15) + HEX.charAt((c >> 8) & 15) + HEX.charAt((c >> 4) & 15) + HEX.charAt(c & 15);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // A lone surrogate cannot be UTF-8: U+FFFD, as Go writes invalid UTF-8.
      const hi = c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff;
      if (hi) { i++; continue; }
      esc = "\ufffd";
    }
    if (esc !== null) {
      out += s.substring(start, i) + esc;
      start = i + 1;
    }
  }
  return out + s.substring(start) + "\"";
}

function stringMap(m: Map<string, string>): string {
  const keys = m.keys();
  keys.sort();
  let s = "{";
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) s += ",";
    s += quote(keys[i]) + ":" + quote(m.get(keys[i]));
  }
  return s + "}";
}

class Flag {
  constructor(public name: string, public value: string, public usage: string, public isBool: bool) {}
}

/**
 * Parses program arguments like Go's flag package: -name value, --name
 * value, -name=value; boolean flags take no value (or =true/=false). Parsing
 * stops at the first non-flag argument or after "--".
 */
export class FlagSet {
  readonly name: string;
  private flags: Flag[] = [];
  /** The arguments after the flags. */
  rest: string[] = [];

  constructor(name: string) {
    this.name = name;
  }

  private find(name: string): Flag | null {
    for (let i = 0; i < this.flags.length; i++) if (this.flags[i].name == name) return this.flags[i];
    return null;
  }

  /** Defines a string flag with a default value. */
  string(name: string, value: string, usage: string = ""): FlagSet {
    assert(this.find(name) === null, "flag redefined: " + name);
    this.flags.push(new Flag(name, value, usage, false));
    return this;
  }

  /** Defines a boolean flag (default false). */
  bool(name: string, usage: string = ""): FlagSet {
    assert(this.find(name) === null, "flag redefined: " + name);
    this.flags.push(new Flag(name, "false", usage, true));
    return this;
  }

  /** The value of a flag. */
  get(name: string): string {
    const f = this.find(name);
    if (f === null) abort("flag " + name + " is not defined");
    return f!.value;
  }

  /** Whether a boolean flag is set. */
  isSet(name: string): bool { return this.get(name) == "true"; }

  /** Parses args; on an error calls fail() and returns false. */
  parse(args: string[]): bool {
    let i = 0;
    while (i < args.length) {
      const a = args[i];
      if (a.length < 2 || a.charCodeAt(0) != 0x2d) break;
      let dashes = 1;
      if (a.charCodeAt(1) == 0x2d) {
        dashes = 2;
        if (a.length == 2) { i++; break; } // "--"
      }
      let name = a.substring(dashes);
      if (name.length == 0 || name.charCodeAt(0) == 0x2d || name.charCodeAt(0) == 0x3d) {
        fail("bad flag syntax: " + a);
        return false;
      }
      i++;
      let value: string | null = null;
      const eq = name.indexOf("=");
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      }
      const f = this.find(name);
      if (f === null) {
        fail("flag provided but not defined: -" + name);
        return false;
      }
      if (f.isBool) {
        if (value === null) value = "true";
        const v = value;
        if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") f.value = "true";
        else if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") f.value = "false";
        else {
          fail("invalid boolean value \"" + v + "\" for -" + name);
          return false;
        }
        continue;
      }
      if (value === null) {
        if (i >= args.length) {
          fail("flag needs an argument: -" + name);
          return false;
        }
        value = args[i++];
      }
      f.value = value;
    }
    this.rest = args.slice(i);
    return true;
  }
}

/** The plan function registered with definePlan. */
export let planFunction: ((args: string[]) => Plan | null) | null = null;

/**
 * Registers the function that builds the job's plan from the program
 * arguments (weir_plan). It runs in the JobManager's sandbox and must depend
 * on nothing but its arguments; it reports bad arguments with fail() and
 * returns null.
 */
export function definePlan(fn: (args: string[]) => Plan | null): void {
  if (planFunction !== null) abort("definePlan called twice");
  planFunction = fn;
}
