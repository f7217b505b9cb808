module github.com/weirflow/weir/examples

go 1.26

require github.com/weirflow/weir/sdk/go v0.0.0

replace github.com/weirflow/weir/sdk/go => ../sdk/go
