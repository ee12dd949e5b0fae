package intent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
)

// hostileCase is a document an attacker or an unlucky operator might
// hand the controller, and a part of the reason it must be refused with.
type hostileCase struct {
	name string
	doc  func() string
	want string // substring of one of the problems
}

func lit(s string) func() string { return func() string { return s } }

// hostileDocuments are the bad-input table: malformed YAML, wrong types,
// unknown keys, out-of-range values, dangling references, oversized
// documents, nesting and anchor bombs, NUL bytes and control characters
// in names. Every one is refused.
var hostileDocuments = []hostileCase{
	// Malformed YAML.
	{"unclosed flow list", lit("networks: [\n"), "yaml"},
	{"tab indentation", lit("networks:\n\t- name: a\n"), "yaml"},
	{"mapping under a scalar", lit("bridge: a\n  datapath: b\n"), "yaml"},
	{"unterminated quote", lit("bridge: \"br-int\n"), "yaml"},
	{"colons only", lit(": : :\n"), ""},
	{"two documents", lit("bridge: a\n---\nbridge: b\n"), "more than one YAML document"},
	{"empty document", lit(""), "empty document"},
	{"null document", lit("~\n"), "empty document (null)"},
	{"comment only", lit("# nothing here\n"), "empty document"},
	{"invalid UTF-8", lit("bridge: \"\xff\xfe\"\n"), "yaml"},
	{"top-level list", lit("- a\n- b\n"), "expected a mapping, got a list"},
	{"top-level scalar", lit("hello\n"), "expected a mapping"},
	{"broken JSON", lit(`{"bridge" "br-int"}`), "yaml"},
	{"undefined alias", lit("bridge: *nope\n"), "unknown anchor"},
	{"raw NUL byte", lit("bridge: br\x00int\n"), "yaml"},

	// Wrong types.
	{"networks is a string", lit("networks: tenant\n"), "networks: expected a list"},
	{"ports is a mapping", lit("ports: {name: web1}\n"), "ports: expected a list, got a mapping"},
	{"group is a scalar", lit("security_groups: [web]\n"), "security_groups[0]: expected a mapping"},
	{"rules is a scalar", lit("security_groups: [{name: g, rules: allow}]\n"), "security_groups[g].rules: expected a list"},
	{"port_security not a bool", lit(tenant + ports("{name: p, network: tenant, mac: '02:00:00:00:00:01', port_security: yes-please}")), "ports[p].port_security: expected true or false"},
	{"stateful is a number", lit("security_groups: [{name: g, stateful: 1}]\n"), "security_groups[g].stateful: expected true or false"},
	{"icmp_type is a word", lit(rules("{direction: ingress, protocol: icmp, icmp_type: eight}")), "icmp_type: expected an integer"},
	{"external_port is a float", lit(edge("port_forwards: [{external_port: 1.5, port: db1, internal_port: 22}]")), "external_port: expected an integer"},
	{"external is a list", lit(tenant + "routers: [{name: r, external: [a]}]\n"), "routers[r].external: expected a mapping"},
	{"ips is a scalar list", lit(tenant + ports("{name: p, network: tenant, mac: '02:00:00:00:00:01', ips: {a: 1}}")), "ports[p].ips: expected a list"},
	{"name is a list", lit("networks: [{name: [a, b]}]\n"), "networks[0].name: expected a string, got a list"},
	{"qos is a bool", lit(tenant + ports("{name: p, network: tenant, mac: '02:00:00:00:00:01', qos: {ingress_kbps: true}}")), "ingress_kbps: expected an integer"},
	{"weight is a mapping", lit(service("{name: s, vip: 10.0.0.200, port: 80, backends: [{port: web1, weight: {}}]}")), "weight: expected an integer"},
	{"integer overflows int64", lit(rules("{direction: ingress, protocol: icmp, icmp_type: 99999999999999999999}")), "icmp_type: expected an integer"},

	// Unknown keys.
	{"misspelt top-level key", lit("bridges: br-int\n"), `unknown field; did you mean "bridge"?`},
	{"misspelt port key", lit(tenant + ports("{name: p, network: tenant, mac: '02:00:00:00:00:01', secruity_groups: [a]}")), "ports[p].secruity_groups: unknown field"},
	{"rule key port", lit(rules("{direction: ingress, protocol: tcp, port: 22}")), `did you mean "ports"?`},
	{"external key gw", lit(edge() + "- {name: r2, external: {gw: 1.2.3.4}}\n"), "routers[r2].external.gw: unknown field"},
	{"key with a control character", lit("\"a\\x01b\": 1\n"), `unknown field "a\x01b"`},
	{"100 KB key", func() string { return "? " + strings.Repeat("k", 100_000) + "\n: 1\n" }, `unknown field "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"... (100000 bytes)`},
	{"key given twice", lit("bridge: a\nbridge: b\n"), "bridge: key given twice"},

	// Out-of-range values.
	{"port 0", lit(rules("{direction: ingress, protocol: tcp, ports: '0'}")), "port 0 is not a port"},
	{"port 65536", lit(rules("{direction: ingress, protocol: tcp, ports: '65536'}")), "ports are 1-65535"},
	{"reversed range", lit(rules("{direction: ingress, protocol: tcp, ports: 90-80}")), "range 90-80 is reversed"},
	{"three-part range", lit(rules("{direction: ingress, protocol: tcp, ports: 1-2-3}")), "is not a port or a range"},
	{"protocol 256", lit(rules("{direction: ingress, protocol: '256'}")), "protocol number 0-255"},
	{"icmp_type 300", lit(rules("{direction: ingress, protocol: icmp, icmp_type: 300}")), "300 is out of range 0-255"},
	{"icmp_code -1", lit(rules("{direction: ingress, protocol: icmp, icmp_type: 3, icmp_code: -1}")), "-1 is out of range 0-255"},
	{"qos negative", lit(tenant + ports("{name: p, network: tenant, mac: '02:00:00:00:00:01', qos: {ingress_kbps: -1}}")), "-1 is negative"},
	{"qos over uint32", lit(tenant + ports("{name: p, network: tenant, mac: '02:00:00:00:00:01', qos: {egress_kbps: 4294967296}}")), "is more than 4294967295"},
	{"service port 70000", lit(service("{name: s, vip: 10.0.0.200, port: 70000}")), "ports are 1-65535"},
	{"affinity a day", lit(service("{name: s, vip: 10.0.0.200, port: 80, affinity_seconds: 86400}")), "more than 65535"},
	{"weight 0", lit(service("{name: s, vip: 10.0.0.200, port: 80, backends: [{port: web1, weight: 0}]}")), "0 is out of range 1-65535"},
	{"cidr /33", lit("networks: [{name: n, cidr: 10.0.0.0/33}]\n"), "is not a valid prefix"},
	{"snat ports from 0", lit(edge("snat: [{network: tenant, ports: 0-10}]")), "port 0 is not a port"},
	{"external_port 0", lit(edge("port_forwards: [{external_port: 0, port: db1, internal_port: 22}]")), "0 is not a port"},
	{"internal_port 65536", lit(edge("port_forwards: [{external_port: 2222, port: db1, internal_port: 65536}]")), "ports are 1-65535"},
	{"broadcast MAC", lit(tenant + ports("{name: p, network: tenant, mac: 'ff:ff:ff:ff:ff:ff'}")), "broadcast address"},
	{"datapath kernel", lit("datapath: kernel\n"), `"kernel" is not auto, system or netdev`},
	{"IP out of range", lit(tenant + ports("{name: p, network: tenant, mac: '02:00:00:00:00:01', ips: [10.0.0.300]}")), `"10.0.0.300" is not an IP address`},

	// Dangling references.
	{"port on an unknown network", lit(tenant + ports("{name: p, network: tenat, mac: '02:00:00:00:00:01'}")), `unknown network "tenat"`},
	{"port in an unknown group", lit(tenant + ports("{name: p, network: tenant, mac: '02:00:00:00:00:01', security_groups: [nope]}")), `unknown group "nope"`},
	{"rule names an unknown group", lit(rules("{direction: ingress, remote_group: wbe}")), `unknown group "wbe"`},
	{"router joins an unknown network", lit(tenant + "routers: [{name: r, networks: [nope], external: {port: up, mac: '02:00:c0:00:02:0a', ip: 192.0.2.10/24, gateway: 192.0.2.1}}]\n"), `unknown network "nope"`},
	{"floating IP of an unknown port", lit(edge("floating_ips: [{port: web9, ip: 192.0.2.11}]")), `unknown port "web9"`},
	{"forward to an unknown port", lit(edge("port_forwards: [{external_port: 2222, port: db9, internal_port: 22}]")), `unknown port "db9"`},
	{"snat of a network not joined", lit(edge("snat: [{network: other}]")), `network "other" is not one of`},
	{"backend on an unknown port", lit(service("{name: s, vip: 10.0.0.200, port: 80, backends: [{port: web9}]}")), `unknown port "web9"`},
	{"dangling reference of 1 MB", func() string { return rules("{direction: ingress, remote_group: " + strings.Repeat("g", 1<<20) + "}") }, `unknown group "gggggggggggggggggggggggggggggggg"... (1048576 bytes)`},

	// Oversized documents.
	{"10 MB document", func() string { return "# " + strings.Repeat("x", 10<<20) + "\n{}\n" }, "bytes; at most 8388608"},
	{"10 MB bridge name", func() string { return "bridge: " + strings.Repeat("b", 10<<20) + "\n" }, "bytes; at most 8388608"},
	{"7 MB bridge name", func() string { return "bridge: " + strings.Repeat("b", 7<<20) + "\n" }, `bridge: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"... (7340032 bytes) is longer than 15 bytes`},
	{"1 MB port name", func() string {
		return tenant + ports("{name: "+strings.Repeat("p", 1<<20)+", network: tenant, mac: '02:00:00:00:00:01'}")
	}, `ports[0].name: "pppppppppppppppppppppppppppppppp"... (1048576 bytes) is longer than 64 bytes`},
	{"100k rules in one group", func() string {
		return "security_groups:\n- name: g\n  rules:\n" + strings.Repeat("  - {direction: ingress}\n", 100_000)
	}, "security_groups[g].rules: 100000 items; at most 65536"},
	{"100k rules in two groups", func() string {
		g := strings.Repeat("  - {direction: ingress}\n", 50_000)
		return "security_groups:\n- name: a\n  rules:\n" + g + "- name: b\n  rules:\n" + g
	}, "security_groups: 100000 rules in all; at most 50000"},
	{"100k ports", func() string { return "ports:\n" + strings.Repeat("- {}\n", 100_000) }, "ports: 100000 items; at most 65536"},

	// Nesting and anchor bombs.
	{"billion laughs (merges)", func() string {
		doc := "security_groups:\n- &m0 {name: g0}\n"
		for i := 1; i <= 40; i++ {
			doc += fmt.Sprintf("- &m%d {<<: [*m%d, *m%d], name: g%d}\n", i, i-1, i-1, i)
		}
		return doc
	}, "document expands to too many values"},
	{"alias of a long list, many times", func() string {
		doc := "security_groups:\n- name: g0\n  rules: &big\n" + strings.Repeat("  - {direction: ingress}\n", 10_000)
		for i := 1; i <= 1000; i++ {
			doc += fmt.Sprintf("- {name: g%d, rules: *big}\n", i)
		}
		return doc
	}, "document expands to too many values"},
	{"deep list nesting", func() string { return "bridge: " + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "\n" }, ""},
	{"deep mapping nesting", func() string {
		return "bridge: " + strings.Repeat("{a: ", 50_000) + "b" + strings.Repeat("}", 50_000) + "\n"
	}, ""},
	{"merge of itself", lit("security_groups: [&a {name: g, <<: *a}]\n"), ""},
	{"merge bomb in ports", func() string {
		doc := tenant + "ports:\n- &p0 {name: p0, network: tenant}\n"
		for i := 1; i <= 30; i++ {
			doc += fmt.Sprintf("- &p%d {<<: [*p%d, *p%d, *p%d], name: p%d}\n", i, i-1, i-1, i-1, i)
		}
		return doc
	}, "document expands to too many values"},

	// NUL bytes.
	{"NUL in the bridge name", lit("bridge: \"br\\0int\"\n"), `contains '\x00'`},
	{"NUL in a port name", lit(tenant + ports("{name: \"web\\0\", network: tenant, mac: '02:00:00:00:00:01'}")), `ports[0].name: "web\x00" contains '\x00'`},
	{"NUL in a reference", lit(rules("{direction: ingress, remote_group: \"g\\0\"}")), `unknown group "g\x00"`},

	// Control characters and other bytes in names.
	{"newline in a port name", lit(tenant + ports("{name: \"web1\\nlevel=ERROR msg=forged\", network: tenant, mac: '02:00:00:00:00:01'}")), `ports[0].name: "web1\nlevel=ERROR msg=forged" contains '\n'`},
	{"carriage return in a group name", lit("security_groups: [{name: \"g\\r\"}]\n"), `security_groups[0].name: "g\r" contains '\r'`},
	{"tab in a network name", lit("networks: [{name: \"ten\\tant\"}]\n"), `networks[0].name: "ten\tant" contains '\t'`},
	{"escape sequence in a router name", lit(edge() + "- {name: \"\\e[31mred\", external: {port: up2, mac: '02:00:c0:00:02:0b', ip: 192.0.2.20/24, gateway: 192.0.2.1}}\n"), `routers[1].name: "\x1b[31mred" contains '\x1b'`},
	{"DEL in a service name", lit(service("{name: \"s\\x7f\", vip: 10.0.0.200, port: 80}")), `services[0].name: "s\x7f" contains '\x7f'`},
	{"newline in the bridge name", lit("bridge: \"br\\nint\"\n"), `bridge: "br\nint" contains '\n'`},
	{"newline in the uplink port", lit(tenant + "routers: [{name: r, networks: [tenant], external: {port: \"up\\n\", mac: '02:00:c0:00:02:0a', ip: 192.0.2.10/24, gateway: 192.0.2.1}}]\n"), `routers[r].external.port: "up\n" contains '\n'`},
	{"non-ASCII name", lit("networks: [{name: wébnet}]\n"), `networks[0].name: "wébnet" contains 'é'`},
	{"space in a name", lit("security_groups: [{name: 'web servers'}]\n"), `contains ' '`},
	{"slash in a name", lit("networks: [{name: a/b}]\n"), `contains '/'`},
	{"name of 65 bytes", lit("networks: [{name: " + strings.Repeat("n", 65) + "}]\n"), "is longer than 64 bytes"},
	{"bridge of 16 bytes", lit("bridge: br-integration-16\n"), "is longer than 15 bytes"},
	{"colon in the bridge name", lit("bridge: 'br:0'\n"), `contains ':'`},
}

// Every document of the table is refused as a whole (no Intent), with at
// most maxProblems+1 problems, each a bounded, printable "path: reason"
// that shows no more than a short prefix of any value; the expected reason
// is among them.
func TestHostileDocumentsRefused(t *testing.T) {
	if len(hostileDocuments) < 81 {
		t.Fatalf("the table has %d cases; the issue's has 81", len(hostileDocuments))
	}
	for _, tc := range hostileDocuments {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc()
			start := time.Now()
			in, err := Parse([]byte(doc))
			took := time.Since(start)
			if in != nil || err == nil {
				t.Fatalf("accepted (%v)", err)
			}
			var list Errors
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not an Errors list: %.200v", err, err)
			}
			if len(list) > maxProblems+1 {
				t.Errorf("%d problems listed, want at most %d", len(list), maxProblems+1)
			}
			found := false
			for _, e := range list {
				msg := e.Error()
				if len(e.Path) > maxTextBytes+3 || len(e.Reason) > maxTextBytes+3 {
					t.Errorf("unbounded problem (%d-byte path, %d-byte reason): %.120q", len(e.Path), len(e.Reason), msg)
				}
				if strings.ContainsFunc(msg, unicode.IsControl) {
					t.Errorf("problem holds a control character: %q", msg)
				}
				if e.Reason == "" {
					t.Errorf("problem at %q without a reason", e.Path)
				}
				found = found || strings.Contains(msg, tc.want)
			}
			if !found {
				t.Errorf("no problem contains %q; got:\n%.2000s", tc.want, list.Error())
			}
			t.Logf("%v, %d bytes: %.160s", took.Round(time.Millisecond), len(doc), list[0].Error())
		})
	}
}

// ReadFile refuses a FIFO at once, with a message, instead of waiting for
// a writer; and anything else that is not a regular file.
func TestReadFileRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "intent.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadFile(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is a FIFO, not a regular file") {
			t.Errorf("ReadFile of a FIFO: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ReadFile of a FIFO blocked")
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("ReadFile of a directory: %v", err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(link); err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("ReadFile of a symlink to a FIFO: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxDocumentBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ReadFile of an oversized file: %v", err)
	}
}

// WriteFile follows symlinks the way Kubernetes mounts a ConfigMap
// (intent.yaml -> ..data/intent.yaml, ..data -> ..<timestamp>): the links
// stay links and the target gets the document; a read-only target is
// refused with ErrReadOnly.
func TestWriteFileThroughSymlinks(t *testing.T) {
	dir := t.TempDir()
	stamp := filepath.Join(dir, "..2025_01_01")
	if err := os.Mkdir(stamp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stamp, "intent.yaml"), []byte("{}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2025_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "intent.yaml")
	if err := os.Symlink("..data/intent.yaml", path); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("bridge: br-x\n")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("intent.yaml is no longer a symlink: %v %v", fi.Mode(), err)
	}
	if got, _ := os.ReadFile(filepath.Join(stamp, "intent.yaml")); string(got) != "bridge: br-x\n" {
		t.Errorf("target holds %q", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("target mode %v, want 0640 kept", fi.Mode().Perm())
	}
	if src := Source(path); !strings.HasPrefix(src, "file:"+path+" -> ") || !strings.HasSuffix(src, "..2025_01_01/intent.yaml") {
		t.Errorf("Source = %q", src)
	}
	if err := os.Chmod(filepath.Join(stamp, "intent.yaml"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("{}\n")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("WriteFile of a read-only target: %v, want ErrReadOnly", err)
	}
}
