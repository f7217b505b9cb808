//go:build wasip1

package weir

// Host imports (SPEC §6).

//go:wasmimport weir error
func importError(msg string)

//go:wasmimport weir log
func importLog(level int32, msg string)

func hostError(msg string) { importError(msg) }

func hostLog(level Level, msg string) { importLog(int32(level), msg) }

// Guest exports (SPEC §2). Their bodies are in abi.go.

//go:wasmexport weir_abi_v1
func exportABIv1() {}

//go:wasmexport weir_alloc
func exportAlloc(size, align uint32) uint32 { return abiAlloc(size, align) }

//go:wasmexport weir_free
func exportFree(ptr, size, align uint32) { abiFree(ptr, size, align) }

//go:wasmexport weir_plan
func exportPlan(args, argsLen, ret uint32) int32 { return abiPlan(args, argsLen, ret) }

//go:wasmexport weir_open
func exportOpen(kind, name, nameLen, params, paramsLen, inSchema, ret uint32) int32 {
	return abiOpen(kind, name, nameLen, params, paramsLen, inSchema, ret)
}

//go:wasmexport weir_close
func exportClose(handle uint32) int32 { return abiClose(handle) }

//go:wasmexport weir_map
func exportMap(handle, in, ret uint32) int32 { return abiMap(handle, in, ret) }

//go:wasmexport weir_filter
func exportFilter(handle, in, ret uint32) int32 { return abiFilter(handle, in, ret) }

//go:wasmexport weir_process
func exportProcess(handle, in, keys, state, ret uint32) int32 {
	return abiProcess(handle, in, keys, state, ret)
}

//go:wasmexport weir_agg_create
func exportAggCreate(handle, n, ret uint32) int32 { return abiAggCreate(handle, n, ret) }

//go:wasmexport weir_agg_add
func exportAggAdd(handle, acc, in, groups, ret uint32) int32 {
	return abiAggAdd(handle, acc, in, groups, ret)
}

//go:wasmexport weir_agg_merge
func exportAggMerge(handle, acc, other, groups, ret uint32) int32 {
	return abiAggMerge(handle, acc, other, groups, ret)
}

//go:wasmexport weir_agg_result
func exportAggResult(handle, acc, ret uint32) int32 { return abiAggResult(handle, acc, ret) }

// The exports are only called by the host; referencing them here keeps
// linters that do not know //go:wasmexport from reporting them unused.
var _ = [...]any{
	exportABIv1, exportAlloc, exportFree, exportPlan, exportOpen, exportClose, exportMap,
	exportFilter, exportProcess, exportAggCreate, exportAggAdd, exportAggMerge, exportAggResult,
}
