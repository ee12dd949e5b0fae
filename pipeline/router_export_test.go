package pipeline

import "github.com/flowgate/flowgate/intent"

// Hooks for the external NAT integration tests (package pipeline_test),
// which drive the router stage directly until Compile calls it.
var (
	CompileRouters        = compileRouters
	RouterExample         = routerExample
	RouterExampleBindings = routerExampleBindings
)

// NetworkZones returns each network's id (= conntrack zone).
func NetworkZones(in *intent.Intent) map[string]uint16 { return assignIDs(in).zone }
