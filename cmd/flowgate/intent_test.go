package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowgate/flowgate/intent"
	"github.com/flowgate/flowgate/store/storetest"
)

// runFlowgate runs the binary with env added and returns its stdout,
// stderr and exit status.
func runFlowgate(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("flowgate %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

var revisionLine = regexp.MustCompile(`etcd://[^ ]+/flowgate/intent/ revision (\d+)\n`)

// revisionIn finds "etcd://... revision N" in out.
func revisionIn(t *testing.T, out string) int64 {
	t.Helper()
	m := revisionLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no revision line in %q", out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// flowgate intent put / get / edit against an embedded etcd: every write
// validated whole first, a compare-and-swap on the revision, nothing
// written on a bad document or a conflict.
func TestIntentCommands(t *testing.T) {
	bin := buildFlowgate(t)
	srv := storetest.Start(t, storetest.Options{})
	dir := t.TempDir()
	run := func(env []string, args ...string) (string, string, int) {
		t.Helper()
		return runFlowgate(t, bin, env, append(args, "--config", "/dev/null")...)
	}
	env := []string{"FLOWGATE_STORE=" + srv.URL()}

	if _, errOut, code := run(env, "intent", "get"); code != 1 || !strings.Contains(errOut, "no intent stored under "+srv.URL()+"/flowgate/intent/") {
		t.Errorf("get of an empty store: exit %d, %q", code, errOut)
	}
	example, err := os.ReadFile(workedExample)
	if err != nil {
		t.Fatal(err)
	}
	bad := writeFile(t, dir, "bad.yaml", strings.Replace(string(example), "remote_group: web, ethertype: ipv4", "remote_group: wbe, ethertype: ipv4", 1))
	_, errOut, code := run(env, "intent", "put", bad)
	if code != 1 || !strings.Contains(errOut, "nothing written") ||
		!strings.Contains(errOut, `security_groups[db].rules[0].remote_group: unknown group "wbe"`) {
		t.Errorf("put of a bad document: exit %d, %q", code, errOut)
	}
	if _, _, code := run(env, "intent", "get"); code != 1 {
		t.Errorf("a refused put wrote something")
	}

	out, errOut, code := run(env, "intent", "put", workedExample)
	if code != 0 {
		t.Fatalf("put: exit %d, %s", code, errOut)
	}
	rev1 := revisionIn(t, out)
	if _, errOut, code := run(env, "intent", "put", workedExample); code != 1 || !strings.Contains(errOut, "an intent is already stored") {
		t.Errorf("a second put without --revision: exit %d, %q", code, errOut)
	}
	// The flag wins over the environment; JSON on stdin works too.
	out, errOut, code = run(nil, "intent", "get", "--store", srv.URL())
	if code != 0 || revisionIn(t, errOut) != rev1 {
		t.Fatalf("get: exit %d, %s", code, errOut)
	}
	doc, err := intent.Decode([]byte(out))
	if err != nil {
		t.Fatalf("get printed something that does not decode: %v\n%s", err, out)
	}
	asJSON, _ := json.Marshal(doc)
	cmd := exec.Command(bin, "intent", "put", "-", "--revision", strconv.FormatInt(rev1, 10), "--config", "/dev/null")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(asJSON)
	if b, err := cmd.CombinedOutput(); err != nil || revisionIn(t, string(b)) != rev1 {
		t.Errorf("put of the same document as JSON on stdin: %v, %s (want nothing written, revision %d)", err, b, rev1)
	}

	// edit: the editor changes the web port; stored at a new revision.
	editor := "sed -i -e s/8080/8081/g"
	out, errOut, code = run(append(env, "EDITOR="+editor), "intent", "edit")
	if code != 0 {
		t.Fatalf("edit: exit %d, %s", code, errOut)
	}
	rev2 := revisionIn(t, out)
	if got, _, _ := run(env, "intent", "get"); rev2 <= rev1 || !strings.Contains(got, `ports: "8081"`) || strings.Contains(got, "8080") {
		t.Errorf("after edit: revision %d (was %d)\n%s", rev2, rev1, got)
	}
	// An editor that changes nothing writes nothing.
	if _, errOut, code := run(append(env, "EDITOR=true"), "intent", "edit"); code != 0 || !strings.Contains(errOut, "no change; nothing written") {
		t.Errorf("edit without a change: exit %d, %q", code, errOut)
	}
	// An edit that breaks the document is refused and kept.
	_, errOut, code = run(append(env, "EDITOR=sed -i -e s/remote_group:\\ web/remote_group:\\ wbe/"), "intent", "edit")
	if code != 1 || !strings.Contains(errOut, `unknown group "wbe"`) || !strings.Contains(errOut, "your edit is in ") {
		t.Errorf("edit breaking the document: exit %d, %q", code, errOut)
	}
	// Someone else stores a change while the editor is open: the edit is
	// refused with a conflict, and theirs stays.
	other := writeFile(t, dir, "other.yaml", strings.ReplaceAll(string(example), "8080", "8090"))
	script := writeFile(t, dir, "editor.sh", "#!/bin/sh\n"+
		`"$FLOWGATE" intent put --force --config /dev/null "$OTHER" >/dev/null || exit 1`+"\n"+
		`sed -i -e s/8081/8082/g "$1"`+"\n")
	_, errOut, code = run(append(env, "EDITOR="+script, "FLOWGATE="+bin, "OTHER="+other), "intent", "edit")
	if code != 1 || !strings.Contains(errOut, "changed in etcd after revision "+strconv.FormatInt(rev2, 10)) || !strings.Contains(errOut, "your edit is in ") {
		t.Errorf("edit meeting a concurrent change: exit %d, %q", code, errOut)
	} else {
		t.Logf("edit meeting a concurrent change: %s", strings.TrimSpace(errOut))
	}
	if got, _, _ := run(env, "intent", "get"); !strings.Contains(got, `ports: "8090"`) {
		t.Errorf("the concurrent change was overwritten:\n%s", got)
	}
	if _, errOut, code := run(nil, "intent", "get"); code != 1 || !strings.Contains(errOut, "no store: give --store") {
		t.Errorf("get without a store: exit %d, %q", code, errOut)
	}
	t.Run("TLS", func(t *testing.T) { intentCommandsTLS(t, bin) })
}

// intentCommandsTLS: the intent commands over TLS with client certificates: a host's
// identity (read-only role) reads but cannot write; the operator's
// writes.
func intentCommandsTLS(t *testing.T, bin string) {
	srv := storetest.Start(t, storetest.Options{TLS: true})
	srv.EnableAuth("operator", "host1")
	as := func(cn string) []string {
		cert, key := srv.Certs.Client(cn)
		return []string{"FLOWGATE_STORE=" + srv.URL(), "FLOWGATE_STORE_CA=" + srv.Certs.CA,
			"FLOWGATE_STORE_CERT=" + cert, "FLOWGATE_STORE_KEY=" + key}
	}
	run := func(env []string, args ...string) (string, string, int) {
		t.Helper()
		return runFlowgate(t, bin, env, append(args, "--config", "/dev/null")...)
	}
	if _, errOut, code := run(as("operator"), "intent", "put", workedExample); code != 0 {
		t.Fatalf("the operator's put: exit %d, %s", code, errOut)
	}
	out, errOut, code := run(as("host1"), "intent", "get")
	if code != 0 || !strings.Contains(out, "name: web1") {
		t.Fatalf("the host's get: exit %d, %s", code, errOut)
	}
	changed := writeFile(t, t.TempDir(), "changed.yaml", strings.ReplaceAll(mustRead(t, workedExample), "8080", "8090"))
	if _, errOut, code := run(as("host1"), "intent", "put", "--force", changed); code != 1 || !strings.Contains(errOut, "permission denied") {
		t.Errorf("the host's put: exit %d, %q; want permission denied", code, errOut)
	}
	if out, _, _ := run(as("host1"), "intent", "get"); strings.Contains(out, "8090") {
		t.Error("the host's put changed the intent")
	}
}

// flowgate controller --store on the inspection lab's bridge: the status
// names etcd and the revision, a change put into etcd is applied, and
// flowgate diff --store says the bridge is in sync with that revision.
func TestControllerBinaryWithStoreOnOVS(t *testing.T) {
	l := newInspectLab(t)
	srv := storetest.Start(t, storetest.Options{})
	dir := t.TempDir()
	env := []string{"FLOWGATE_STORE=" + srv.URL()}
	out, errOut, code := runFlowgate(t, l.bin, env, "intent", "put", workedExample, "--config", "/dev/null")
	if code != 0 {
		t.Fatalf("put: %s", errOut)
	}
	rev1 := revisionIn(t, out)

	sock := filepath.Join(dir, "api.sock")
	api := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	var logs bytes.Buffer
	cmd := exec.Command(l.bin, "controller", "--config", "/dev/null", "--ovsdb", l.tb.OVS().DBEndpoint(),
		"--store", srv.URL(), "--intent", "/nonexistent/intent.yaml", "--api", "unix:"+sock, "--metrics", "")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("controller output:\n%s", logs.String())
		}
	})
	status := func(ok func(map[string]any) bool) map[string]any {
		t.Helper()
		var last map[string]any
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			resp, err := api.Get("http://flowgate/v1/status")
			if err != nil {
				continue
			}
			var s map[string]any
			err = json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
			if err == nil {
				last = s
				if ok(s) {
					return s
				}
			}
		}
		t.Fatalf("status never got there; last %v", last)
		return nil
	}
	s := status(func(s map[string]any) bool { return s["synced"] == true })
	if want := srv.URL() + "/flowgate/intent/ revision " + strconv.FormatInt(rev1, 10); s["intent_source"] != want || s["store_connected"] != true {
		t.Errorf("status: intent_source %v store_connected %v; want %q, true", s["intent_source"], s["store_connected"], want)
	}

	changed := writeFile(t, dir, "changed.yaml", strings.Replace(mustRead(t, workedExample),
		`- {direction: ingress, protocol: tcp, ports: "22", remote_cidr: 203.0.113.0/24}
      - {direction: egress, protocol: any, ethertype: ipv4}
      - {direction: egress, protocol: any, ethertype: ipv6}

routers:`, `- {direction: egress, protocol: any, ethertype: ipv4}
      - {direction: egress, protocol: any, ethertype: ipv6}

routers:`, 1))
	out, errOut, code = runFlowgate(t, l.bin, env, "intent", "put", changed, "--revision", strconv.FormatInt(rev1, 10), "--config", "/dev/null")
	if code != 0 {
		t.Fatalf("put of the change: %s", errOut)
	}
	rev2 := revisionIn(t, out)
	status(func(s map[string]any) bool {
		return s["intent_revision"] == float64(rev2) && s["synced"] == true
	})
	out, errOut, code = l.run("diff", "--store", srv.URL())
	if code != 0 || !strings.Contains(out, "in sync: ") ||
		!strings.Contains(out, "\nintent source: "+srv.URL()+"/flowgate/intent/ revision "+strconv.FormatInt(rev2, 10)+"\n") {
		t.Errorf("diff --store: exit %d, %s\n%s", code, errOut, out)
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
