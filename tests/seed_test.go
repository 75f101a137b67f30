package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// The seed walkthrough's tasks on the real binary, checked the way the
// walkthrough checks them: PromQL in a real Prometheus and the grep pipeline
// of the "Collecting Logs" task on the collector's output.

var seedDir = filepath.Join("..", "connector", "istiorulesconnector", "testdata", "seed")

// loadgen runs istiotel loadgen against the collector.
func loadgen(t *testing.T, target string, args ...string) string {
	t.Helper()
	out, code := runBinary(t, istiotelBin, append([]string{"loadgen", "--target", target, "--progress=false", "--start", "2020-07-01T10:00:00Z"}, args...)...)
	require.Equal(t, 0, code, out)
	return out
}

// expectedBags is what loadgen sends with its defaults for the given seed
// and page loads.
func expectedBags(seed uint64, pageLoads int) []bookinfo.Bag {
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: seed, Enriched: true, MTLS: true})
	var out []bookinfo.Bag
	for range pageLoads {
		out = append(out, g.Next()...)
	}
	return out
}

func str(b bookinfo.Bag, name string) string {
	v, _ := b.Get(name)
	return v.Str()
}

// reloads counts the configuration reloads the collector has logged.
func reloads(c *collector) int { return strings.Count(c.Stderr.String(), "Istio configuration loaded") }

// writeConfig writes an Istio config file into the watched directory and
// waits until the collector has loaded it.
func writeConfig(t *testing.T, c *collector, dir, name string, data []byte) {
	t.Helper()
	before := reloads(c)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	waitFor(t, 20*time.Second, "the collector to reload "+name, func() bool { return reloads(c) > before })
	time.Sleep(200 * time.Millisecond) // subscribers are updated right after the log line
}

func readSeed(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(seedDir, name))
	require.NoError(t, err)
	return b
}

func promTarget(m *mixerCollector) string {
	return strings.TrimSuffix(strings.TrimPrefix(m.Metrics, "http://"), "/metrics")
}

// Task "Collecting metrics": the walkthrough's doublerequestcount,
// doublehandler and doubleprom, applied through a watched file.
func TestSeedCollectMetrics(t *testing.T) {
	dir := t.TempDir()
	m := startMixerCollector(t, dir, "")
	prom := startPrometheus(t, promTarget(m))
	writeConfig(t, m.collector, dir, "metrics.yaml", readSeed(t, "metrics.yaml"))

	const pageLoads = 20
	loadgen(t, m.Mixer, "--requests", fmt.Sprint(pageLoads), "--seed", "7")
	want := map[string]float64{}
	total := 0.0
	for _, b := range expectedBags(7, pageLoads) {
		rep := "server"
		if str(b, "context.reporter.kind") == "outbound" {
			rep = "client"
		}
		want[rep+"|"+str(b, "source.workload.name")+"|"+str(b, "destination.workload.name")] += 2
		total += 2
	}
	waitFor(t, 30*time.Second, "Prometheus to scrape every report", func() bool {
		return prom.sum(t, "istio_double_request_count") == total
	})
	got := map[string]float64{}
	for _, s := range prom.query(t, "istio_double_request_count") {
		assert.Equal(t, "twice the fun!", s.Metric["message"])
		got[s.Metric["reporter"]+"|"+s.Metric["source"]+"|"+s.Metric["destination"]] = s.Value
	}
	assert.Equal(t, want, got)
	// The walkthrough's example series: both reporters see productpage → details.
	assert.Equal(t, float64(2*pageLoads), got["client|productpage-v1|details-v1"])
	assert.Equal(t, float64(2*pageLoads), got["server|productpage-v1|details-v1"])
}

// Task "Querying metrics": the walkthrough's four PromQL queries against the
// embedded default telemetry config.
func TestSeedQueryMetrics(t *testing.T) {
	m := startMixerCollector(t, t.TempDir(), "      - embedded: istio-1.1\n")
	prom := startPrometheus(t, promTarget(m))
	const pageLoads = 30
	loadgen(t, m.Mixer, "--requests", fmt.Sprint(pageLoads), "--seed", "3")

	var v3 float64
	for _, b := range expectedBags(3, pageLoads) {
		if str(b, "destination.workload.name") == "reviews-v3" {
			v3++
		}
	}
	require.Positive(t, v3, "the traffic reaches reviews v3")
	waitFor(t, 30*time.Second, "Prometheus to scrape the series", func() bool {
		return prom.sum(t, `istio_requests_total{destination_service="reviews.default.svc.cluster.local", destination_version="v3"}`) == v3
	})

	all := prom.query(t, "istio_requests_total")
	assert.NotEmpty(t, all)
	pp := prom.query(t, `istio_requests_total{destination_service="productpage.default.svc.cluster.local"}`)
	require.Len(t, pp, 2, "one series per reporter")
	for _, s := range pp {
		assert.Equal(t, float64(pageLoads), s.Value)
		assert.Equal(t, "istio-ingressgateway", s.Metric["source_workload"])
		assert.Equal(t, "200", s.Metric["response_code"])
	}
	for _, s := range prom.query(t, `istio_requests_total{destination_service="reviews.default.svc.cluster.local", destination_version="v3"}`) {
		assert.Equal(t, "reviews-v3", s.Metric["destination_workload"])
	}
	// rate() needs two samples of the counter: wait for a second scrape.
	waitFor(t, 30*time.Second, "a rate over two scrapes", func() bool {
		return len(prom.query(t, `rate(istio_requests_total{destination_service=~"productpage.*", response_code="200"}[5m])`)) == 2
	})
}

// The walkthrough's log pipeline (Istio 1.1 "Collecting Logs"), with the
// collector's stdout in place of `kubectl logs … -c mixer`.
const seedLogPipeline = `grep "newlog" | grep -v '"destination":"telemetry"' | grep -v '"destination":"pilot"' | grep -v '"destination":"policy"' | grep -v '"destination":"unknown"'`

func grepLogs(t *testing.T, stdout string) []string {
	t.Helper()
	cmd := exec.Command("bash", "-c", seedLogPipeline)
	cmd.Stdin = strings.NewReader(stdout)
	out, _ := cmd.Output() // grep exits 1 when nothing matches
	s := strings.TrimSpace(string(out))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Task "Collecting logs": newlog for every request, then — rewriting the
// file, without a restart — only for details, with the same variables.
func TestSeedCollectLogs(t *testing.T) {
	dir := t.TempDir()
	m := startMixerCollector(t, dir, "")
	writeConfig(t, m.collector, dir, "log-entry.yaml", readSeed(t, "log-entry.yaml"))

	loadgen(t, m.Mixer, "--requests", "5", "--seed", "11")
	bags := expectedBags(11, 5)
	var lines []string
	waitFor(t, 20*time.Second, "one newlog line per report", func() bool {
		lines = grepLogs(t, m.Stdout.String())
		return len(lines) == len(bags)
	})
	first := bags[0]
	rt, _ := first.Get("request.time")
	dur, _ := first.Get("response.duration")
	size, _ := first.Get("response.size")
	assert.Contains(t, lines, fmt.Sprintf(`{"level":"warn","time":"%s","instance":"newlog.instance.istio-system","destination":"productpage","latency":"%s","responseCode":200,"responseSize":%d,"source":"istio-ingressgateway","user":"unknown"}`,
		rt.Time().UTC().Format("2006-01-02T15:04:05.000000Z"), dur.Duration(), size.Int64()))

	// Switch to the details-only rule by rewriting the same file.
	writeConfig(t, m.collector, dir, "log-entry.yaml", readSeed(t, "log-entry-details.yaml"))
	before := len(lines)
	loadgen(t, m.Mixer, "--requests", "5", "--seed", "12")
	details := 0
	for _, b := range expectedBags(12, 5) {
		if str(b, "destination.service.name") == "details" {
			details++
		}
	}
	waitFor(t, 20*time.Second, "one newlog line per details report", func() bool {
		lines = grepLogs(t, m.Stdout.String())
		return len(lines) == before+details
	})
	for _, l := range lines[before:] {
		assert.Contains(t, l, `"destination":"details"`)
		assert.Contains(t, l, `"instance":"newlog.instance.istio-system"`)
	}
}
