package storetest

import (
	"context"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Roles that EnableAuth creates, as the README's etcd setup names them.
const (
	WriterRole = "flowgate-intent-writer" // readwrite on the intent prefix
	ReaderRole = "flowgate-intent-reader" // read on the intent prefix
)

// IntentPrefix is the prefix the roles cover (store.DefaultPrefix).
const IntentPrefix = "/flowgate/intent/"

// EnableAuth configures the TLS server's users and roles as the README
// says and turns authentication on: root (the administrator), the
// operator with WriterRole, and each host with ReaderRole. Users have no
// password: the common name of their client certificate (Certs.Client)
// is the user.
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
	end := clientv3.GetPrefixRangeEnd(IntentPrefix)
	must(c.RoleAdd(ctx, "root"))
	must(c.UserAddWithOptions(ctx, "root", "", noPassword))
	must(c.UserGrantRole(ctx, "root", "root"))
	must(c.RoleAdd(ctx, WriterRole))
	must(c.RoleGrantPermission(ctx, WriterRole, IntentPrefix, end, clientv3.PermissionType(clientv3.PermReadWrite)))
	must(c.RoleAdd(ctx, ReaderRole))
	must(c.RoleGrantPermission(ctx, ReaderRole, IntentPrefix, end, clientv3.PermissionType(clientv3.PermRead)))
	must(c.UserAddWithOptions(ctx, operator, "", noPassword))
	must(c.UserGrantRole(ctx, operator, WriterRole))
	for _, h := range hosts {
		must(c.UserAddWithOptions(ctx, h, "", noPassword))
		must(c.UserGrantRole(ctx, h, ReaderRole))
	}
	must(c.AuthEnable(ctx))
}
