// Weir's AssemblyScript guest SDK (guest ABI v1, abi/SPEC.md).
//
// A job module's entry file imports what it uses from here and re-exports
// the ABI: export * from "@weirflow/sdk/exports";

export { Level, log, logAt, fail, failed, takeError } from "./host";
export { DataType, Field, Schema, TimeUnit, TypeId, byteWidth, typeIdName } from "./types";
export { Batch, Bitmap, BoolColumn, Column, Indexes, PrimitiveColumn, StringColumn, countSet } from "./column";
export { Builder, BoolBuilder, ColumnBuilder, PrimitiveBuilder, StringBuilder, copyBits } from "./builder";
export { Selection } from "./selection";
export { Table, TableColumn, PrimitiveTableColumn, BoolTableColumn, StringTableColumn } from "./table";
export {
  Kind, kindName, Operator, MapFunction, FilterFunction, ProcessFunction, AggregateFunction,
  registerMap, registerFlatMap, registerFilter, registerProcess, registerAggregate, registered, splitParams,
} from "./operator";
export { Plan, Stream, Params, params, FlagSet, definePlan, quote } from "./plan";
export { Parsed, parseF64, parseI64 } from "./parse";
