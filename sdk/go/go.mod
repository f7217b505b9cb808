module github.com/weirflow/weir/sdk/go

go 1.26
