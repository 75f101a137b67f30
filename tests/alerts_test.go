package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sigsyaml "sigs.k8s.io/yaml"
)

var alertsFile = filepath.Join("..", "deploy", "prometheus", "otelcol-istio-alerts.yaml")

// lookPromtool returns the path of promtool (Debian package prometheus),
// which CI installs: there its absence fails the test.
func lookPromtool(t *testing.T) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil && os.Getenv("CI") != "" {
		t.Fatal("promtool is not installed; .ci/run installs the Debian package prometheus")
	}
	return bin, err == nil
}

// The alerting rules load, and promtool's unit tests (testdata/alerts.test.yaml)
// see each alert fire for the collector whose counter moves, after its `for`.
func TestAlertRules(t *testing.T) {
	bin, ok := lookPromtool(t)
	if !ok {
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	out, err := exec.Command(bin, "check", "rules", alertsFile).CombinedOutput()
	require.NoError(t, err, "promtool check rules:\n%s", out)
	cmd := exec.Command(bin, "test", "rules", "alerts.test.yaml")
	cmd.Dir = "testdata"
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "promtool test rules:\n%s", out)
}

type alertRule struct {
	Alert string `json:"alert"`
	Expr  string `json:"expr"`
}

func loadAlerts(t *testing.T) []alertRule {
	t.Helper()
	data, err := os.ReadFile(alertsFile)
	require.NoError(t, err)
	var f struct {
		Groups []struct {
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	require.NoError(t, sigsyaml.Unmarshal(data, &f))
	var out []alertRule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	require.NotEmpty(t, out)
	return out
}

var collectorMetricRE = regexp.MustCompile(`\botelcol_[a-z0-9_]+`)

// elsewhere are the alerts' metrics that the embedded default does not
// export, and the test that sees them: with a Kubernetes client, and with
// envoy_access_log once a line did not match.
var elsewhere = map[string]string{
	"otelcol_istio_config_kubernetes_api_up":  "TestIstioConfigThroughAPIServer",
	"otelcol_envoy_access_log_unparsed_lines": "TestOTelALSMatchesAccessLogFiles",
}

// Every metric an alert reads is one the collector exports (at 0 when
// nothing happened), so that no alert waits on a name that never comes.
func TestAlertMetricsExist(t *testing.T) {
	m := startEmbeddedCollector(t, "")
	loadgen(t, m.Mixer, "--requests", "5")
	expo := ""
	waitFor(t, 20*time.Second, "the rules' telemetry", func() bool {
		expo = httpBody("http://" + m.Telemetry + "/metrics")
		return counterValue(expo, "otelcol_istio_rules_bags") > 0
	})
	var missing []string
	for _, a := range loadAlerts(t) {
		names := collectorMetricRE.FindAllString(a.Expr, -1)
		require.NotEmpty(t, names, "alert %s reads no collector metric", a.Alert)
		for _, n := range names {
			if _, ok := elsewhere[n]; ok {
				continue
			}
			if !strings.Contains(expo, "\n"+n+"{") && !strings.Contains(expo, "\n"+n+" ") {
				missing = append(missing, fmt.Sprintf("%s: %s", a.Alert, n))
			}
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "metrics the collector does not export")
}
