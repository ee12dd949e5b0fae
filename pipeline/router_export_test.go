package pipeline

// The worked example with its router, for the external NAT integration
// tests (package pipeline_test).
var (
	RouterExample         = routerExample
	RouterExampleBindings = routerExampleBindings
)
