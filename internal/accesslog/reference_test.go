package accesslog

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// refLine is one block of testdata/reference-lines.txt.
type refLine struct {
	name, format, namespace, pod, line string
}

func loadRefLines(t testing.TB) map[string]refLine {
	t.Helper()
	fh, err := os.Open(filepath.Join("testdata", "reference-lines.txt"))
	require.NoError(t, err)
	defer fh.Close()
	out := map[string]refLine{}
	var cur refLine
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "## name: "):
			cur = refLine{name: strings.TrimPrefix(l, "## name: ")}
		case strings.HasPrefix(l, "## format: "):
			cur.format = strings.TrimPrefix(l, "## format: ")
		case strings.HasPrefix(l, "## reporter: "):
			cur.namespace, cur.pod, _ = strings.Cut(strings.TrimPrefix(l, "## reporter: "), "/")
		case l == "" || strings.HasPrefix(l, "#"):
		default:
			cur.line = l
			out[cur.name] = cur
		}
	}
	require.NoError(t, sc.Err())
	return out
}

func ns(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

func ip(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

const ms = int64(time.Millisecond)

// The attributes each reference line must yield, exactly.
var wantRef = map[string]map[string]any{
	"real-current-client": {
		"context.reporter.kind":         "outbound",
		"context.reporter.uid":          "kubernetes://sleep-dd98b5f48-djwdw.foo",
		"context.protocol":              "http",
		"context.proxy_error_code":      "-",
		"context.time":                  ns("2020-11-25T21:26:18.409Z"),
		"request.time":                  ns("2020-11-25T21:26:18.409Z"),
		"response.duration":             4 * ms,
		"response.time":                 ns("2020-11-25T21:26:18.413Z"),
		"request.method":                "GET",
		"request.host":                  "httpbin:8000",
		"request.path":                  "/status/418",
		"request.url_path":              "/status/418",
		"request.useragent":             "curl/7.73.0-DEV",
		"request.id":                    "84961386-6d84-929d-98bd-c5aee93b5c88",
		"request.headers":               map[string]any{"x-request-id": "84961386-6d84-929d-98bd-c5aee93b5c88"},
		"request.size":                  int64(0),
		"response.code":                 int64(418),
		"response.size":                 int64(135),
		"response.headers":              map[string]any{"x-envoy-upstream-service-time": "4"},
		"source.ip":                     ip("10.44.1.23"),
		"source.name":                   "sleep-dd98b5f48-djwdw",
		"source.namespace":              "foo",
		"source.workload.namespace":     "foo",
		"source.uid":                    "kubernetes://sleep-dd98b5f48-djwdw.foo",
		"destination.ip":                ip("10.44.1.27"),
		"destination.port":              int64(8000),
		"destination.service.host":      "httpbin.foo.svc.cluster.local",
		"destination.service.name":      "httpbin",
		"destination.service.namespace": "foo",
		"destination.service.uid":       "istio://foo/services/httpbin",
	},
	"real-current-server": {
		"context.reporter.kind":            "inbound",
		"context.reporter.uid":             "kubernetes://httpbin-74fb669cc6-vmqzh.foo",
		"context.protocol":                 "http",
		"context.proxy_error_code":         "-",
		"context.time":                     ns("2020-11-25T21:26:18.409Z"),
		"request.time":                     ns("2020-11-25T21:26:18.409Z"),
		"response.duration":                3 * ms,
		"response.time":                    ns("2020-11-25T21:26:18.412Z"),
		"request.method":                   "GET",
		"request.host":                     "httpbin:8000",
		"request.path":                     "/status/418",
		"request.url_path":                 "/status/418",
		"request.useragent":                "curl/7.73.0-DEV",
		"request.id":                       "84961386-6d84-929d-98bd-c5aee93b5c88",
		"request.headers":                  map[string]any{"x-request-id": "84961386-6d84-929d-98bd-c5aee93b5c88"},
		"request.size":                     int64(0),
		"response.code":                    int64(418),
		"response.size":                    int64(135),
		"response.headers":                 map[string]any{"x-envoy-upstream-service-time": "1"},
		"connection.requested_server_name": "outbound_.8000_._.httpbin.foo.svc.cluster.local",
		"connection.mtls":                  true,
		"source.ip":                        ip("10.44.1.23"),
		"destination.name":                 "httpbin-74fb669cc6-vmqzh",
		"destination.namespace":            "foo",
		"destination.workload.namespace":   "foo",
		"destination.uid":                  "kubernetes://httpbin-74fb669cc6-vmqzh.foo",
		"destination.ip":                   ip("10.44.1.27"),
		"destination.port":                 int64(80),
		"destination.service.host":         "httpbin.foo.svc.cluster.local",
		"destination.service.name":         "httpbin",
		"destination.service.namespace":    "foo",
		"destination.service.uid":          "istio://foo/services/httpbin",
	},
	"real-tcp-egress": {
		"context.reporter.kind":            "outbound",
		"context.reporter.uid":             "kubernetes://istio-egressgateway-5b8c8b8b9f-mx4z7.istio-system",
		"context.protocol":                 "tcp",
		"context.proxy_error_code":         "-",
		"context.time":                     ns("2024-01-11T21:09:42.835Z"),
		"connection.event":                 "close",
		"connection.received.bytes":        int64(839),
		"connection.received.bytes_total":  int64(839),
		"connection.sent.bytes":            int64(2504306),
		"connection.sent.bytes_total":      int64(2504306),
		"connection.duration":              231 * ms,
		"connection.requested_server_name": "edition.cnn.com",
		"source.ip":                        ip("172.30.239.15"),
		"source.name":                      "istio-egressgateway-5b8c8b8b9f-mx4z7",
		"source.namespace":                 "istio-system",
		"source.workload.namespace":        "istio-system",
		"source.uid":                       "kubernetes://istio-egressgateway-5b8c8b8b9f-mx4z7.istio-system",
		"destination.ip":                   ip("151.101.195.5"),
		"destination.port":                 int64(443),
		"destination.service.host":         "edition.cnn.com",
		"destination.service.name":         "edition",
	},
	"real-1.1-server": {
		"context.reporter.kind":            "inbound",
		"context.reporter.uid":             "kubernetes://httpbin-5fc7cf895d-8tp2q.default",
		"context.protocol":                 "http",
		"context.proxy_error_code":         "-",
		"context.time":                     ns("2019-03-06T09:31:27.360Z"),
		"request.time":                     ns("2019-03-06T09:31:27.360Z"),
		"response.duration":                5 * ms,
		"response.time":                    ns("2019-03-06T09:31:27.365Z"),
		"request.method":                   "GET",
		"request.host":                     "httpbin:8000",
		"request.path":                     "/status/418",
		"request.url_path":                 "/status/418",
		"request.useragent":                "curl/7.60.0",
		"request.id":                       "d209e46f-9ed5-9b61-bbdd-43e22662702a",
		"request.headers":                  map[string]any{"x-request-id": "d209e46f-9ed5-9b61-bbdd-43e22662702a"},
		"request.size":                     int64(0),
		"response.code":                    int64(418),
		"response.size":                    int64(135),
		"response.headers":                 map[string]any{"x-envoy-upstream-service-time": "2"},
		"connection.requested_server_name": "outbound_.8000_._.httpbin.default.svc.cluster.local",
		"connection.mtls":                  true,
		"source.ip":                        ip("172.30.146.82"),
		"destination.name":                 "httpbin-5fc7cf895d-8tp2q",
		"destination.namespace":            "default",
		"destination.workload.namespace":   "default",
		"destination.uid":                  "kubernetes://httpbin-5fc7cf895d-8tp2q.default",
		"destination.ip":                   ip("172.30.146.73"),
		"destination.port":                 int64(80),
		"destination.service.host":         "httpbin.default.svc.cluster.local",
		"destination.service.name":         "httpbin",
		"destination.service.namespace":    "default",
		"destination.service.uid":          "istio://default/services/httpbin",
	},
	"real-json-gateway": {
		"context.reporter.kind":         "outbound",
		"context.reporter.uid":          "kubernetes://istio-ingressgateway-7c8b6b6b5d-f9g2h.istio-system",
		"context.protocol":              "http",
		"context.proxy_error_code":      "-",
		"context.time":                  ns("2021-05-30T18:50:42.181Z"),
		"request.time":                  ns("2021-05-30T18:50:42.181Z"),
		"response.duration":             3 * ms,
		"response.time":                 ns("2021-05-30T18:50:42.184Z"),
		"request.method":                "GET",
		"request.host":                  "127.0.0.1",
		"request.path":                  "/wrongpath",
		"request.url_path":              "/wrongpath",
		"request.useragent":             "curl/7.64.1",
		"request.id":                    "a279ad6e-0e1c-98ea-9d74-d6028e2017f8",
		"request.headers":               map[string]any{"x-forwarded-for": "172.17.0.1", "x-request-id": "a279ad6e-0e1c-98ea-9d74-d6028e2017f8"},
		"request.size":                  int64(0),
		"response.code":                 int64(404),
		"response.size":                 int64(19),
		"response.headers":              map[string]any{"x-envoy-upstream-service-time": "2"},
		"source.ip":                     ip("172.17.0.1"),
		"source.name":                   "istio-ingressgateway-7c8b6b6b5d-f9g2h",
		"source.namespace":              "istio-system",
		"source.workload.namespace":     "istio-system",
		"source.uid":                    "kubernetes://istio-ingressgateway-7c8b6b6b5d-f9g2h.istio-system",
		"destination.ip":                ip("172.17.0.9"),
		"destination.port":              int64(80),
		"destination.service.host":      "frontend.online-boutique.svc.cluster.local",
		"destination.service.name":      "frontend",
		"destination.service.namespace": "online-boutique",
		"destination.service.uid":       "istio://online-boutique/services/frontend",
	},
}

func init() {
	// The constructed lines say what real-1.1-server says.
	for _, n := range []string{"constructed-1.2-server", "constructed-1.3-server", "constructed-1.8-server"} {
		wantRef[n] = wantRef["real-1.1-server"]
	}
}

// shape groups presets whose lines look alike (auto detection may name
// either).
func shape(name string) string {
	if name == "istio-1.9" {
		return "istio-1.23"
	}
	return name
}

// TestReferenceLines parses every line of testdata/reference-lines.txt with
// its preset and with auto detection, and checks every attribute.
func TestReferenceLines(t *testing.T) {
	lines := loadRefLines(t)
	require.Len(t, lines, len(wantRef))
	m := NewMapper(MapperOptions{})
	for name, want := range wantRef {
		rl, ok := lines[name]
		require.True(t, ok, name)
		t.Run(name, func(t *testing.T) {
			f, err := Preset(rl.format)
			require.NoError(t, err)
			for _, p := range []struct {
				how string
				p   *Parser
			}{{"preset", NewParser(f)}, {"auto", NewAutoParser()}} {
				var e Entry
				require.NoError(t, p.p.Parse(rl.line, &e), p.how)
				assert.Equal(t, shape(rl.format), shape(e.Format().Name()), p.how)
				lr := plog.NewLogRecord()
				lr.Body().SetStr(rl.line)
				lr.Attributes().PutStr("log.file.path", "/var/log/pods/x/istio-proxy/0.log")
				observed := pcommon.NewTimestampFromTime(time.Unix(1700000000, 0))
				lr.SetObservedTimestamp(observed)
				record(t, m, lr, &e, m.Reporter(rl.namespace, rl.pod))
				assert.Equal(t, want, lr.Attributes().AsRaw(), p.how)
				assert.Equal(t, "istio.attributes", lr.EventName())
				assert.Equal(t, pcommon.ValueTypeEmpty, lr.Body().Type(), "the line is not kept")
				assert.Equal(t, observed, lr.ObservedTimestamp())
				start := want["context.time"].(int64)
				assert.Equal(t, start, int64(lr.Timestamp()))
			}
		})
	}
}

// Every preset rejects the reference lines of the other shapes, so that
// detection cannot pick a wrong one.
func TestPresetsRejectOtherShapes(t *testing.T) {
	lines := loadRefLines(t)
	for _, name := range PresetNames() {
		f, err := Preset(name)
		require.NoError(t, err)
		p := NewParser(f)
		for _, rl := range lines {
			var e Entry
			err := p.Parse(rl.line, &e)
			if shape(rl.format) == shape(name) {
				assert.NoError(t, err, "%s on %s", name, rl.name)
			} else {
				assert.Error(t, err, "%s on %s", name, rl.name)
			}
		}
	}
}
