package pipeline

// The worked example with its router and the flows' text form, for the
// external NAT integration tests (package pipeline_test).
var (
	RouterExample         = routerExample
	RouterExampleBindings = routerExampleBindings
	FlowsText             = flowsText
)
