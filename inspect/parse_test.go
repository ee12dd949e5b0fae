package inspect

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/golden"
)

// TestParseTraceGolden parses ofproto/trace output captured from the lab
// (go test -run TestTrace -capture) and compares what the parser reads —
// steps, passes, NAT and datapath actions — with testdata/*.golden.
func TestParseTraceGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.trace")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.trace: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(parseTrace(mustRead(t, file))); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, strings.TrimSuffix(file, ".trace")+".golden", buf.Bytes())
		})
	}
}

// TestParseTraceDenied pins what the verdict depends on in a drop: the
// steps of both passes, the drop as the last step, the packet as the last
// pass ended.
func TestParseTraceDenied(t *testing.T) {
	tr := parseTrace(mustRead(t, "testdata/denied.trace"))
	if len(tr.Passes) != 2 || tr.Passes[1].Resume != "ct_state=new|trk" || tr.Datapath() != "drop" {
		t.Fatalf("passes %+v", tr.Passes)
	}
	first, last := tr.Steps[0], tr.Steps[len(tr.Steps)-1]
	if first.Table != 0 || first.Match != "in_port=1" || first.Priority != 100 || first.Cookie != 0x2000093c3efe1 ||
		len(first.Actions) != 3 || first.Actions[2] != "goto_table:10" || first.Pass != 0 {
		t.Errorf("first step %+v", first)
	}
	if last.Table != 60 || last.Priority != 0 || last.Pass != 1 || len(last.Actions) != 1 || last.Actions[0] != "drop" {
		t.Errorf("last step %+v", last)
	}
	if got := flowField(tr.Passes[1].Final, "reg1"); got != "0x3" {
		t.Errorf("reg1 of the final flow = %q, want 0x3", got)
	}
}

func TestDelivered(t *testing.T) {
	for in, want := range map[string]bool{
		"drop": false, "": false, "ct(zone=16433,nat),recirc(0x3)": false,
		"ct(commit,zone=16433,label=0x1/0xff),3": true, "3": true, "set(eth(src=02:00:00:00:00:01)),10": true,
		"tnl_push(tnl_port(5),header(size=50,type=5,geneve(vni=0x4031)),out_port(3))": true,
	} {
		if got := delivered(in); got != want {
			t.Errorf("delivered(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestLabelledCommits(t *testing.T) {
	passes := []TracePass{
		{Datapath: "ct(zone=16433,nat),recirc(0x4)"},
		{Datapath: "ct(commit,zone=16433,label=0x35b3c6a6044cef21/0xffffffffffffffff),4"},
		{Datapath: "ct(commit,zone=61670,nat(dst=10.0.0.21:22)),recirc(0x6)"},
	}
	got := labelledCommits(passes)
	if len(got) != 1 || got[0] != (commit{Zone: "16433", Label: "0x35b3c6a6044cef21", Pass: 1}) {
		t.Errorf("labelledCommits = %+v", got)
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
