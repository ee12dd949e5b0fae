package inspect

import (
	"fmt"
	"io"

	"github.com/flowgate/flowgate/flows"
	"github.com/flowgate/flowgate/pipeline"
)

// Diff is what turns the installed flows into the desired ones. Flows the
// datapath learned (services' affinity) are the datapath's, not a
// difference.
func (s *Snapshot) Diff() flows.ChangeSet {
	managed := make([]flows.Flow, 0, len(s.Installed))
	for i := range s.Installed {
		if !pipeline.IsLearned(&s.Installed[i]) {
			managed = append(managed, s.Installed[i])
		}
	}
	return flows.Diff(s.Desired, managed)
}

// WriteDiff prints what the switch lacks (+), holds differently (~, shown
// as desired) and holds in excess (-), each flow with the object behind
// it, then a summary line; it reports whether anything differs. A flow
// whose cookie alone differs is a - and a + (OpenFlow cannot modify a
// cookie).
func (s *Snapshot) WriteDiff(w io.Writer) bool {
	cs := s.Diff()
	installed := make(map[string]flows.Flow, len(s.Installed))
	for _, f := range s.Installed {
		installed[f.Key()] = f
	}
	for _, l := range []struct {
		mark string
		fs   []flows.Flow
	}{{"+", cs.Add}, {"~", cs.Modify}, {"-", cs.Delete}} {
		for _, f := range l.fs {
			fmt.Fprintf(w, "%s %s\n    # %s\n", l.mark, f.String(), describe(s.namer, f.Cookie))
			if l.mark == "~" {
				fmt.Fprintf(w, "    # installed: actions=%s\n", flows.ActionsString(installed[f.Key()].Actions))
			}
		}
	}
	state := "in sync"
	if !cs.Empty() {
		state = "differ"
	}
	fmt.Fprintf(w, "%s: %d desired, %d installed: %d to add, %d to modify, %d to delete\n",
		state, len(s.Desired), len(s.Installed), len(cs.Add), len(cs.Modify), len(cs.Delete))
	return !cs.Empty()
}
