package flows

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/internal/golden"
)

func TestParseDumpLineWithStats(t *testing.T) {
	line := " cookie=0x3, duration=2.658s, table=4, n_packets=5, n_bytes=300, idle_age=3, hard_age=4, priority=5,ct_state=+est+trk,ip actions=ct(table=5,zone=2,nat),output:4"
	f, st, err := ParseDumpLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if st != (FlowStats{Packets: 5, Bytes: 300}) {
		t.Errorf("stats = %+v, want 5 packets, 300 bytes", st)
	}
	if got, want := f.String(), "cookie=0x3, table=4, priority=5,ct_state=+est+trk,ip actions=ct(table=5,zone=2,nat),output:4"; got != want {
		t.Errorf("String()\n got %s\nwant %s", got, want)
	}
}

func TestParseDump(t *testing.T) {
	out := "OFPST_FLOW reply (OF1.3) (xid=0x2):\n cookie=0x0, duration=1s, table=0, n_packets=1, n_bytes=60, priority=0 actions=drop\n cookie=0x1, duration=1s, table=1, n_packets=0, n_bytes=0, arp actions=NORMAL\n"
	fs, sts, err := ParseDump(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[1].String() != "cookie=0x1, table=1, arp actions=NORMAL" || sts[0].Bytes != 60 {
		t.Errorf("ParseDump = %q %+v", flowsText(fs), sts)
	}
}

func TestParseFlowErrors(t *testing.T) {
	tests := []struct{ line, want string }{
		{"priority=1,ip", "no actions="},
		{"priority=1,foo=1 actions=drop", "unknown match field"},
		{"priority=1,bogus actions=drop", "unknown match keyword"},
		{"idle_timeout=10, priority=1 actions=drop", "not representable"},
		{"ct_state=+new+bogus actions=drop", `unknown ct_state flag "bogus"`},
		{"tcp,nw_proto=17 actions=drop", "nw_proto together with tcp"},
		{"ip,ip actions=drop", "ip given twice"},
		{"ip,nw_src=10.0.0.0/255.0.255.0 actions=drop", "nw_src"},
		{"actions=output:1,frobnicate", `action "frobnicate": unknown action`},
		{"ip actions=ct(commit", "unbalanced"},
		{"ip actions=ct(commit,alg=ftp)", "not representable"},
		{"actions=load:0x1->NXM_NX_NOPE[]", "unknown field"},
		{"actions=controller(userdata=00)", "not representable"},
		{"actions=learn(table=1,send_flow_rem)", "not representable"},
		{"actions=learn(table=1,fin_idle_timeout=5)", "not representable"},
		{"actions=learn(table=1,output:NXM_OF_IN_PORT[])", "not representable"},
		{"actions=learn(idle_timeout=1)", "learn without table="},
		{"actions=learn(table=1,NXM_NX_NOPE[])", "unknown field"},
		{"actions=learn(table=1,bogus=1)", `unknown field "bogus"`},
		{"actions=learn(table=1,load:0x1)", "want load:VALUE->FIELD"},
		{"tun_src=10.0.0.0/8 actions=drop", "masked tunnel address: not representable"},
		{"tun_src=fd00::1 actions=drop", "fd00::1 is not of the family tun_src names"},
		{"tun_ipv6_dst=10.0.0.1 actions=drop", "10.0.0.1 is not of the family tun_ipv6_dst names"},
		{"tun_src=10.0.0.1,tun_ipv6_src=fd00::1 actions=drop", "a tunnel address of each family"},
		{"tun_id=0x1,tun_id=0x2 actions=drop", "tun_id given twice"},
		{"actions=set_field:fd00::1->tun_dst", `"fd00::1" is not an address of the family tun_dst names`},
		{"actions=set_field:10.0.0.1->tun_ipv6_src", `"10.0.0.1" is not an address of the family tun_ipv6_src names`},
		{"actions=set_field:fe80::1%eth0->tun_ipv6_dst", "is not an address of the family"},
		{"actions=set_field:fd00::/64->tun_ipv6_dst", "is not an address of the family"},
	}
	for _, tc := range tests {
		_, err := ParseFlow(tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFlow(%q) error = %v, want it to contain %q", tc.line, err, tc.want)
		}
	}
}

// TestParseSetTunnel: the set_field forms of the four tunnel address
// fields parse as SetTunnel, whichever action printed them.
func TestParseSetTunnel(t *testing.T) {
	text := "set_field:192.168.100.12->tun_dst,set_field:0.0.0.0->tun_src,set_field:fd00:100::12->tun_ipv6_dst,set_field:::->tun_ipv6_src,set_field:::1.2.3.4->tun_ipv6_dst,load:0x1->NXM_NX_TUN_IPV4_DST[0]"
	want := []Action{SetTunnel{Addr: addr("192.168.100.12")}, SetTunnel{Src: true, Addr: addr("0.0.0.0")}, SetTunnel{Addr: addr("fd00:100::12")},
		SetTunnel{Src: true, Addr: addr("::")}, SetTunnel{Addr: addr("::1.2.3.4")}, Load{Field: Bits(FieldTunDst, 0, 1), Value: 1}}
	got, err := ParseActions(text)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ParseActions(%q)\n got %v\nwant %v", text, got, want)
	}
	if s := ActionsString(got); s != text {
		t.Errorf("ActionsString of the parsed actions\n got %s\nwant %s", s, text)
	}
	// The Loads the pipeline wrote before SetTunnel print the same.
	old := []Action{Load{Field: Whole(FieldTunDst), Value: 0xc0a8640c}, Load{Field: Whole(FieldTunSrc)}}
	if !SameActions(old, got[:2]) {
		t.Errorf("%s and %s are not the same actions", ActionsString(old), ActionsString(got[:2]))
	}
}

// TestParseRendersBack is the offline half of the round-trip property:
// parsing a rendered flow and rendering it again changes nothing.
func TestParseRendersBack(t *testing.T) {
	g := flowGen{r: newTestRand(t)}
	flows := []Flow{}
	for _, b := range briefFlows {
		flows = append(flows, b.flow)
	}
	for i := 0; i < 3000; i++ {
		flows = append(flows, g.flow())
	}
	for _, f := range flows {
		text := f.String()
		p, err := ParseFlow(text)
		if err != nil {
			t.Errorf("ParseFlow(%q): %v", text, err)
			continue
		}
		if got := p.String(); got != text {
			t.Errorf("parse and render changed the flow\n  was %s\n  now %s", text, got)
		}
		if p.Key() != f.Key() {
			t.Errorf("parse changed the key of %s", text)
		}
	}
}

// TestTextGolden pins the text form of the brief's flows and of a fixed
// sample of generated ones; run with -update after an intended change
// (including a change to the generator) and review the diff.
func TestTextGolden(t *testing.T) {
	var flows []Flow
	for _, b := range briefFlows {
		flows = append(flows, b.flow)
	}
	g := flowGen{r: newSeededRand(1)}
	for i := 0; i < 100; i++ {
		flows = append(flows, g.flow())
	}
	Sort(flows)
	got := strings.Join(flowsText(flows), "\n") + "\n"
	golden.Check(t, filepath.Join("testdata", "text.golden"), []byte(got))
}

func TestParseGroupErrors(t *testing.T) {
	tests := []struct{ line, want string }{
		{"group_id=1,type=all,bucket=actions=output:1", "only select groups"},
		{"group_id=1,type=select,bucket=watch_port:1,actions=drop", "not representable"},
		{"group_id=1,type=select,selection_method=hash", "not representable"},
		{"type=select", "want group_id= and type="},
		{"group_id=1,type=select,bucket=actions=frobnicate", "unknown action"},
		{"group_id=1,type=select,bucket=weight:x,actions=drop", "bucket weight"},
	}
	for _, tc := range tests {
		_, err := ParseGroup(tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseGroup(%q) error = %v, want it to contain %q", tc.line, err, tc.want)
		}
	}
}
