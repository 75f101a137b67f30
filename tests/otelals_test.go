package tests

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestOTelALSMatchesAccessLogFiles: the same Bookinfo traffic as access-log
// lines, once through Envoy's OpenTelemetry access logger (Istio's
// envoyOtelAls provider) into the DaemonSet's configuration as shipped, its
// logs/otel-als pipeline, and once as istio-proxy's stdout in pod logs
// under /var/log/pods, tailed by its logs/files pipeline: the series and the
// log entries must be the same. Only the reference collector's file_log
// reads from the beginning of the files, as the files are there before its
// first poll.
func TestOTelALSMatchesAccessLogFiles(t *testing.T) {
	const pageLoads, seed, tcpEvery = 30, 4, 3
	httpReports, _, connections := alsExpectedTraffic(seed, pageLoads, tcpEvery)
	d := loadDeployment(t)
	env := append(deployEnv(t, d), "KUBECONFIG=")

	conf, viaOTel := deployConfig(t, d, t.TempDir(), false)
	otel := &mixerCollector{collector: startCollector(t, collectorOptions{Config: conf, Health: viaOTel.Health, Env: env}),
		Mixer: viaOTel.Mixer, Metrics: "http://" + viaOTel.Prometheus + "/metrics"}
	logDir := t.TempDir()
	conf, viaFiles := deployConfig(t, d, logDir, false)
	require.Contains(t, conf, "start_at: end")
	files := &mixerCollector{collector: startCollector(t, collectorOptions{Config: strings.Replace(conf, "start_at: end", "start_at: beginning", 1),
		Health: viaFiles.Health, Env: env}), Mixer: viaFiles.Mixer, Metrics: "http://" + viaFiles.Prometheus + "/metrics"}

	args := []string{"--requests", strconv.Itoa(pageLoads), "--seed", strconv.Itoa(seed), "--tcp-every", strconv.Itoa(tcpEvery), "--batch", "20"}
	out := loadgen(t, viaOTel.OTLP, append(args, "--protocol", "otel-als")...)
	require.Contains(t, out, "; 0 reports refused", out)
	loadgen(t, "", append(args, "--protocol", "accesslog", "--dir", logDir)...)

	// Each HTTP request once per reporter; each TCP connection's close,
	// which is when Envoy logs it, on both sides.
	complete := func(s alsSeries) bool {
		return s.sum("istio_requests_total") == float64(httpReports) &&
			s.sum("istio_tcp_connections_closed_total") == float64(2*connections)
	}
	var gotOTel, gotFiles alsSeries
	waitFor(t, 30*time.Second, "both collectors to count every line", func() bool {
		gotOTel = alsParseExposition(t, otel.exposition(t), nil)
		gotFiles = alsParseExposition(t, files.exposition(t), nil)
		return complete(gotOTel) && complete(gotFiles)
	})
	for _, name := range alsComparedMetrics {
		if strings.HasPrefix(name, "istio_tcp_connections_opened") {
			assert.Empty(t, gotOTel.family(name), "%s: lines are written when a connection closes", name)
			continue
		}
		assertSameFamily(t, name, gotFiles, gotOTel)
	}
	// The reporter of a line is the pod the record's labels name.
	assert.Contains(t, gotOTel, alsKeyWith(gotOTel, "istio_requests_total", `reporter="destination"`,
		`destination_service="productpage.default.svc.cluster.local"`, `response_code="200"`))

	// The same log entries, in whatever order the lines arrived.
	entries := func(c *mixerCollector) []string {
		var out []string
		for _, l := range c.stdoutLines() {
			if strings.Contains(l, `"instance":"accesslog.logentry.istio-system"`) || strings.Contains(l, `"instance":"tcpaccesslog.logentry.istio-system"`) {
				out = append(out, l)
			}
		}
		slices.Sort(out)
		return out
	}
	waitFor(t, 10*time.Second, "an accesslog entry per HTTP report", func() bool {
		return strings.Count(otel.Stdout.String(), `"instance":"accesslog.logentry.istio-system"`) == httpReports &&
			strings.Count(files.Stdout.String(), `"instance":"accesslog.logentry.istio-system"`) == httpReports
	})
	assert.Equal(t, entries(files), entries(otel))
	assert.Equal(t, float64(httpReports+2*connections), counterValue(httpBody("http://"+otel.Telemetry+"/metrics"), "otelcol_envoy_access_log_parsed_lines"),
		fmt.Sprintf("lines parsed by the %s pipeline", "logs/otel-als"))

	// A line that starts like an access-log line but matches no format (a
	// provider's format of its own, say) is counted for the alert
	// OtelcolIstioAccessLogLinesUnmatched, and dropped.
	conn, err := grpc.NewClient(viaOTel.OTLP, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr(`[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418` + "\n")
	_, err = plogotlp.NewGRPCClient(conn).Export(context.Background(), plogotlp.NewExportRequestFromLogs(ld))
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "the unmatched line counted", func() bool {
		return counterValue(httpBody("http://"+otel.Telemetry+"/metrics"), "otelcol_envoy_access_log_unparsed_lines", `reason="no_match"`) == 1
	})

	// The collector dashboard's panel of these counters, which the
	// embedded default of TestDashboardQueries cannot fill.
	prom := startPrometheus(t, otel.Telemetry)
	var panel *dashPanel
	for _, d := range loadDashboards(t) {
		for _, p := range d.panels() {
			if d.UID == "otelcol-istio-collector" && p.Title == "Access-log lines" {
				panel = &p
			}
		}
	}
	require.NotNil(t, panel, "the collector dashboard's Access-log lines panel")
	for _, tg := range panel.Targets {
		expr := substituteGrafanaVars(tg.Expr, map[string]string{"instance": ".*"})
		waitFor(t, 30*time.Second, "data for the panel's query "+tg.RefID, func() bool { return hasNumber(prom.query(t, expr)) })
	}
}
