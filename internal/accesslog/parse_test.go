package accesslog

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

const client123 = `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`

func TestParseOutcomes(t *testing.T) {
	tests := []struct {
		name, line string
		err        error
	}{
		{"line", client123, nil},
		{"newline", client123 + "\n", nil},
		{"crlf", client123 + "\r\n", nil},
		{"empty", "", ErrNotAccessLog},
		{"just newline", "\n", ErrNotAccessLog},
		{"istio-agent line", "2024-01-11T21:09:42.835913Z\tinfo\txdsproxy\tconnected to upstream XDS server: istiod.istio-system.svc:15012", ErrNotAccessLog},
		{"envoy line", "2024-01-11T21:09:43.001Z\twarning\tenvoy config\tStreamAggregatedResources gRPC config stream closed", ErrNotAccessLog},
		{"truncated", client123[:120], ErrNoMatch},
		{"letters for a number", strings.Replace(client123, " 0 135 ", " 0 abc ", 1), ErrNoMatch},
		{"bracket garbage", "[not a line]", ErrNoMatch},
		{"json garbage", `{"start_time": `, ErrNoMatch},
		{"json not an object", `{]`, ErrNoMatch},
		{"json trailing", `{"method":"GET"} x`, ErrNoMatch},
	}
	p := NewAutoParser()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Entry
			err := p.Parse(tt.line, &e)
			if tt.err == nil {
				require.NoError(t, err)
				v, _ := e.Value("%ROUTE_NAME%")
				assert.Equal(t, "default", v, "the line ending is not part of the last value")
				return
			}
			assert.ErrorIs(t, err, tt.err)
			assert.Nil(t, e.Format())
		})
	}
}

// Values may contain the literal that follows them: the matcher takes the
// occurrence that lets the rest of the line match.
func TestParseValuesContainingSeparators(t *testing.T) {
	ua := `Mozilla/5.0 "quoted" " " (X11)`
	xff := `10.0.0.1, 10.0.0.2`
	reason := `delayed connect error: 111`
	line := strings.Replace(client123, `"curl/7.73.0-DEV"`, `"`+ua+`"`, 1)
	line = strings.Replace(line, `4 4 "-" "`, `4 4 "`+xff+`" "`, 1)
	line = strings.Replace(line, `via_upstream - "-"`, `via_upstream - "`+reason+`"`, 1)
	var e Entry
	require.NoError(t, NewAutoParser().Parse(line, &e))
	for op, want := range map[string]string{
		"%REQ(USER-AGENT)%":                   ua,
		"%REQ(X-FORWARDED-FOR)%":              xff,
		"%UPSTREAM_TRANSPORT_FAILURE_REASON%": reason,
		"%REQ(X-REQUEST-ID)%":                 "84961386-6d84-929d-98bd-c5aee93b5c88",
		"%REQ(:AUTHORITY)%":                   "httpbin:8000",
	} {
		v, _ := e.Value(op)
		assert.Equal(t, want, v, op)
	}
	lr := plog.NewLogRecord()
	record(t, NewMapper(MapperOptions{}), lr, &e, nil)
	h, _ := lr.Attributes().Get("request.headers")
	assert.Equal(t, map[string]any{"x-forwarded-for": xff, "x-request-id": "84961386-6d84-929d-98bd-c5aee93b5c88"}, h.Map().AsRaw())
}

// A hostile line cannot make matching slow: the work per format is bounded.
func TestParseBudget(t *testing.T) {
	f, err := Compile(`%REQ(A)% %REQ(B)% %REQ(C)% %REQ(D)% %REQ(E)% %RESPONSE_CODE%`)
	require.NoError(t, err)
	line := strings.Repeat("a ", 5000) + "x"
	var e Entry
	assert.ErrorIs(t, NewParser(f).Parse(line, &e), ErrNoMatch)
	f, err = Compile(`%REQ(A)%%REQ(B)%%REQ(C)%%RESPONSE_CODE%`)
	require.NoError(t, err)
	require.NoError(t, NewParser(f).Parse("abc12", &e), "adjacent operators split somewhere")
	assert.ErrorIs(t, NewParser(f).Parse(strings.Repeat("a", 3000)+"x", &e), ErrNoMatch)
}

// The parser remembers which format matched last and tries it first; a
// line of another format is still found.
func TestParseMixedFormats(t *testing.T) {
	lines := loadRefLines(t)
	p := NewAutoParser()
	for range 3 {
		for _, name := range []string{"real-1.1-server", "real-current-client", "real-json-gateway", "constructed-1.8-server", "constructed-1.2-server"} {
			var e Entry
			require.NoError(t, p.Parse(lines[name].line, &e), name)
			assert.Equal(t, shape(lines[name].format), shape(e.Format().Name()), name)
		}
	}
}

func TestParseCustomFirst(t *testing.T) {
	custom, err := Compile(`[%START_TIME%] %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %UPSTREAM_CLUSTER% %DOWNSTREAM_PEER_URI_SAN% "%REQ(CONTENT-TYPE)%" %GRPC_STATUS%`)
	require.NoError(t, err)
	p := NewAutoParser(custom)
	var e Entry
	line := `[2026-11-25T10:00:00.000Z] POST /helloworld.Greeter/SayHello 200 inbound|50051|| spiffe://cluster.local/ns/default/sa/client,spiffe://x "application/grpc+proto" NotFound`
	require.NoError(t, p.Parse(line, &e))
	assert.Equal(t, "custom", e.Format().Name())
	lr := plog.NewLogRecord()
	m := NewMapper(MapperOptions{WorkloadFromPodName: true})
	record(t, m, lr, &e, m.Reporter("default", "greeter-5d8f7c9b6d-x2k9p"))
	got := lr.Attributes().AsRaw()
	for k, want := range map[string]any{
		"context.protocol":          "grpc",
		"context.reporter.kind":     "inbound",
		"response.grpc_status":      "5",
		"source.principal":          "cluster.local/ns/default/sa/client",
		"source.namespace":          "default",
		"connection.mtls":           true,
		"destination.workload.name": "greeter",
		"destination.workload.uid":  "istio://default/workloads/greeter",
		"request.headers":           map[string]any{"content-type": "application/grpc+proto"},
	} {
		assert.Equal(t, want, got[k], k)
	}
	// the presets still work behind it
	require.NoError(t, p.Parse(client123, &e))
	assert.Equal(t, "istio-1.23", e.Format().Name())
}

func TestJSONStrings(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`"plain"`, "plain", true},
		{`"a\"b\\c\/d\n\t\r\b\f"`, "a\"b\\c/d\n\t\r\b\f", true},
		{`"\u00e9\u4e2d"`, "é中", true},
		{`"\ud83d\ude00"`, "😀", true},
		{`"\ud83d"`, "\ufffd", true},
		{`"\x"`, "", false},
		{`"\u12"`, "", false},
		{"\"a\nb\"", "", false},
		{`"open`, "", false},
	}
	for _, tt := range tests {
		v, _, ok := jsonString(tt.in, 0)
		assert.Equal(t, tt.ok, ok, tt.in)
		if ok {
			assert.Equal(t, tt.want, v, tt.in)
		}
	}
}

func TestWorkloadFromPodName(t *testing.T) {
	for pod, want := range map[string]string{
		"productpage-v1-6c886ff494-hm7zk":       "productpage-v1",
		"istio-ingressgateway-7c8b6b6b5d-f9g2h": "istio-ingressgateway",
		"fluentd-x7k2p":                         "fluentd",
		"mongodb-0":                             "mongodb",
		"sleep":                                 "",
		"my-pod-name":                           "",
		"":                                      "",
	} {
		assert.Equal(t, want, WorkloadFromPodName(pod), pod)
	}
}
