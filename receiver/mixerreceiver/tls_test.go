package mixerreceiver

import (
	"context"
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
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerreport"
)

type testPKI struct {
	caPool                *x509.CertPool
	caFile                string
	serverCert, serverKey string
	client                tls.Certificate
}

// newPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate (as an Istio workload would present) into a temp dir.
func newPKI(t *testing.T) testPKI {
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		kder, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	p := testPKI{caPool: x509.NewCertPool()}
	p.caPool.AddCert(ca)
	p.caFile = write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	sc, sk := issue(2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	p.serverCert, p.serverKey = write("server.pem", sc), write("server-key.pem", sk)
	cc, ck := issue(3, x509.ExtKeyUsageClientAuth, nil)
	p.client, err = tls.X509KeyPair(cc, ck)
	require.NoError(t, err)
	return p
}

func report(t *testing.T, conn *grpc.ClientConn) error {
	req, err := mixerreport.NewDefaultEncoder().Encode([]mixerreport.Bag{{mixerreport.String("request.id", "r")}}, mixerreport.ProxyLayout(221))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = mixerpb.NewMixerClient(conn).Report(ctx, req)
	return err
}

func dial(t *testing.T, addr string, cfg *tls.Config) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// mTLS, as between Istio sidecars and istio-telemetry: the server requires
// a client certificate from the configured CA.
func TestMutualTLS(t *testing.T) {
	pki := newPKI(t)
	sink := new(consumertest.LogsSink)
	r, _ := started(t, sink, func(c *Config) {
		srv := configtls.NewDefaultServerConfig()
		srv.CertFile, srv.KeyFile, srv.ClientCAFile = pki.serverCert, pki.serverKey, pki.caFile
		c.TLS = configoptional.Some(srv)
	})
	addr := r.addr.String()

	require.NoError(t, report(t, dial(t, addr, &tls.Config{RootCAs: pki.caPool, Certificates: []tls.Certificate{pki.client}})))
	assert.Equal(t, 1, sink.LogRecordCount())

	err := report(t, dial(t, addr, &tls.Config{RootCAs: pki.caPool}))
	require.Error(t, err, "no client certificate")
	assert.Equal(t, 1, sink.LogRecordCount())
}

func TestServerTLS(t *testing.T) {
	pki := newPKI(t)
	sink := new(consumertest.LogsSink)
	r, plain := started(t, sink, func(c *Config) {
		srv := configtls.NewDefaultServerConfig()
		srv.CertFile, srv.KeyFile = pki.serverCert, pki.serverKey
		c.TLS = configoptional.Some(srv)
	})
	require.NoError(t, report(t, dial(t, r.addr.String(), &tls.Config{RootCAs: pki.caPool})))
	assert.Equal(t, 1, sink.LogRecordCount())
	assert.Error(t, report(t, plain), "plaintext client")
}

func TestMaxRecvMsgSize(t *testing.T) {
	sink := new(consumertest.LogsSink)
	_, conn := started(t, sink, func(c *Config) { c.MaxRecvMsgSizeMiB = 1 })
	big := mixerreport.Bag{mixerreport.String("request.useragent", strings.Repeat("x", 1<<20))}
	req, err := mixerreport.NewDefaultEncoder().Encode([]mixerreport.Bag{big}, mixerreport.ProxyLayout(221))
	require.NoError(t, err)
	_, err = mixerpb.NewMixerClient(conn).Report(context.Background(), req)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Zero(t, sink.LogRecordCount())
}
