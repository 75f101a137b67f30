package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// TestEmbeddedDefault starts the binary with no --config (moved to free
// ports with --set) and sends it Bookinfo reports over the Mixer API: the
// default telemetry config must expose istio_requests_total and write
// accesslog lines to stdout.
func TestEmbeddedDefault(t *testing.T) {
	m := startEmbeddedCollector(t, "")
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true})
	var bags []bookinfo.Bag
	for range 3 {
		bags = append(bags, g.Next()...)
	}
	m.report(t, bags)

	waitFor(t, 20*time.Second, "istio_requests_total for the gateway's requests", func() bool {
		return strings.Contains(m.exposition(t), `istio_requests_total{connection_security_policy="mutual_tls",destination_app="productpage",destination_principal="cluster.local/ns/default/sa/bookinfo-productpage",destination_service="productpage.default.svc.cluster.local",destination_service_name="productpage",destination_service_namespace="default",destination_version="v1",destination_workload="productpage-v1",destination_workload_namespace="default",permissive_response_code="none",permissive_response_policyid="none",reporter="destination",request_protocol="http",response_code="200",response_flags="-",source_app="istio-ingressgateway",source_principal="cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",source_version="unknown",source_workload="istio-ingressgateway",source_workload_namespace="istio-system"} 3`)
	})
	waitFor(t, 10*time.Second, "an accesslog line per report", func() bool {
		return strings.Count(m.Stdout.String(), `"instance":"accesslog.logentry.istio-system"`) == len(bags)
	})
}

// wantComponents is the distribution's component list (issue: foundation).
var wantComponents = map[string][]string{
	"receivers":  {"otlp", "file_log", "mixer"},
	"processors": {"batch", "memory_limiter", "transform", "filter", "istio_rules"},
	"connectors": {"istio_rules"},
	"exporters":  {"otlp_grpc", "otlp_http", "debug", "prometheus", "prometheus_remote_write", "istio_stdio"},
	"extensions": {"health_check", "pprof", "zpages", "file_storage", "istio_config"},
}

func TestComponentsCommand(t *testing.T) {
	out, code := runBinary(t, collectorBin, "components")
	require.Equal(t, 0, code, out)
	for kind, names := range wantComponents {
		section := componentSection(out, kind)
		require.NotEmpty(t, section, "no %s section in:\n%s", kind, out)
		for _, n := range names {
			assert.Contains(t, section, "- name: "+n+"\n", "%s %s missing", kind, n)
		}
	}
	assert.Contains(t, out, "scheme: embedded")
}

// componentSection returns the YAML block of one component kind.
func componentSection(out, kind string) string {
	i := strings.Index(out, "\n"+kind+":\n")
	if i < 0 {
		return ""
	}
	rest := out[i+len(kind)+3:]
	// The section ends at the next top-level key.
	for j := 0; j < len(rest); j++ {
		if (j == 0 || rest[j-1] == '\n') && rest[j] != ' ' && rest[j] != '-' && rest[j] != '\n' {
			return rest[:j]
		}
	}
	return rest
}

func TestValidate(t *testing.T) {
	out, code := runBinary(t, collectorBin, "validate")
	assert.Equal(t, 0, code, "validate of the embedded default:\n%s", out)

	out, code = runBinary(t, collectorBin, "validate", "--config=file:../docs/examples/collector.yaml")
	assert.Equal(t, 0, code, "validate of the README example:\n%s", out)

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("receivers:\n  nosuch: {}\nservice:\n  pipelines: {}\n"), 0o600))
	out, code = runBinary(t, collectorBin, "validate", "--config=file:"+bad)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, out, "nosuch")
}

func TestIstiotelVersion(t *testing.T) {
	out, code := runBinary(t, istiotelBin, "version")
	require.Equal(t, 0, code, out)
	assert.True(t, strings.HasPrefix(out, "istiotel "), out)
}
