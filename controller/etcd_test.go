package controller_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowgate/flowgate/controller"
	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/store"
	"github.com/flowgate/flowgate/testbed"
)

// waitStatus polls the controller's status until ok holds.
func (l *lab) waitStatus(what string, within time.Duration, ok func(controller.Status) bool) (controller.Status, time.Duration) {
	l.t.Helper()
	start := time.Now()
	for {
		st := l.ctrl.Status()
		if ok(st) {
			return st, time.Since(start)
		}
		if time.Since(start) > within {
			l.t.Fatalf("%s: not within %v; status %+v", what, within, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// storeDoc is the worked example with edit applied to its text.
func storeDoc(t *testing.T, edit func(string) string) *intent.Document {
	t.Helper()
	text := readTestdata(t, "worked.yaml")
	if edit != nil {
		next := edit(text)
		if next == text {
			t.Fatal("testdata/worked.yaml changed: the edit found nothing to change")
		}
		text = next
	}
	d, err := intent.Decode([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const dbSSHRule = `      - {direction: ingress, protocol: tcp, ports: "22", remote_cidr: 203.0.113.0/24}
      - {direction: egress, protocol: any, ethertype: ipv4}
      - {direction: egress, protocol: any, ethertype: ipv6}
  - name: client`

func withoutDBSSH(text string) string {
	return strings.Replace(text, dbSSHRule, strings.SplitN(dbSSHRule, "\n", 2)[1], 1)
}

// The controller in etcd mode: it follows the intent in etcd, applies a
// change written with store.Put within a second, refuses a document
// written by hand that does not validate (flows unchanged), answers a PUT
// based on a stale revision with 409, keeps its flows while etcd is
// stopped (fail static, said in the status) and resyncs when it is back.
func TestIntentFromEtcdOnOVS(t *testing.T) {
	l := newLabWith(t, labOpts{etcd: true})
	ctx := context.Background()
	op := l.openStore() // the operator's connection
	_, rev1, err := op.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := l.ctrl.Status()
	if !strings.HasPrefix(st.IntentSource, l.etcd.URL()+"/flowgate/intent/ revision ") || st.IntentRevision != rev1 ||
		st.StoreConnected == nil || !*st.StoreConnected {
		t.Errorf("status: intent_source %q revision %d store_connected %v; want %s/flowgate/intent/ at %d, connected",
			st.IntentSource, st.IntentRevision, st.StoreConnected, l.etcd.URL(), rev1)
	}
	adminSSH := l.session("admin", "db1", 22)
	webDB := l.session("web1", "db1", 3306)

	// Revoke db's ssh rule through the store.
	start := time.Now()
	rev2, err := op.Put(ctx, storeDoc(t, withoutDBSSH), rev1)
	if err != nil {
		t.Fatal(err)
	}
	st, took := l.waitStatus("the revoked rule applied", 5*time.Second, func(s controller.Status) bool {
		return s.IntentRevision == rev2 && s.LastApply.Time.After(start)
	})
	t.Logf("rule revoked in etcd: applied %v after the write (%d flow-mods, %s)", took, st.LastApply.FlowMods, st.LastApply.Duration)
	if took > time.Second {
		t.Errorf("a change in etcd took %v to apply, want < 1 s", took)
	}
	if err := l.tb.OVS().SettleDatapath(ctx); err != nil {
		t.Fatal(err)
	}
	if adminSSH.Alive() {
		t.Error("admin -> db1:22 survived the removal of its rule in etcd")
	}
	if !webDB.Alive() {
		t.Error("web1 -> db1:3306 died although its rule stayed")
	}

	// A key written by hand that makes the document invalid is refused
	// whole; the flows in force stay, and so does their revision, so a
	// PUT based on it meets a conflict.
	mods := st.LastApply.FlowMods
	handWritten := time.Now()
	if _, err := op.Client().Put(ctx, store.DefaultPrefix+"security_groups/db",
		`{"name": "db", "rules": [{"direction": "ingress", "protocol": "tcp", "ports": "3306", "remote_group": "wbe"}]}`); err != nil {
		t.Fatal(err)
	}
	st, _ = l.waitStatus("the hand-written key refused", 5*time.Second, func(s controller.Status) bool {
		return s.LastReload != nil && s.LastReload.Time.After(handWritten)
	})
	if want := `security_groups[db].rules[0].remote_group: unknown group "wbe"`; !strings.Contains(strings.Join(st.LastReload.Problems, "\n"), want) {
		t.Errorf("refused document: problems %q, want %q", st.LastReload.Problems, want)
	}
	if st.LastApply.FlowMods != mods || st.IntentRevision != rev2 {
		t.Errorf("the refused document changed something: %d flow-mods, revision %d (want %d)", st.LastApply.FlowMods, st.IntentRevision, rev2)
	}
	code, body := l.api(http.MethodPut, "/v1/intent", readTestdata(t, "worked.yaml"))
	if code != http.StatusConflict || !strings.Contains(body, "changed in etcd after revision") {
		t.Errorf("PUT against a stale revision: %d %s, want 409", code, body)
	}
	if !webDB.Alive() {
		t.Error("web1 -> db1:3306 died when a bad document in etcd was refused")
	}

	// The operator writes the document in force again (the one in force:
	// nothing to apply, only the revision moves), then the API writes
	// through to etcd against that revision.
	fixed, err := op.Put(ctx, storeDoc(t, withoutDBSSH), store.Any)
	if err != nil {
		t.Fatal(err)
	}
	l.waitStatus("the fixed document", 5*time.Second, func(s controller.Status) bool { return s.IntentRevision == fixed })
	code, body = l.api(http.MethodPut, "/v1/intent", readTestdata(t, "worked.yaml"))
	if code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	_, rev3, err := op.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := l.ctrl.Status(); st.IntentRevision != rev3 {
		t.Errorf("after the PUT: revision in force %d, stored %d", st.IntentRevision, rev3)
	}
	code, body = l.api(http.MethodGet, "/v1/intent", "")
	if code != http.StatusOK || !strings.Contains(body, `"ports":"22"`) {
		t.Errorf("GET after the PUT: %d\n%s", code, body)
	}

	// etcd stops: the controller says so and keeps its flows.
	mods = l.ctrl.Status().LastApply.FlowMods
	l.etcd.Stop()
	st, took = l.waitStatus("etcd lost", 5*time.Second, func(s controller.Status) bool {
		return s.StoreConnected != nil && !*s.StoreConnected
	})
	t.Logf("etcd stopped: status says so after %v", took)
	l.expectTCP("web1", "db1", false, 3306, testbed.OK)
	l.expectTCP("outside", "db1", false, 3306, testbed.TimedOut)
	if code, body := l.api(http.MethodPut, "/v1/intent", readTestdata(t, "worked.yaml")); code != http.StatusServiceUnavailable {
		t.Errorf("PUT while etcd is down: %d %s, want 503", code, body)
	}
	if st := l.ctrl.Status(); st.LastApply.FlowMods != mods || st.IntentRevision != rev3 || !st.Synced {
		t.Errorf("while etcd was down the flows changed: %+v", st)
	}

	// etcd is back: the controller resyncs and follows changes again.
	l.etcd.Restart()
	_, took = l.waitStatus("etcd back", 10*time.Second, func(s controller.Status) bool {
		return s.StoreConnected != nil && *s.StoreConnected && s.IntentRevision == rev3
	})
	t.Logf("etcd restarted: resynced after %v", took)
	start = time.Now()
	_, err = op.Put(ctx, storeDoc(t, func(text string) string {
		return strings.Replace(text, `allowed_address_pairs: [{ip: 198.51.100.7/32}, {ip: "2001:db8:100::7/128"}]
    security_groups: [client]`, `allowed_address_pairs: [{ip: 198.51.100.7/32}, {ip: "2001:db8:100::7/128"}]
    security_groups: [client, web]`, 1)
	}), rev3)
	if err != nil {
		t.Fatal(err)
	}
	_, took = l.waitStatus("outside joined web", 5*time.Second, func(s controller.Status) bool {
		return s.IntentRevision > rev3 && s.LastApply.Time.After(start)
	})
	t.Logf("after the resync, a change in etcd applied %v after the write", took)
	if took > time.Second {
		t.Errorf("a change after the resync took %v, want < 1 s", took)
	}
	if err := l.tb.OVS().SettleDatapath(ctx); err != nil {
		t.Fatal(err)
	}
	l.expectTCP("outside", "db1", false, 3306, testbed.OK)
}
