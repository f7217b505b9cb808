// Package entry: import { ... } from "@weirflow/sdk" (asc resolves a
// package to its index.ts).
export * from "./assembly/index";
