package storetest

import (
	"context"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Roles that EnableAuth creates, as the README's etcd setup names them.
const (
	WriterRole          = "flowgate-intent-writer"    // readwrite on the intent prefix
	ReaderRole          = "flowgate-intent-reader"    // read on the intent prefix
	LocationsReaderRole = "flowgate-locations-reader" // read on the location prefix
)

// HostRole is host's own role: readwrite on its locations
// (LocationPrefix + host + "/"; the "/" keeps host1 out of host10's).
func HostRole(host string) string { return "flowgate-host-" + host }

// The prefixes the roles cover (store.DefaultPrefix,
// store.DefaultLocationPrefix).
const (
	IntentPrefix   = "/flowgate/intent/"
	LocationPrefix = "/flowgate/locations/"
)

// EnableAuth configures the TLS server's users and roles as the README
// says and turns authentication on: root (the administrator); the
// operator with WriterRole and LocationsReaderRole; and each host with
// ReaderRole, LocationsReaderRole and its HostRole, so that it reads the
// intent and every location and writes only its own locations. Users
// have no password: the common name of their client certificate
// (Certs.Client) is the user.
func (s *Server) EnableAuth(operator string, hosts ...string) {
	t := s.t
	t.Helper()
	if s.Certs == nil {
		t.Fatal("storetest: EnableAuth needs a server started with TLS")
	}
	cert, key := s.Certs.Client("root")
	tlsCfg, err := clientTLS(s.Certs.CA, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + strings.TrimPrefix(s.URL(), "etcd://")}, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	noPassword := &clientv3.UserAddOptions{NoPassword: true}
	readwrite, read := clientv3.PermissionType(clientv3.PermReadWrite), clientv3.PermissionType(clientv3.PermRead)
	prefix := func(role, p string, perm clientv3.PermissionType) {
		t.Helper()
		must(c.RoleGrantPermission(ctx, role, p, clientv3.GetPrefixRangeEnd(p), perm))
	}
	must(c.RoleAdd(ctx, "root"))
	must(c.UserAddWithOptions(ctx, "root", "", noPassword))
	must(c.UserGrantRole(ctx, "root", "root"))
	must(c.RoleAdd(ctx, WriterRole))
	prefix(WriterRole, IntentPrefix, readwrite)
	must(c.RoleAdd(ctx, ReaderRole))
	prefix(ReaderRole, IntentPrefix, read)
	must(c.RoleAdd(ctx, LocationsReaderRole))
	prefix(LocationsReaderRole, LocationPrefix, read)
	must(c.UserAddWithOptions(ctx, operator, "", noPassword))
	must(c.UserGrantRole(ctx, operator, WriterRole))
	must(c.UserGrantRole(ctx, operator, LocationsReaderRole))
	for _, h := range hosts {
		must(c.RoleAdd(ctx, HostRole(h)))
		prefix(HostRole(h), LocationPrefix+h+"/", readwrite)
		must(c.UserAddWithOptions(ctx, h, "", noPassword))
		must(c.UserGrantRole(ctx, h, ReaderRole))
		must(c.UserGrantRole(ctx, h, LocationsReaderRole))
		must(c.UserGrantRole(ctx, h, HostRole(h)))
	}
	must(c.AuthEnable(ctx))
}
