package inspect

import (
	"os"
	"testing"
)

func TestParseTrace(t *testing.T) {
	for _, tc := range []struct {
		file      string
		steps     int
		lastTable uint8
		delivered bool
	}{
		{"testdata/allowed.trace", 9, 80, true},
		{"testdata/denied.trace", 7, 60, false},
	} {
		out, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		tr := parseTrace(string(out))
		if len(tr.Steps) != tc.steps || tr.Steps[len(tr.Steps)-1].Table != tc.lastTable {
			t.Errorf("%s: %d steps ending in table %d, want %d ending in %d: %+v", tc.file, len(tr.Steps),
				tr.Steps[len(tr.Steps)-1].Table, tc.steps, tc.lastTable, tr.Steps)
		}
		if delivered(tr.Datapath) != tc.delivered {
			t.Errorf("%s: datapath actions %q: delivered = %v", tc.file, tr.Datapath, !tc.delivered)
		}
	}
	first := parseTrace(mustRead(t, "testdata/allowed.trace")).Steps[0]
	if first.Table != 0 || first.Match != "in_port=1" || first.Priority != 100 || first.Cookie != 0x2000093c3efe1 ||
		len(first.Actions) != 3 || first.Actions[2] != "goto_table:10" {
		t.Errorf("first step %+v", first)
	}
}

func TestDelivered(t *testing.T) {
	for in, want := range map[string]bool{
		"drop": false, "": false, "ct(zone=16433,nat),recirc(0x3)": false,
		"ct(commit,zone=16433,label=0x1/0xff),3": true, "3": true, "set(eth(src=02:00:00:00:00:01)),10": true,
	} {
		if got := delivered(in); got != want {
			t.Errorf("delivered(%q) = %v, want %v", in, got, want)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
