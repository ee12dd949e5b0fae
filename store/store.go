// Package store keeps the intent in etcd: one key per network, port,
// security group, router and service under a prefix, so that a change
// touches one key and a watch delivers it, written whole in one
// transaction guarded by a revision so that two operators cannot
// silently overwrite each other.
//
// Put validates the whole document before it writes anything; Get and
// Watch assemble the keys back into a document, which the reader
// validates again (keys can be written by hand).
package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"gopkg.in/yaml.v3"

	"github.com/flowgate/flowgate/intent"
)

// DefaultPrefix is where the intent lives unless configured otherwise.
const DefaultPrefix = "/flowgate/intent/"

// DefaultLocationPrefix is where the hosts publish their ports'
// locations unless configured otherwise: beside the intent, not under it,
// so that reading or watching the intent never sees them.
const DefaultLocationPrefix = "/flowgate/locations/"

// Any as the expected revision of Put writes whatever is stored (no
// compare-and-swap); 0 writes only when nothing is stored yet.
const Any int64 = -1

// Config says how to reach etcd.
type Config struct {
	// URL is etcd://HOST:PORT[,HOST:PORT...]: the cluster's client
	// endpoints.
	URL string
	// Prefix holds the intent's keys; default DefaultPrefix. A missing
	// trailing "/" is added (the prefix is a directory, not a stem).
	Prefix string
	// LocationPrefix holds the ports' locations (see Publisher and
	// WatchLocations); default DefaultLocationPrefix. It may not overlap
	// Prefix.
	LocationPrefix string
	// TLS: CA verifies the servers (TLS is used when CA or Cert is set);
	// Cert and Key are this client's certificate, whose common name is
	// its etcd user when the servers run with --client-cert-auth.
	CA, Cert, Key string
	// Writer says who writes in the _revision key (e.g. "flowgate intent
	// put by root on host1"); informational.
	Writer string
	// Health is how often Watch checks that etcd answers, and Timeout how
	// long one request may take before etcd counts as lost. Defaults 1 s
	// and 2 s.
	Health, Timeout time.Duration
}

// Store is a connection to the intent in etcd.
type Store struct {
	client    *clientv3.Client
	endpoints []string
	prefix    string
	locations string
	writer    string
	health    time.Duration
	timeout   time.Duration
}

// ParseURL splits etcd://HOST:PORT[,HOST:PORT...] into its endpoints.
func ParseURL(u string) ([]string, error) {
	rest, ok := strings.CutPrefix(u, "etcd://")
	if !ok {
		return nil, fmt.Errorf("store %q: want etcd://HOST:PORT[,HOST:PORT...]", u)
	}
	var eps []string
	for _, ep := range strings.Split(rest, ",") {
		if strings.Contains(ep, "/") {
			return nil, fmt.Errorf("store %q: %q is not HOST:PORT (the key prefix is the store_prefix setting)", u, ep)
		}
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return nil, fmt.Errorf("store %q: %q is not HOST:PORT: %v", u, ep, err)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// Open checks cfg and returns a Store. It does not wait for etcd: the
// connection is made, and remade, in the background.
func Open(cfg Config) (*Store, error) {
	eps, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	prefix, err := dirPrefix("store_prefix", cfg.Prefix, DefaultPrefix)
	if err != nil {
		return nil, err
	}
	locations, err := dirPrefix("location prefix", cfg.LocationPrefix, DefaultLocationPrefix)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(prefix, locations) || strings.HasPrefix(locations, prefix) {
		return nil, fmt.Errorf("store_prefix %q and the location prefix %q overlap: the intent would read the locations as its own keys", prefix, locations)
	}
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	scheme := "http://"
	if tlsCfg != nil {
		scheme = "https://"
	}
	urls := make([]string, len(eps))
	for i, ep := range eps {
		urls[i] = scheme + ep
	}
	s := &Store{endpoints: eps, prefix: prefix, locations: locations, writer: cfg.Writer, health: cfg.Health, timeout: cfg.Timeout}
	if s.health <= 0 {
		s.health = time.Second
	}
	if s.timeout <= 0 {
		s.timeout = 2 * time.Second
	}
	s.client, err = clientv3.New(clientv3.Config{
		Endpoints: urls, TLS: tlsCfg,
		// The client's own log would interleave zap lines with ours;
		// what matters reaches the caller as errors and Watch events.
		Logger:               zap.NewNop(),
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		// gRPC's reconnect backoff grows to two minutes; an etcd that
		// comes back should be seen within seconds.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: s.timeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", cfg.URL, err)
	}
	return s, nil
}

// dirPrefix checks a key prefix setting, defaulting it and adding the
// trailing "/".
func dirPrefix(setting, p, def string) (string, error) {
	if p == "" {
		p = def
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%s %q: must start with /", setting, p)
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.CA == "" && cfg.Cert == "" && cfg.Key == "" {
		return nil, nil
	}
	if (cfg.Cert == "") != (cfg.Key == "") {
		return nil, fmt.Errorf("store_cert and store_key go together")
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CA != "" {
		pem, err := os.ReadFile(cfg.CA)
		if err != nil {
			return nil, fmt.Errorf("store_ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store_ca %s: no PEM certificate in it", cfg.CA)
		}
	}
	if cfg.Cert != "" {
		pair, err := tls.LoadX509KeyPair(cfg.Cert, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("store_cert/store_key: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// Close ends the connection.
func (s *Store) Close() error { return s.client.Close() }

// Prefix is the key prefix the intent lives under.
func (s *Store) Prefix() string { return s.prefix }

// LocationPrefix is the key prefix the ports' locations live under.
func (s *Store) LocationPrefix() string { return s.locations }

// String names the store for status and logs: etcd://HOSTS/PREFIX.
func (s *Store) String() string { return s.at(s.prefix) }

// at names a prefix of the store: etcd://HOSTS/PREFIX.
func (s *Store) at(prefix string) string { return "etcd://" + strings.Join(s.endpoints, ",") + prefix }

// Snapshot is the intent as stored at one revision.
type Snapshot struct {
	// Revision is the etcd revision of the newest change under the
	// prefix: what Put's compare-and-swap expects.
	Revision int64
	// Doc is the assembled document (JSON, which intent.Parse reads; YAML
	// gives it as block YAML), nil when Err is set.
	Doc []byte
	// Err: the keys do not form a document (intent.Errors naming the
	// keys), or nothing is stored (ErrNoIntent).
	Err error
	// Keys is how many keys are under the prefix.
	Keys int

	root *yaml.Node // Doc as the tree it was assembled from
}

// Intent parses and validates the document (intent.Parse of Doc, from
// the tree it was assembled from: no text to decode again).
func (s Snapshot) Intent() (*intent.Intent, error) {
	if s.root == nil {
		return intent.Parse(s.Doc)
	}
	return intent.ParseNode(s.root, len(s.Doc))
}

// read fetches every key under the prefix.
func (s *Store) read(ctx context.Context) (*clientv3.GetResponse, error) {
	return s.readPrefix(ctx, s.prefix)
}

// readPrefix fetches every key under prefix.
func (s *Store) readPrefix(ctx context.Context, prefix string) (*clientv3.GetResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.at(prefix), err)
	}
	return resp, nil
}

// Read returns the intent as stored now. The error is etcd's (not
// reachable, not allowed); a document that does not assemble is
// Snapshot.Err.
func (s *Store) Read(ctx context.Context) (Snapshot, error) {
	resp, err := s.read(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	a := newAssembler()
	for _, kv := range resp.Kvs {
		a.set(s.rel(kv.Key), kv.Value)
	}
	return s.snapshot(a, maxModRevision(resp)), nil
}

func (s *Store) snapshot(a *assembler, rev int64) Snapshot {
	doc, root, err := a.document()
	return Snapshot{Revision: rev, Doc: doc, Err: s.explain(err), Keys: len(a.vals), root: root}
}

func (s *Store) rel(key []byte) string { return strings.TrimPrefix(string(key), s.prefix) }

func maxModRevision(resp *clientv3.GetResponse) int64 {
	var rev int64
	for _, kv := range resp.Kvs {
		rev = max(rev, kv.ModRevision)
	}
	return rev
}

// Get returns the stored document, decoded strictly, and its revision.
// A document that does not assemble or decode is an error listing its
// problems (intent.Errors); Get does not validate it beyond decoding.
func (s *Store) Get(ctx context.Context) (*intent.Document, int64, error) {
	snap, err := s.Read(ctx)
	if err != nil {
		return nil, 0, err
	}
	if snap.Err != nil {
		return nil, snap.Revision, snap.Err
	}
	doc, err := intent.Decode(snap.Doc)
	if err != nil {
		return nil, snap.Revision, err
	}
	return doc, snap.Revision, nil
}

// explain says where nothing is stored.
func (s *Store) explain(err error) error {
	if errors.Is(err, ErrNoIntent) {
		return fmt.Errorf("%w under %s (write one with flowgate intent put)", err, s)
	}
	return err
}

// ConflictError is Put's answer when the intent changed after the
// revision the writer expected.
type ConflictError struct {
	Expected, Current int64
}

// ErrConflict matches every ConflictError (errors.Is).
var ErrConflict = errors.New("intent changed in etcd")

func (e *ConflictError) Error() string {
	if e.Expected == 0 {
		return fmt.Sprintf("an intent is already stored (revision %d): pass the revision you read (flowgate intent get) to replace it, or use flowgate intent edit", e.Current)
	}
	return fmt.Sprintf("the intent changed in etcd after revision %d (it is at revision %d now); nothing written: read it again (flowgate intent get) and redo the change", e.Expected, e.Current)
}

func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Put validates doc whole and, if it is valid, makes it the stored
// intent in one transaction: the keys of objects that changed are
// written, those of objects no longer in doc deleted, and the _revision
// key rewritten. The transaction commits only if no key under the
// prefix changed after expectRevision (0: only if nothing is stored; Any:
// whatever is stored); otherwise nothing is written and the error is a
// *ConflictError. It returns the revision of the stored intent. A bad
// document is refused with its intent.Errors and nothing is written.
func (s *Store) Put(ctx context.Context, doc *intent.Document, expectRevision int64) (int64, error) {
	if _, err := doc.Validate(); err != nil {
		return 0, err
	}
	want, err := render(doc)
	if err != nil {
		return 0, err
	}
	for attempt := 0; ; attempt++ {
		rev, retry, err := s.put(ctx, want, expectRevision)
		if !retry || attempt == 4 {
			return rev, err
		}
	}
}

// put is one attempt of Put; retry reports that an unconditional Put
// lost a race with another writer and may try again.
func (s *Store) put(ctx context.Context, want map[string][]byte, expect int64) (rev int64, retry bool, err error) {
	cur, err := s.read(ctx)
	if err != nil {
		return 0, false, err
	}
	current := maxModRevision(cur)
	if expect != Any && current > expect {
		return 0, false, &ConflictError{Expected: expect, Current: current}
	}
	// The guard: no key under the prefix changed after what was read
	// (and after what the writer expected). Every Put rewrites _revision,
	// so a Put that only deleted keys is seen too.
	guard := cur.Header.Revision
	if expect != Any {
		guard = min(guard, expect)
	}
	var ops []clientv3.Op
	have := map[string][]byte{}
	for _, kv := range cur.Kvs {
		have[s.rel(kv.Key)] = kv.Value
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if old, ok := have[k]; !ok || string(old) != string(want[k]) {
			ops = append(ops, clientv3.OpPut(s.prefix+k, string(want[k])))
		}
	}
	for _, kv := range cur.Kvs {
		if k := s.rel(kv.Key); want[k] == nil && k != revisionKey {
			ops = append(ops, clientv3.OpDelete(s.prefix+k))
		}
	}
	if len(ops) > 0 {
		meta, _ := json.Marshal(map[string]string{"written_at": time.Now().UTC().Format(time.RFC3339Nano), "written_by": s.writer})
		ops = append(ops, clientv3.OpPut(s.prefix+revisionKey, string(meta)))
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.client.Txn(tctx).
		If(clientv3.Compare(clientv3.ModRevision(s.prefix), "<", guard+1).WithPrefix()).
		Then(ops...).
		Else(clientv3.OpGet(s.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return 0, false, txnError(s.String(), len(ops), err)
	}
	if !resp.Succeeded {
		now := maxModRevision((*clientv3.GetResponse)(resp.Responses[0].GetResponseRange()))
		if expect == Any {
			return 0, true, fmt.Errorf("write %s: other writers kept changing the intent", s)
		}
		return 0, false, &ConflictError{Expected: expect, Current: now}
	}
	if len(ops) == 0 {
		return current, false, nil // the stored intent is doc already
	}
	return resp.Header.Revision, false, nil
}

// txnError says why a transaction of n operations under where failed.
func txnError(where string, n int, err error) error {
	if strings.Contains(err.Error(), "too many operations in txn request") {
		return fmt.Errorf("write %s: etcd refused one transaction of %d operations: raise --max-txn-ops (default 128) on the etcd servers to at least %d: %w", where, n, n, err)
	}
	return fmt.Errorf("write %s: %w", where, err)
}

// Client is the etcd client, for administration (roles, users) and
// tests.
func (s *Store) Client() *clientv3.Client { return s.client }
