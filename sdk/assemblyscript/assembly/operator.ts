// Operators: the open context, the base classes of the five kinds and the
// registry of functions by name.

import { Batch, Indexes } from "./column";
import { Builder } from "./builder";
import { fail } from "./host";
import { parseF64, parseI64 } from "./parse";
import { Selection } from "./selection";
import { Table } from "./table";
import { DataType, Schema } from "./types";

/** Operator kinds, numbered as in the ABI (abi/SPEC.md §8). */
export enum Kind {
  Map = 1,
  FlatMap = 2,
  Filter = 3,
  Process = 4,
  Aggregate = 5,
}

/** The plan name of a kind: "map", "flatmap", "filter", "process", "aggregate". */
export function kindName(k: Kind): string {
  switch (k) {
    case Kind.Map: return "map";
    case Kind.FlatMap: return "flatmap";
    case Kind.Filter: return "filter";
    case Kind.Process: return "process";
    case Kind.Aggregate: return "aggregate";
  }
  return "kind " + (<i32>k).toString();
}

/**
 * An operator being opened: one instance of a registered function in one
 * subtask. open() reads name, params and input, checks them (a problem goes
 * to fail(), or to the helpers below, which call it), and sets output (and
 * state for process and aggregate operators).
 */
export class Operator {
  /** The registered function name. */
  readonly name: string;
  /** How the function was registered. */
  readonly kind: Kind;
  /** The plan node's params, verbatim. */
  readonly params: string;
  /** The schema of the input batches. */
  readonly input: Schema;
  /** Output batches (map, flatmap, process) or result (aggregate); unused for filters. */
  output: Schema | null = null;
  /** Keyed state (process) or accumulators (aggregate). */
  state: Schema | null = null;

  constructor(name: string, kind: Kind, params: string, input: Schema) {
    this.name = name;
    this.kind = kind;
    this.params = params;
    this.input = input;
  }

  /**
   * The index of input column name, checking its type when type is given
   * (a timestamp type without a zone accepts any timestamp). On a missing
   * or mistyped column it calls fail() and returns -1.
   */
  column(name: string, type: DataType | null = null): i32 {
    const types: DataType[] = [];
    if (type !== null) types.push(type);
    return this.columnOf(name, types);
  }

  /** Like column(), accepting any of types. */
  columnOf(name: string, types: DataType[]): i32 {
    const err = this.input.lookupError(name, types);
    if (err !== null) {
      fail(err);
      return -1;
    }
    return this.input.index(name);
  }

  /**
   * The params as a decimal number; what names it in the error
   * (`params: factor "abc" is not a number`). On error calls fail() and
   * returns NaN.
   */
  paramF64(what: string): f64 {
    const r = parseF64(this.params);
    if (!r.ok) {
      fail("params: " + what + " \"" + this.params + "\" is not a number");
      return NaN;
    }
    return r.value;
  }

  /** The params as a decimal integer; like paramF64. On error returns 0. */
  paramI64(what: string): i64 {
    const r = parseI64(this.params);
    if (!r.ok) {
      fail("params: " + what + " \"" + this.params + "\" is not an integer");
      return 0;
    }
    return r.value;
  }

  /** The params split at commas, items trimmed, empty items dropped. */
  paramList(): string[] {
    return splitParams(this.params);
  }
}

/** Splits s at commas, trims the items and drops empty ones. */
export function splitParams(s: string): string[] {
  const out: string[] = [];
  const parts = s.split(",");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i].trim();
    if (p.length > 0) out.push(p);
  }
  return out;
}

/**
 * A map or flatmap function. A map appends exactly one output row per input
 * row, in order; a flatmap any number. fail() fails the call.
 */
export abstract class MapFunction {
  /** Checks the input schema and params and sets op.output. */
  open(op: Operator): void {}
  /** Processes one batch; out is empty at the start of each call. */
  abstract map(input: Batch, out: Builder): void;
  /** Called when the host closes the operator. */
  close(): void {}
}

/** A filter: selects rows of each batch; the host copies the kept rows. */
export abstract class FilterFunction {
  open(op: Operator): void {}
  /** Marks the rows to keep in sel (none are kept at the start). */
  abstract filter(input: Batch, sel: Selection): void;
  close(): void {}
}

/**
 * A keyed process function. Row i of input belongs to state row
 * keys.get(i); state has one row per distinct key of the batch, holding the
 * key's current state, updated in place. Called once per batch.
 */
export abstract class ProcessFunction {
  /** Sets op.output and op.state. */
  open(op: Operator): void {}
  abstract process(input: Batch, keys: Indexes, state: Table, out: Builder): void;
  close(): void {}
}

/** An aggregate function over accumulators, rows of a Table of schema op.state. */
export abstract class AggregateFunction {
  /** Sets op.state (accumulator columns) and op.output (result columns). */
  open(op: Operator): void {}
  /** Initialises new accumulators (all zero before the call). */
  init(acc: Table): void {}
  /** Adds input row i into accumulator groups.get(i), for every row. */
  abstract add(acc: Table, input: Batch, groups: Indexes): void;
  /** Merges accumulator other row i into acc row groups.get(i), for every row of other. */
  abstract merge(acc: Table, other: Table, groups: Indexes): void;
  /** Appends one result row per accumulator to out. */
  abstract result(acc: Table, out: Builder): void;
  close(): void {}
}

/** What registerMap, registerFilter, ... record. */
export class Registration {
  kind: Kind = Kind.Map;
  map: (() => MapFunction) | null = null;
  filter: (() => FilterFunction) | null = null;
  process: (() => ProcessFunction) | null = null;
  aggregate: (() => AggregateFunction) | null = null;
}

export const registry = new Map<string, Registration>();

function register(name: string, r: Registration): void {
  if (name.length == 0) abort("registering a function with an empty name");
  if (registry.has(name)) {
    abort("function \"" + name + "\" registered twice (as " + kindName(registry.get(name).kind) + " and " + kindName(r.kind) + ")");
  }
  registry.set(name, r);
}

/** Registers a map function: factory makes one instance per opened operator. */
export function registerMap(name: string, factory: () => MapFunction): void {
  const r = new Registration();
  r.kind = Kind.Map;
  r.map = factory;
  register(name, r);
}

/** Registers a flatmap function (a MapFunction that may emit any number of rows). */
export function registerFlatMap(name: string, factory: () => MapFunction): void {
  const r = new Registration();
  r.kind = Kind.FlatMap;
  r.map = factory;
  register(name, r);
}

/** Registers a filter function. */
export function registerFilter(name: string, factory: () => FilterFunction): void {
  const r = new Registration();
  r.kind = Kind.Filter;
  r.filter = factory;
  register(name, r);
}

/** Registers a keyed process function. */
export function registerProcess(name: string, factory: () => ProcessFunction): void {
  const r = new Registration();
  r.kind = Kind.Process;
  r.process = factory;
  register(name, r);
}

/** Registers an aggregate function. */
export function registerAggregate(name: string, factory: () => AggregateFunction): void {
  const r = new Registration();
  r.kind = Kind.Aggregate;
  r.aggregate = factory;
  register(name, r);
}

/** The registered names, sorted. */
export function registered(): string[] {
  const names = registry.keys();
  names.sort();
  return names;
}
