package ovsdb_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/ovsdb"
	"github.com/flowgate/flowgate/testbed"
)

// kernelDatapath is what "auto" must resolve to on this machine: the
// kernel datapath only where the openvswitch module is loaded.
func kernelDatapath() string {
	if _, err := os.Stat("/sys/module/openvswitch"); err == nil {
		return "system"
	}
	return "netdev"
}

func TestResolveDatapath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode, want string
		wantErr    bool
	}{
		{mode: "", want: kernelDatapath()},
		{mode: "auto", want: kernelDatapath()},
		{mode: "system", want: "system"},
		{mode: "netdev", want: "netdev"},
		{mode: "dpdk", wantErr: true},
		{mode: "NETDEV", wantErr: true},
	} {
		got, err := ovsdb.ResolveDatapath(tc.mode)
		switch {
		case tc.wantErr && err == nil:
			t.Errorf("ResolveDatapath(%q) = %q, want an error", tc.mode, got)
		case tc.wantErr && !strings.Contains(err.Error(), tc.mode):
			t.Errorf("ResolveDatapath(%q) error %q does not name the value", tc.mode, err)
		case !tc.wantErr && (err != nil || got != tc.want):
			t.Errorf("ResolveDatapath(%q) = %q, %v; want %q", tc.mode, got, err, tc.want)
		}
	}
}

// bridgeView is the bridge as ovs-vsctl reports it.
type bridgeView struct {
	uuid, failMode, datapath, protocols, inBand, controllers string
	controllerRows                                           []string
}

func viewBridge(t *testing.T, o *testbed.OVS, name string) bridgeView {
	t.Helper()
	return bridgeView{
		uuid:           vsctlValue(t, o, "Bridge", name, "_uuid"),
		failMode:       vsctl(t, o, "get-fail-mode", name),
		datapath:       vsctlValue(t, o, "Bridge", name, "datapath_type"),
		protocols:      vsctlValue(t, o, "Bridge", name, "protocols"),
		inBand:         vsctlValue(t, o, "Bridge", name, "other_config:disable-in-band"),
		controllers:    vsctl(t, o, "get-controller", name),
		controllerRows: strings.Fields(vsctl(t, o, "--bare", "--columns=_uuid", "list", "Controller")),
	}
}

// EnsureBridge creates a fail-secure OpenFlow 1.3 bridge on the datapath
// "auto" resolves to, with the controller target and in-band control off,
// as ovs-vsctl and ovs-vswitchd see it; repeating it changes nothing;
// a new target replaces the Controller row; an empty one removes it.
func TestEnsureBridgeOnOVS(t *testing.T) {
	t.Parallel()
	o := testbed.NewOVS(t)
	c := connect(t, o)
	ctx := context.Background()
	const target = "tcp:127.0.0.1:6653"

	if err := c.EnsureBridge(ctx, "br-int", "auto", target); err != nil {
		t.Fatal(err)
	}
	first := viewBridge(t, o, "br-int")
	if first.failMode != "secure" {
		t.Errorf("fail mode %q, want secure", first.failMode)
	}
	if first.datapath != kernelDatapath() {
		t.Errorf("datapath_type %q, want %q (auto on a machine where /sys/module/openvswitch exists: %v)",
			first.datapath, kernelDatapath(), kernelDatapath() == "system")
	}
	if !strings.Contains(first.protocols, "OpenFlow13") {
		t.Errorf("protocols %s lack OpenFlow13", first.protocols)
	}
	if first.inBand != "true" {
		t.Errorf("other_config:disable-in-band %q, want true", first.inBand)
	}
	if first.controllers != target || len(first.controllerRows) != 1 {
		t.Errorf("controller %q with %d Controller rows, want %s in one row", first.controllers, len(first.controllerRows), target)
	}
	// ovs-vswitchd itself took the bridge and speaks OpenFlow 1.3 on it.
	eventually(t, "ovs-ofctl -O OpenFlow13 show br-int", func() (bool, string) {
		out, err := o.Ofctl(ctx, "show", "br-int")
		return err == nil && strings.Contains(out, "OFPT_FEATURES_REPLY (OF1.3)"), out + errString(err)
	})
	// DatapathID reads what ovs-vswitchd published, the id the switch
	// announces in its features reply.
	eventually(t, "DatapathID equals ovs-ofctl show's dpid", func() (bool, string) {
		id, ok, err := c.DatapathID(ctx, "br-int")
		out, _ := o.Ofctl(ctx, "show", "br-int")
		return err == nil && ok && strings.Contains(out, fmt.Sprintf("dpid:%016x", id)), fmt.Sprintf("%016x %v %v in %s", id, ok, err, out)
	})
	if _, _, err := c.DatapathID(ctx, "br-none"); err == nil {
		t.Error("DatapathID of a missing bridge: no error")
	}

	for range 3 {
		if err := c.EnsureBridge(ctx, "br-int", "auto", target); err != nil {
			t.Fatalf("EnsureBridge again: %v", err)
		}
	}
	if again := viewBridge(t, o, "br-int"); !equalViews(again, first) {
		t.Errorf("repeated EnsureBridge changed the bridge:\n before %+v\n after  %+v", first, again)
	}
	if n := len(strings.Fields(vsctl(t, o, "list-br"))); n != 1 {
		t.Errorf("%d bridges after repeated EnsureBridge, want 1", n)
	}

	const moved = "tcp:127.0.0.1:6654"
	if err := c.EnsureBridge(ctx, "br-int", "auto", moved); err != nil {
		t.Fatal(err)
	}
	retargeted := viewBridge(t, o, "br-int")
	if retargeted.controllers != moved || len(retargeted.controllerRows) != 1 || retargeted.uuid != first.uuid {
		t.Errorf("after a new target: bridge %s controller %q rows %v; want bridge %s, only %s",
			retargeted.uuid, retargeted.controllers, retargeted.controllerRows, first.uuid, moved)
	}

	if err := c.EnsureBridge(ctx, "br-int", "auto", ""); err != nil {
		t.Fatal(err)
	}
	if none := viewBridge(t, o, "br-int"); none.controllers != "" || len(none.controllerRows) != 0 || none.failMode != "secure" {
		t.Errorf("after an empty target: controller %q rows %v fail mode %q; want none, none, secure",
			none.controllers, none.controllerRows, none.failMode)
	}
}

func equalViews(a, b bridgeView) bool {
	return a.uuid == b.uuid && a.failMode == b.failMode && a.datapath == b.datapath &&
		a.protocols == b.protocols && a.inBand == b.inBand && a.controllers == b.controllers &&
		slices.Equal(a.controllerRows, b.controllerRows)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

// A bridge someone else made (standalone, OpenFlow 1.0 only, in-band on,
// other_config of its own) is brought into line without losing what it
// had: same row, its protocol and other_config keys kept.
func TestEnsureBridgeAdoptsExistingOnOVS(t *testing.T) {
	t.Parallel()
	o := testbed.NewOVS(t)
	c := connect(t, o)
	ctx := context.Background()
	vsctl(t, o, "add-br", "br-old", "--", "set", "Bridge", "br-old", "datapath_type=netdev",
		"fail_mode=standalone", "protocols=OpenFlow10", "other_config:hwaddr=02:00:00:00:00:aa")
	uuid := vsctlValue(t, o, "Bridge", "br-old", "_uuid")
	eventually(t, "library sees br-old", func() (bool, string) {
		_, err := c.BridgeExternalID(ctx, "br-old", "created-by")
		return err == nil, errString(err)
	})

	if err := c.EnsureBridge(ctx, "br-old", "netdev", "tcp:127.0.0.1:6653"); err != nil {
		t.Fatal(err)
	}
	v := viewBridge(t, o, "br-old")
	if v.uuid != uuid || v.failMode != "secure" || v.inBand != "true" || v.controllers != "tcp:127.0.0.1:6653" {
		t.Errorf("adopted bridge %+v; want row %s, secure, in-band off, the controller", v, uuid)
	}
	for _, p := range []string{"OpenFlow10", "OpenFlow13"} {
		if !strings.Contains(v.protocols, p) {
			t.Errorf("protocols %s lack %s", v.protocols, p)
		}
	}
	if got := vsctlValue(t, o, "Bridge", "br-old", "other_config:hwaddr"); got != "02:00:00:00:00:aa" {
		t.Errorf("other_config:hwaddr %q after EnsureBridge, want it kept", got)
	}
}

func TestEnsureBridgeRejectsUnknownDatapathOnOVS(t *testing.T) {
	t.Parallel()
	o := testbed.NewOVS(t)
	c := connect(t, o)
	err := c.EnsureBridge(context.Background(), "br-int", "dpdk", "")
	if err == nil || !strings.Contains(err.Error(), "br-int") {
		t.Errorf("EnsureBridge with datapath dpdk: %v; want an error naming the bridge", err)
	}
	if got := vsctl(t, o, "list-br"); got != "" {
		t.Errorf("bridges after a refused EnsureBridge: %q", got)
	}
}

// Bridge external_ids written through the library are what ovs-vsctl
// reads and vice versa; overwriting a key replaces it, other keys stay.
func TestBridgeExternalIDOnOVS(t *testing.T) {
	t.Parallel()
	o := testbed.NewOVS(t)
	c := connect(t, o)
	ctx := context.Background()
	if err := c.EnsureBridge(ctx, "br-int", "netdev", ""); err != nil {
		t.Fatal(err)
	}
	libraryReads := func(key, want string) {
		t.Helper()
		eventually(t, "BridgeExternalID("+key+") = "+want, func() (bool, string) {
			got, err := c.BridgeExternalID(ctx, "br-int", key)
			return err == nil && got == want, got + errString(err)
		})
	}

	for _, value := range []string{"gen-1", "gen-2"} {
		if err := c.SetBridgeExternalID(ctx, "br-int", "flowgate-generation", value); err != nil {
			t.Fatal(err)
		}
		if got := vsctlValue(t, o, "Bridge", "br-int", "external_ids:flowgate-generation"); got != value {
			t.Errorf("ovs-vsctl reads external_ids:flowgate-generation=%q, want %q", got, value)
		}
		libraryReads("flowgate-generation", value)
	}
	if got := vsctlValue(t, o, "Bridge", "br-int", "external_ids:created-by"); got != "flowgate" {
		t.Errorf("external_ids:created-by %q after setting another key, want flowgate", got)
	}

	vsctl(t, o, "set", "Bridge", "br-int", "external_ids:owner=ops")
	libraryReads("owner", "ops")
	libraryReads("never-set", "")

	if err := c.SetBridgeExternalID(ctx, "br-none", "k", "v"); err == nil || !strings.Contains(err.Error(), "br-none") {
		t.Errorf("SetBridgeExternalID on a missing bridge: %v; want an error naming it", err)
	}
	if _, err := c.BridgeExternalID(ctx, "br-none", "k"); err == nil || !strings.Contains(err.Error(), "br-none") {
		t.Errorf("BridgeExternalID on a missing bridge: %v; want an error naming it", err)
	}
}

// flow-restore-wait set by the operator is reported, ClearFlowRestoreWait
// removes just that key (ovs-vsctl no longer sees it, other keys stay)
// and clearing it when unset is harmless.
func TestFlowRestoreWaitOnOVS(t *testing.T) {
	t.Parallel()
	o := testbed.NewOVS(t)
	c := connect(t, o)
	ctx := context.Background()
	reports := func(want bool) {
		t.Helper()
		eventually(t, "FlowRestoreWait reports the database", func() (bool, string) {
			got, err := c.FlowRestoreWait(ctx)
			return err == nil && got == want, fmt.Sprintf("FlowRestoreWait=%v%s", got, errString(err))
		})
	}

	reports(false)
	vsctl(t, o, "set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true", "other_config:keep=me")
	reports(true)

	if err := c.ClearFlowRestoreWait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := vsctl(t, o, "--if-exists", "get", "Open_vSwitch", ".", "other_config:flow-restore-wait"); got != "" {
		t.Errorf("other_config:flow-restore-wait is %s after ClearFlowRestoreWait", got)
	}
	if got := vsctlValue(t, o, "Open_vSwitch", ".", "other_config:keep"); got != "me" {
		t.Errorf("other_config:keep %q after ClearFlowRestoreWait, want it kept", got)
	}
	reports(false)

	if err := c.ClearFlowRestoreWait(ctx); err != nil {
		t.Errorf("ClearFlowRestoreWait when unset: %v", err)
	}
}
