// The ABI exports; a job module's entry file re-exports them:
// export * from "@weirflow/sdk/exports";
export * from "./assembly/exports";
