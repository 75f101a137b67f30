package tests

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-istio/otelcol-istio/internal/accesslog"
	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// The seed's "Getting Envoy's Access Logs" task on the real binary: the
// istio-proxy containers' stdout, as the kubelet keeps it under
// /var/log/pods, tailed by file_log with the container parser, parsed by
// envoy_access_log and run through Mixer rules by istio_rules.

// accessLogIstioConfig counts requests by reporter, destination service
// and response code, and logs each HTTP request to stdio.
const accessLogIstioConfig = `
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata:
  name: requestcount
  namespace: istio-system
spec:
  compiledTemplate: metric
  params:
    value: "1"
    dimensions:
      reporter: conditional((context.reporter.kind | "inbound") == "outbound", "source", "destination")
      destination_service: destination.service.host | "unknown"
      response_code: response.code | 200
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata:
  name: prom
  namespace: istio-system
spec:
  compiledAdapter: prometheus
  params:
    metrics:
    - name: requests_total
      instance_name: requestcount.instance.istio-system
      kind: COUNTER
      label_names: [reporter, destination_service, response_code]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata:
  name: promhttp
  namespace: istio-system
spec:
  match: context.protocol == "http" || context.protocol == "grpc"
  actions:
  - handler: prom
    instances: [requestcount]
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata:
  name: accesslog
  namespace: istio-system
spec:
  compiledTemplate: logentry
  params:
    severity: '"Info"'
    timestamp: request.time
    variables:
      reporter: conditional((context.reporter.kind | "inbound") == "outbound", "source", "destination")
      reporterUid: context.reporter.uid | "unknown"
      method: request.method | ""
      url: request.path | ""
      responseCode: response.code | 0
      latency: response.duration | "0ms"
      destinationServiceHost: destination.service.host | ""
      userAgent: request.useragent | ""
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata:
  name: stdio
  namespace: istio-system
spec:
  compiledAdapter: stdio
  params:
    outputAsJson: true
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata:
  name: stdiohttp
  namespace: istio-system
spec:
  match: context.protocol == "http" || context.protocol == "grpc"
  actions:
  - handler: stdio
    instances: [accesslog]
`

// accessLogCollector is the binary tailing pod logs under Dir.
type accessLogCollector struct {
	*collector
	Dir         string // the /var/log/pods stand-in
	Metrics     string // URL of the Prometheus exposition of the rules
	SelfMetrics string // URL of the collector's own metrics
}

func startAccessLogCollector(t *testing.T) *accessLogCollector {
	t.Helper()
	return startAccessLogCollectorWith(t, accessLogOptions{})
}

// accessLogOptions says how to tail the pod logs.
type accessLogOptions struct {
	Dir     string // the /var/log/pods stand-in; empty: a new temporary one
	Storage string // a file_storage directory for file_log's checkpoints, as the DaemonSet keeps them; empty: none, and start_at: beginning
}

func startAccessLogCollectorWith(t *testing.T, o accessLogOptions) *accessLogCollector {
	t.Helper()
	logDir := o.Dir
	if logDir == "" {
		logDir = t.TempDir()
	}
	cfgDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "telemetry.yaml"), []byte(accessLogIstioConfig), 0o600))
	health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	prom := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startAt, storage, storageExt, extensions := "beginning", "", "", "[health_check, istio_config]"
	if o.Storage != "" {
		startAt, storage = "end", "\n    storage: file_storage"
		storageExt = fmt.Sprintf("\n  file_storage:\n    directory: %s\n    create_directory: true", o.Storage)
		extensions = "[health_check, istio_config, file_storage]"
	}
	cfg := fmt.Sprintf(`
extensions:
  health_check:
    endpoint: %s
  istio_config:
    sources:
      - path: %s%s
receivers:
  file_log:
    include: [%s]
    start_at: %s%s
    include_file_path: true
    poll_interval: 50ms
    operators:
      - type: container
processors:
  envoy_access_log: {}
connectors:
  istio_rules:
    flush_interval: 100ms
exporters:
  prometheus:
    endpoint: %s
    without_scope_info: true
    translation_strategy: NoTranslation
  istio_stdio: {}
service:
  extensions: %s
  pipelines:
    logs/lines: {receivers: [file_log], processors: [envoy_access_log], exporters: [istio_rules]}
    metrics: {receivers: [istio_rules], exporters: [prometheus]}
    logs/entries: {receivers: [istio_rules], exporters: [istio_stdio]}
`, health, cfgDir, storageExt, filepath.Join(logDir, "*", accesslog.Container, "*.log"), startAt, storage, prom, extensions)
	c := startCollector(t, collectorOptions{Config: cfg, Health: health})
	return &accessLogCollector{collector: c, Dir: logDir, Metrics: "http://" + prom + "/metrics",
		SelfMetrics: "http://" + c.Telemetry + "/metrics"}
}

// httpBody returns the body of a GET, or "" when the server does not
// answer (yet).
func httpBody(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return ""
	}
	return string(b)
}

// counterValue sums the samples of a counter in an exposition (the
// collector's own metrics carry component labels).
func counterValue(exposition, name string, labels ...string) float64 {
	sum := 0.0
	for _, l := range strings.Split(exposition, "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		match := true
		for _, lb := range labels {
			match = match && strings.Contains(l, lb)
		}
		if !match {
			continue
		}
		f := strings.Fields(l)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// teapotBag is sleep → httpbin /status/418 (the task's request) as one
// side's proxy reports it.
func teapotBag(start time.Time, outbound bool) bookinfo.Bag {
	kind, reporter := "inbound", "kubernetes://httpbin-74fb669cc6-vmqzh.foo"
	if outbound {
		kind, reporter = "outbound", "kubernetes://sleep-dd98b5f48-djwdw.foo"
	}
	return bookinfo.Bag{
		{Name: "context.reporter.kind", Value: attribute.StringValue(kind)},
		{Name: "context.reporter.uid", Value: attribute.StringValue(reporter)},
		{Name: "context.protocol", Value: attribute.StringValue("http")},
		{Name: "request.time", Value: attribute.TimestampValue(start)},
		{Name: "response.duration", Value: attribute.DurationValue(4 * time.Millisecond)},
		{Name: "request.method", Value: attribute.StringValue("GET")},
		{Name: "request.path", Value: attribute.StringValue("/status/418")},
		{Name: "request.host", Value: attribute.StringValue("httpbin:8000")},
		{Name: "request.useragent", Value: attribute.StringValue("curl/8.5.0")},
		{Name: "request.id", Value: attribute.StringValue("84961386-6d84-929d-98bd-c5aee93b5c88")},
		{Name: "response.code", Value: attribute.Int64Value(418)},
		{Name: "response.size", Value: attribute.Int64Value(135)},
		{Name: "source.ip", Value: attribute.IPValue(net.IPv4(10, 44, 1, 23).To4())},
		{Name: "destination.ip", Value: attribute.IPValue(net.IPv4(10, 44, 1, 27).To4())},
		{Name: "destination.port", Value: attribute.Int64Value(8000)},
		{Name: "destination.service.host", Value: attribute.StringValue("httpbin.foo.svc.cluster.local")},
		{Name: "connection.mtls", Value: attribute.BoolValue(!outbound)},
	}
}

// agentLines are what a sidecar's stdout holds besides access-log lines.
var agentLines = []string{
	"2026-11-25T10:00:00.101519Z\tinfo\tFLAG: --concurrency=\"2\"",
	"2026-11-25T10:00:01.223180Z\tinfo\txdsproxy\tconnected to upstream XDS server: istiod.istio-system.svc:15012",
	"2026-11-25T10:00:01.941217Z\tinfo\tEnvoy proxy is ready",
}

// writeAgentLines appends the agent's lines to a pod's istio-proxy log.
func writeAgentLines(t *testing.T, dir, namespace, pod string, at time.Time) {
	t.Helper()
	path := accesslog.PodLogPath(dir, namespace, pod)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	var buf []byte
	for _, l := range agentLines {
		buf = accesslog.AppendCRI(buf, at, l)
	}
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	_, err = fh.Write(buf)
	require.NoError(t, err)
	require.NoError(t, fh.Close())
}

var stdioTime = regexp.MustCompile(`"time":"[^"]*"`)

// TestAccessLogTask: with accessLogFile /dev/stdout, curl from sleep to
// httpbin/status/418 gives one line in each sidecar's log; the collector
// turns them into the request's series (one per reporter) and log entries.
// The client's runtime is containerd (CRI lines), the server's Docker
// (json-file lines), and both logs start with istio-agent's own lines.
func TestAccessLogTask(t *testing.T) {
	c := startAccessLogCollector(t)
	start := time.Now().UTC().Truncate(time.Millisecond)
	writeAgentLines(t, c.Dir, "foo", "sleep-dd98b5f48-djwdw", start.Add(-time.Minute))
	writeAgentLines(t, c.Dir, "foo", "httpbin-74fb669cc6-vmqzh", start.Add(-time.Minute+time.Second))

	f, err := accesslog.Preset("istio-1.23")
	require.NoError(t, err)
	cri := accesslog.NewPodLogs(c.Dir, f, accesslog.CRI)
	require.NoError(t, cri.Write(teapotBag(start, true)))
	require.NoError(t, cri.Close())
	docker := accesslog.NewPodLogs(c.Dir, f, accesslog.Docker)
	require.NoError(t, docker.Write(teapotBag(start, false)))
	require.NoError(t, docker.Close())
	// The ingress gateway logs in JSON (accessLogEncoding: JSON); the
	// processor detects the format per line.
	gw := bookinfo.NewGenerator(bookinfo.Options{Seed: 5, Start: start, MTLS: true}).HTTP(bookinfo.Call{
		Source: bookinfo.Gateway, Destination: bookinfo.ProductPage, Service: "productpage", Port: 9080,
		Path: "/productpage", Code: 200, ResponseSize: 4415, Duration: 21 * time.Millisecond,
	}, true)
	js, err := accesslog.Preset("json")
	require.NoError(t, err)
	jw := accesslog.NewPodLogs(c.Dir, js, accesslog.CRI)
	require.NoError(t, jw.Write(gw))
	require.NoError(t, jw.Close())

	var expo string
	waitFor(t, 30*time.Second, "the series of both reporters", func() bool {
		expo = httpBody(c.Metrics)
		return strings.Contains(expo, `istio_requests_total{destination_service="httpbin.foo.svc.cluster.local",reporter="source",response_code="418"} 1`) &&
			strings.Contains(expo, `istio_requests_total{destination_service="httpbin.foo.svc.cluster.local",reporter="destination",response_code="418"} 1`) &&
			strings.Contains(expo, `istio_requests_total{destination_service="productpage.default.svc.cluster.local",reporter="source",response_code="200"} 1`)
	})
	assert.Equal(t, 3.0, counterValue(expo, "istio_requests_total"), expo)
	promtoolCheck(t, expo)

	var entries []string
	waitFor(t, 10*time.Second, "a log entry per request and reporter", func() bool {
		entries = nil
		for _, l := range strings.Split(c.Stdout.String(), "\n") {
			if strings.Contains(l, `"instance":"accesslog.instance.istio-system"`) {
				entries = append(entries, stdioTime.ReplaceAllString(l, `"time":"<t>"`))
			}
		}
		return len(entries) == 3
	})
	assert.Contains(t, entries, `{"level":"info","time":"<t>","instance":"accesslog.instance.istio-system","destinationServiceHost":"httpbin.foo.svc.cluster.local","latency":"4ms","method":"GET","reporter":"source","reporterUid":"kubernetes://sleep-dd98b5f48-djwdw.foo","responseCode":418,"url":"/status/418","userAgent":"curl/8.5.0"}`)
	assert.Contains(t, entries, `{"level":"info","time":"<t>","instance":"accesslog.instance.istio-system","destinationServiceHost":"httpbin.foo.svc.cluster.local","latency":"4ms","method":"GET","reporter":"destination","reporterUid":"kubernetes://httpbin-74fb669cc6-vmqzh.foo","responseCode":418,"url":"/status/418","userAgent":"curl/8.5.0"}`)
	assert.Contains(t, c.Stdout.String(), `"time":"`+start.Format("2006-01-02T15:04:05.000000Z")+`"`, "the entry's time is the request's start")

	// istio-agent's lines are counted and dropped.
	var tel string
	waitFor(t, 10*time.Second, "the processor's counters", func() bool {
		tel = httpBody(c.SelfMetrics)
		return counterValue(tel, "otelcol_envoy_access_log_unparsed_lines", `reason="not_access_log"`) == float64(2*len(agentLines)) &&
			counterValue(tel, "otelcol_envoy_access_log_parsed_lines") == 3
	})
}

// TestAccessLogOff: with accessLogFile "" a sidecar's stdout holds only
// istio-agent's lines: they are read and counted, and no series or log
// entry appears.
func TestAccessLogOff(t *testing.T) {
	c := startAccessLogCollector(t)
	now := time.Now().UTC()
	// (different times: file_log takes files with the same first bytes
	// for one file)
	writeAgentLines(t, c.Dir, "foo", "sleep-dd98b5f48-djwdw", now)
	writeAgentLines(t, c.Dir, "foo", "httpbin-74fb669cc6-vmqzh", now.Add(time.Second))
	waitFor(t, 30*time.Second, "the agent lines to be read", func() bool {
		return counterValue(httpBody(c.SelfMetrics), "otelcol_envoy_access_log_unparsed_lines", `reason="not_access_log"`) == float64(2*len(agentLines))
	})
	time.Sleep(500 * time.Millisecond) // several flush intervals of istio_rules
	assert.NotContains(t, httpBody(c.Metrics), "istio_requests_total")
	assert.NotContains(t, c.Stdout.String(), `"instance":"accesslog.instance.istio-system"`)
}

// With its checkpoints in a file_storage directory, as the DaemonSet keeps
// them, file_log resumes where it stopped: the lines written while the
// collector was down are counted after it restarts, and none read before is
// read again. (Without them, start_at: end would skip the lines written
// while it was down, and start_at: beginning would count everything twice.)
func TestAccessLogResumesAfterRestart(t *testing.T) {
	logDir, storage := t.TempDir(), t.TempDir()
	f, err := accesslog.Preset("istio-1.23")
	require.NoError(t, err)
	start := time.Now().UTC().Truncate(time.Millisecond)
	write := func(from, n int) {
		w := accesslog.NewPodLogs(logDir, f, accesslog.CRI)
		for i := from; i < from+n; i++ {
			require.NoError(t, w.Write(teapotBag(start.Add(time.Duration(i)*time.Millisecond), true)))
		}
		require.NoError(t, w.Close())
	}
	requests := func(c *accessLogCollector) float64 {
		return counterValue(httpBody(c.Metrics), "istio_requests_total")
	}
	entries := func(c *accessLogCollector) int {
		return strings.Count(c.Stdout.String(), `"instance":"accesslog.instance.istio-system"`)
	}

	first := startAccessLogCollectorWith(t, accessLogOptions{Dir: logDir, Storage: storage})
	// A file that appears after file_log's first poll is read from its
	// start, start_at: end or not.
	time.Sleep(time.Second)
	write(0, 5)
	waitFor(t, 30*time.Second, "the first 5 lines counted", func() bool { return requests(first) == 5 })
	first.terminate(30 * time.Second)
	<-first.done
	require.NoError(t, first.err)
	assert.Equal(t, 5, entries(first))

	write(5, 7) // while no collector runs
	second := startAccessLogCollectorWith(t, accessLogOptions{Dir: logDir, Storage: storage})
	waitFor(t, 30*time.Second, "the 7 lines written while it was down", func() bool { return requests(second) >= 7 })
	time.Sleep(time.Second) // several polls more: nothing read twice
	assert.Equal(t, 7.0, requests(second))
	assert.Equal(t, 7, entries(second))
}
