package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeSelfSigned writes a certificate for 127.0.0.1 / localhost and its key.
func writeSelfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otelcol-istio test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return cert, key
}

// istiotel loadgen over TLS, against the mixer receiver's TLS settings
// (configgrpc), with both protocols that use gRPC.
func TestLoadgenTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mixer := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	prom := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := startCollector(t, collectorOptions{
		Health: health,
		Args: []string{
			"--set=extensions.health_check.endpoint=" + health,
			"--set=receivers.mixer.endpoint=" + mixer,
			"--set=receivers.mixer.tls.cert_file=" + cert,
			"--set=receivers.mixer.tls.key_file=" + key,
			"--set=exporters.prometheus.endpoint=" + prom,
			"--set=connectors.istio_rules.flush_interval=200ms",
		},
	})
	m := &mixerCollector{collector: c, Mixer: mixer, Metrics: "http://" + prom + "/metrics"}
	for _, protocol := range []string{"mixer", "als"} {
		out, code := runBinary(t, istiotelBin, "loadgen", "--protocol", protocol, "--target", mixer, "--tls", "--ca", cert,
			"--requests", "5", "--progress=false")
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "0 reports refused", protocol)
	}
	// Without the CA the handshake fails and loadgen says so.
	out, code := runBinary(t, istiotelBin, "loadgen", "--target", mixer, "--tls", "--requests", "1", "--progress=false")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "certificate signed by unknown authority")

	waitFor(t, 20*time.Second, "series from both protocols", func() bool {
		return strings.Contains(m.exposition(t), "istio_requests_total{")
	})
}
