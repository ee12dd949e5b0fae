package storetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs is a throwaway PKI: a CA (ECDSA P-256, valid for an hour), a
// server certificate for 127.0.0.1, and client certificates on demand.
type Certs struct {
	t                     testing.TB
	dir                   string
	caCert                *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	CA                    string // the CA certificate (PEM)
	ServerCert, ServerKey string
}

// NewCerts writes a CA and a server certificate into dir.
func NewCerts(t testing.TB, dir string) *Certs {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &Certs{t: t, dir: dir}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "flowgate test CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c.caCert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	c.caKey = key
	c.CA = filepath.Join(dir, "ca.pem")
	writePEM(t, c.CA, "CERTIFICATE", der)
	// etcd's gRPC gateway dials the server with the server certificate,
	// so it serves as a client certificate too.
	c.ServerCert, c.ServerKey = c.issue("etcd-server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, []string{"localhost"})
	return c
}

// Client issues a client certificate whose common name is cn (the etcd
// user) and returns the paths of the certificate and its key.
func (c *Certs) Client(cn string) (cert, key string) {
	c.t.Helper()
	return c.issue(cn, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)
}

func (c *Certs) issue(cn string, usage []x509.ExtKeyUsage, ips []net.IP, names []string) (string, string) {
	key := newKey(c.t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(c.t),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		IPAddresses:  ips,
		DNSNames:     names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.caCert, &key.PublicKey, c.caKey)
	if err != nil {
		c.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		c.t.Fatal(err)
	}
	cert, keyPath := filepath.Join(c.dir, cn+".pem"), filepath.Join(c.dir, cn+"-key.pem")
	writePEM(c.t, cert, "CERTIFICATE", der)
	writePEM(c.t, keyPath, "EC PRIVATE KEY", kder)
	return cert, keyPath
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientTLS is the TLS configuration of a client with cert and key that
// trusts ca.
func clientTLS(ca, cert, key string) (*tls.Config, error) {
	pemData, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
