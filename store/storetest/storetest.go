// Package storetest runs an etcd inside the test process (etcd's embed
// package) on loopback ports, with its data in a temporary directory,
// optionally with TLS and client-certificate authentication, for the
// tests of the store, the controller and the CLI.
package storetest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

// Options vary the server.
type Options struct {
	// TLS serves clients over TLS and requires a client certificate
	// signed by the server's CA (etcd's --client-cert-auth); the common
	// name of the certificate is the etcd user.
	TLS bool
}

// Server is an embedded etcd. It stops when the test ends.
type Server struct {
	t         testing.TB
	dir       string
	opts      Options
	clientURL url.URL
	peerURL   url.URL
	etcd      *embed.Etcd
	// Certs are the CA and the server's certificate with TLS; Client
	// issues client certificates.
	Certs *Certs
}

// Start starts an etcd for t. With 127.0.0.1:0 etcd would not know its
// own address to advertise, so free ports are found by binding and
// closing; a port taken again meanwhile is retried with new ones.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir(), opts: opts}
	if opts.TLS {
		s.Certs = NewCerts(t, filepath.Join(s.dir, "pki"))
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		scheme := "http"
		if opts.TLS {
			scheme = "https"
		}
		s.clientURL = url.URL{Scheme: scheme, Host: freePort(t)}
		s.peerURL = url.URL{Scheme: "http", Host: freePort(t)}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("embedded etcd: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Run starts a plain (no TLS) etcd with its data in dir, for programs
// that are not tests (the overlay benchmark); Stop ends it.
func Run(dir string) (*Server, error) {
	s := &Server{dir: dir}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var c, p string
		if c, err = freeAddr(); err != nil {
			return nil, err
		}
		if p, err = freeAddr(); err != nil {
			return nil, err
		}
		s.clientURL, s.peerURL = url.URL{Scheme: "http", Host: c}, url.URL{Scheme: "http", Host: p}
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("embedded etcd: %w", err)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

func freePort(t testing.TB) string {
	t.Helper()
	a, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (s *Server) config() *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = "flowgate-test"
	cfg.Dir = filepath.Join(s.dir, "data")
	cfg.ListenClientUrls = []url.URL{s.clientURL}
	cfg.AdvertiseClientUrls = []url.URL{s.clientURL}
	cfg.ListenPeerUrls = []url.URL{s.peerURL}
	cfg.AdvertisePeerUrls = []url.URL{s.peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(s.dir, "etcd.log")}
	// A whole document is one transaction of one operation per object.
	cfg.MaxTxnOps = 10000
	if s.opts.TLS {
		cfg.ClientTLSInfo = transport.TLSInfo{
			CertFile: s.Certs.ServerCert, KeyFile: s.Certs.ServerKey,
			TrustedCAFile: s.Certs.CA, ClientCertAuth: true,
		}
	}
	return cfg
}

func (s *Server) start() error {
	e, err := embed.StartEtcd(s.config())
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return err
	case <-time.After(30 * time.Second):
		e.Server.Stop()
		e.Close()
		return fmt.Errorf("not ready within 30 s")
	}
	s.etcd = e
	return nil
}

// URL is the flowgate store setting for this server: etcd://HOST:PORT.
func (s *Server) URL() string { return "etcd://" + s.clientURL.Host }

// Stop stops the server (its data stays for Restart).
func (s *Server) Stop() {
	if s.etcd == nil {
		return
	}
	s.etcd.Close()
	<-s.etcd.Server.StopNotify()
	s.etcd = nil
}

// Restart starts the stopped server again on the same ports and data.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the old listener's port may linger a moment
	}
	s.t.Fatalf("restart embedded etcd: %v", err)
}
