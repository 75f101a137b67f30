package accesslog

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// testBag is the teapot request (sleep → httpbin /status/418) as one
// reporter saw it.
func testBag(t testing.TB, outbound bool) bookinfo.Bag {
	t.Helper()
	kind, reporter := "inbound", "kubernetes://httpbin-74fb669cc6-vmqzh.foo"
	if outbound {
		kind, reporter = "outbound", "kubernetes://sleep-dd98b5f48-djwdw.foo"
	}
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
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

func TestFormatLine(t *testing.T) {
	f, err := Preset("istio-1.23")
	require.NoError(t, err)
	got, err := FormatLine(f, testBag(t, true))
	require.NoError(t, err)
	assert.Equal(t, `[2026-11-25T10:00:00.000Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 - "-" "curl/8.5.0" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:8000" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:60124 10.44.1.27:8000 10.44.1.23:39522 - default`, got)
	got, err = FormatLine(f, testBag(t, false))
	require.NoError(t, err)
	assert.Equal(t, `[2026-11-25T10:00:00.000Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 - "-" "curl/8.5.0" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:8000" inbound|8000|| 127.0.0.6:60124 10.44.1.27:8000 10.44.1.23:60124 outbound_.8000_._.httpbin.foo.svc.cluster.local default`, got)

	f, err = Preset("istio-1.1")
	require.NoError(t, err)
	got, err = FormatLine(f, testBag(t, false))
	require.NoError(t, err)
	assert.Contains(t, got, ` inbound|8000|http|httpbin.foo.svc.cluster.local `, "1.1 proxies named inbound clusters with the host")

	got, err = FormatLine(jsonPreset, testBag(t, true))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(got), &m), got)
	assert.Equal(t, float64(418), m["response_code"])
	assert.Equal(t, float64(4), m["duration"])
	assert.Equal(t, "GET", m["method"])
	assert.Nil(t, m["x_forwarded_for"])
	assert.Nil(t, m["upstream_service_time"])

	_, err = FormatLine(f, bookinfo.Bag{})
	assert.ErrorContains(t, err, "neither request.time nor context.time")
	_, err = FormatLine(nil, testBag(t, true))
	assert.Error(t, err)
}

// Every preset prints Bookinfo's reports so that parsing and mapping the
// line gives the bag's attributes back (those a line can carry).
func TestFormatRoundTrip(t *testing.T) {
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 3, MTLS: true, Enriched: true})
	var bags []bookinfo.Bag
	for range 3 {
		bags = append(bags, g.Next()...)
	}
	bags = append(bags, g.TCPConnection()...)
	bags = append(bags, testBag(t, true), testBag(t, false))
	carried := []string{
		"context.reporter.kind", "context.reporter.uid", "context.protocol", "context.proxy_error_code",
		"request.time", "request.method", "request.path", "request.host", "request.useragent",
		"response.code", "response.size", "request.size", "response.duration",
		"destination.service.host", "destination.service.name", "destination.service.namespace",
		"destination.port", "destination.ip", "connection.received.bytes_total", "connection.sent.bytes_total",
	}
	m := NewMapper(MapperOptions{})
	for _, name := range PresetNames() {
		f, err := Preset(name)
		require.NoError(t, err)
		p := NewParser(f)
		for i, b := range bags {
			line, err := FormatLine(f, b)
			require.NoError(t, err)
			var e Entry
			require.NoError(t, p.Parse(line, &e), "%s: %s", name, line)
			ns, pod, ok := ReporterOf(b)
			require.True(t, ok)
			lr := plog.NewLogRecord()
			record(t, m, lr, &e, m.Reporter(ns, pod))
			got := lr.Attributes()
			for _, a := range carried {
				want, ok := b.Get(a)
				if !ok {
					continue
				}
				if str(b, "context.protocol") == "tcp" && str(b, "connection.event") != "close" &&
					strings.HasPrefix(a, "connection.") {
					continue // the line of a connection carries its totals; only close lines are mapped as such
				}
				v, ok := got.Get(a)
				if !assert.True(t, ok, "%s bag %d: %s missing from %s", name, i, a, line) {
					continue
				}
				switch want.Type() {
				case attribute.TypeTimestamp:
					assert.Equal(t, want.Time().Truncate(time.Millisecond).UnixNano(), v.Int(), "%s bag %d: %s", name, i, a)
				case attribute.TypeDuration:
					assert.Equal(t, want.Duration().Truncate(time.Millisecond).Nanoseconds(), v.Int(), "%s bag %d: %s", name, i, a)
				case attribute.TypeInt64:
					assert.Equal(t, want.Int64(), v.Int(), "%s bag %d: %s", name, i, a)
				case attribute.TypeIPAddress:
					assert.Equal(t, []byte(net.IP(want.IP()).To4()), v.Bytes().AsRaw(), "%s bag %d: %s", name, i, a)
				default:
					assert.Equal(t, want.Str(), v.Str(), "%s bag %d: %s", name, i, a)
				}
			}
		}
	}
}

func str(b bookinfo.Bag, name string) string {
	v, _ := b.Get(name)
	return v.Str()
}

func TestContainerWrapping(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	assert.Equal(t, "2026-11-25T10:00:00.000000000Z stdout F [x] \"y\"\n", string(AppendCRI(nil, at, `[x] "y"`)))
	assert.Equal(t, `{"log":"[x] \"y\"\n","stream":"stdout","time":"2026-11-25T10:00:00.000000000Z"}`+"\n",
		string(AppendDocker(nil, at, `[x] "y"`)))
	uid := PodUID("foo", "sleep-dd98b5f48-djwdw")
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, uid)
	assert.Equal(t, filepath.Join("/var/log/pods", "foo_sleep-dd98b5f48-djwdw_"+uid, "istio-proxy", "0.log"),
		PodLogPath("/var/log/pods", "foo", "sleep-dd98b5f48-djwdw"))
}

func TestPodLogs(t *testing.T) {
	dir := t.TempDir()
	f, err := Preset("istio-1.23")
	require.NoError(t, err)
	for _, wrap := range []Wrapping{CRI, Docker} {
		w := NewPodLogs(dir, f, wrap)
		require.NoError(t, w.Write(testBag(t, true)))
		require.NoError(t, w.Write(testBag(t, false)))
		require.NoError(t, w.Write(testBag(t, true)))
		assert.Equal(t, 3, w.Lines)
		require.ErrorContains(t, w.Write(bookinfo.Bag{}), "context.reporter.uid")
		require.NoError(t, w.Close())
	}
	client, err := os.ReadFile(PodLogPath(dir, "foo", "sleep-dd98b5f48-djwdw"))
	require.NoError(t, err)
	lines := bytes.Split(bytes.TrimSuffix(client, []byte("\n")), []byte("\n"))
	require.Len(t, lines, 4)
	assert.True(t, bytes.HasPrefix(lines[0], []byte("2026-11-25T10:00:00.004000000Z stdout F [2026-11-25T10:00:00.000Z] \"GET /status/418 HTTP/1.1\" 418 ")), string(lines[0]))
	assert.True(t, bytes.HasPrefix(lines[2], []byte(`{"log":"[2026-11-25T10:00:00.000Z] \"GET`)), string(lines[2]))
	// a TCP connection: one line, at close, for each side
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1})
	w := NewPodLogs(dir, f, CRI)
	for _, b := range g.TCPConnection() {
		require.NoError(t, w.Write(b))
	}
	require.NoError(t, w.Close())
	assert.Equal(t, 2, w.Lines)
	assert.Equal(t, 4, w.Skipped)
	mongo, err := os.ReadFile(PodLogPath(dir, bookinfo.MongoDB.Namespace, bookinfo.MongoDB.Pod))
	require.NoError(t, err)
	assert.Contains(t, string(mongo), `"- - -" 0 - - - "-" 438 1765 12000 `)

	server, err := os.ReadFile(PodLogPath(dir, "foo", "httpbin-74fb669cc6-vmqzh"))
	require.NoError(t, err)
	assert.Equal(t, 2, bytes.Count(server, []byte("\n")))
}

func TestReporterOf(t *testing.T) {
	for uid, want := range map[string][2]string{
		"kubernetes://sleep-dd98b5f48-djwdw.foo": {"foo", "sleep-dd98b5f48-djwdw"},
		"kubernetes://web.v2.prod":               {"prod", "web.v2"},
		"kubernetes://nodot":                     {"", ""},
		"kubernetes://pod.":                      {"", ""},
		"istio://x.y":                            {"", ""},
	} {
		ns, pod, ok := ReporterOf(bookinfo.Bag{{Name: "context.reporter.uid", Value: attribute.StringValue(uid)}})
		assert.Equal(t, want[0] != "", ok, uid)
		assert.Equal(t, want, [2]string{ns, pod}, uid)
	}
}

func TestPodOfLogPath(t *testing.T) {
	for path, want := range map[string][2]string{
		PodLogPath("/var/log/pods", "foo", "sleep-dd98b5f48-djwdw"):                                     {"foo", "sleep-dd98b5f48-djwdw"},
		"/var/log/pods/istio-system_istio-ingressgateway-7c8b6b6b5d-f9g2h_2e55-8f08/istio-proxy/12.log": {"istio-system", "istio-ingressgateway-7c8b6b6b5d-f9g2h"},
		"pods/default_web.v2_0a1b/istio-proxy/0.log":                                                    {"default", "web.v2"},
		"default_web_0a1b/istio-proxy/0.log":                                                            {"default", "web"},
		"/var/log/pods/foo_sleep/istio-proxy/0.log":                                                     {}, // no UID
		"/var/log/pods/foo_sleep_0a1b_x/istio-proxy/0.log":                                              {},
		"/var/log/pods/_sleep_0a1b/istio-proxy/0.log":                                                   {},
		"/var/log/pods/foo__0a1b/istio-proxy/0.log":                                                     {},
		"/var/log/pods/foo_sleep_/istio-proxy/0.log":                                                    {},
		"/var/log/containers/sleep_foo_istio-proxy-0a1b.log":                                            {}, // the symlinks' layout
		"istio-proxy/0.log": {},
		"0.log":             {},
		"":                  {},
	} {
		ns, pod, ok := PodOfLogPath(path)
		assert.Equal(t, want[0] != "", ok, path)
		assert.Equal(t, want, [2]string{ns, pod}, path)
	}
}
