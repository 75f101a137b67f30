package tests

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEmbeddedDefault starts the binary with no --config (moved to free ports
// with --set) and checks that it serves health and runs the default pipeline.
func TestEmbeddedDefault(t *testing.T) {
	health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	otlpHTTP := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := startCollector(t, collectorOptions{
		Health: health,
		Args: []string{
			"--set=extensions.health_check.endpoint=" + health,
			"--set=receivers.otlp.protocols.grpc.endpoint=" + fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			"--set=receivers.otlp.protocols.http.endpoint=" + otlpHTTP,
		},
	})

	// The default pipeline takes OTLP logs and hands them to the debug exporter.
	body := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hello"}},{"body":{"stringValue":"world"}}]}]}]}`
	resp, err := http.Post("http://"+otlpHTTP+"/v1/logs", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	waitFor(t, 20*time.Second, "the debug exporter to report 2 log records", func() bool {
		return strings.Contains(c.Stderr.String(), `"log records": 2`)
	})
}

// wantComponents is the distribution's component list (issue: foundation).
var wantComponents = map[string][]string{
	"receivers":  {"otlp", "file_log"},
	"processors": {"batch", "memory_limiter", "transform", "filter"},
	"exporters":  {"otlp_grpc", "otlp_http", "debug", "prometheus", "prometheus_remote_write"},
	"extensions": {"health_check", "pprof", "zpages"},
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
