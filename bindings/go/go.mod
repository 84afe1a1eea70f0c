module example.invalid/sandbox/bindings/go

go 1.19
