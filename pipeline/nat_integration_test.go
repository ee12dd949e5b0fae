package pipeline_test

// Issue 5 acceptance: the intent of the worked example with its router,
// compiled by pipeline.Compile (security groups and router stage alike) and
// installed on a private userspace OVS, proven with real TCP and UDP
// between namespaces.

import (
	"testing"

	"github.com/flowgate/flowgate/pipeline"
)

func TestNATCompiledRouterOnOVS(t *testing.T) {
	fs, err := pipeline.Compile(pipeline.RouterExample(), pipeline.RouterExampleBindings())
	if err != nil {
		t.Fatal(err)
	}
	l := newNATLab(t)
	l.install(t, pipeline.FlowsText(fs))
	checkRouterBehaviour(t, l)
	l.logConntrack(t)
}
