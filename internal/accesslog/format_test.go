package accesslog

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPreset(t *testing.T) {
	tests := []struct {
		name, want, err string
	}{
		{"istio-1.1", "istio-1.1", ""},
		{"istio-1.2", "istio-1.2", ""},
		{"istio-1.3", "istio-1.3", ""},
		{"istio-1.7", "istio-1.3", ""},
		{"istio-1.8", "istio-1.8", ""},
		{"istio-1.9", "istio-1.9", ""},
		{"istio-1.22", "istio-1.9", ""},
		{"istio-1.23", "istio-1.23", ""},
		{"istio-1.30", "istio-1.23", ""},
		{"json", "json", ""},
		{"istio-1.0", "", `unknown access-log format "istio-1.0"`},
		{"istio-1.+3", "", `unknown access-log format`},
		{"istio-2.0", "", `unknown access-log format`},
		{"text", "", `unknown access-log format "text"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Preset(tt.name)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, f.Name())
		})
	}
	for _, n := range PresetNames() {
		f, err := Preset(n)
		require.NoError(t, err)
		assert.Equal(t, n, f.Name())
		assert.NotEmpty(t, f.String())
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ format, err string }{
		{"", "is empty"},
		{"\n", "is empty"},
		{"[%START_TIME] x", `column 2: operator %START_TIME is not closed by %`},
		{"%REQ(:METHOD %", "column 1: operator %REQ( has no closing parenthesis"},
		{"a % b", `column 3: "% b" does not start a command operator`},
		{"%REQ(X):% y", "column 1: operator %REQ has ':' without a length"},
		{"%DURATION", "column 1: operator %DURATION is not closed by %"},
		{`{"a": "%REQ(X"}`, `key "a": column 1: operator %REQ( has no closing parenthesis`},
		{`{"a": "%A%", "a": "%B%"}`, `key "a" twice`},
		{`{"a": 1}`, "has no keys"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			_, err := Compile(tt.format)
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestCompileOperators(t *testing.T) {
	f, err := Compile(`%REQ(:METHOD)% %REQ(X-B3-TRACEID):16% %RESP(GRPC-STATUS)% %TRAILER(GRPC-MESSAGE)% %RESP(SERVER)% 100%% %DYNAMIC_METADATA(a:b)% %NEW_OPERATOR_42%` + "\n")
	require.NoError(t, err)
	require.False(t, f.IsJSON())
	var got []string
	for _, o := range f.ops {
		got = append(got, o.text)
	}
	assert.Equal(t, []string{"%REQ(:METHOD)%", "%REQ(X-B3-TRACEID):16%", "%RESP(GRPC-STATUS)%", "%TRAILER(GRPC-MESSAGE)%",
		"%RESP(SERVER)%", "%DYNAMIC_METADATA(a:b)%", "%NEW_OPERATOR_42%"}, got)
	assert.Equal(t, fMethod, f.ops[0].field)
	assert.Equal(t, fReqHeader, f.ops[1].field)
	assert.Equal(t, "x-b3-traceid", f.ops[1].header)
	assert.Equal(t, fGRPCStatus, f.ops[2].field)
	assert.Equal(t, fGRPCMessage, f.ops[3].field)
	assert.Equal(t, "server", f.ops[4].header)
	assert.Equal(t, fNone, f.ops[6].field, "an operator this package does not know is accepted and ignored")
	var e Entry
	require.NoError(t, NewParser(f).Parse("GET 463ac35c9f6413ad 0 done nginx 100% {} 7", &e))
	v, ok := e.Value("%REQ(X-B3-TRACEID):16%")
	assert.True(t, ok)
	assert.Equal(t, "463ac35c9f6413ad", v)
}

func TestStartTimeLayouts(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 1, 234567891, time.UTC)
	tests := []struct {
		op, printed string
		parsed      time.Time
	}{
		{"%START_TIME%", "2026-11-25T10:00:01.234Z", at.Truncate(time.Millisecond)},
		{"%START_TIME(%s)%", "1795600801", at.Truncate(time.Second)},
		{"%START_TIME(%Y-%m-%dT%H:%M:%S%z)%", "2026-11-25T10:00:01+0000", at.Truncate(time.Second)},
		{"%START_TIME(%Y/%m/%d %T.%6f)%", "2026/11/25 10:00:01.234567", at.Truncate(time.Microsecond)},
		{"%START_TIME(%F %E3S)%", "2026-11-25 01.234", time.Time{}}, // no hours: printed, read back as is
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			f, err := Compile(tt.op)
			require.NoError(t, err)
			l := f.ops[0].time
			require.NotNil(t, l)
			assert.Equal(t, tt.printed, string(l.append(nil, at)))
			got, ok := l.parse(tt.printed)
			require.True(t, ok)
			if !tt.parsed.IsZero() {
				assert.True(t, tt.parsed.Equal(got), "%s != %s", tt.parsed, got)
			}
		})
	}
	// a layout Go cannot read back: the value is not used, the line still parses
	f, err := Compile("[%START_TIME(%Y%m%d 1st %H)%] %RESPONSE_CODE%")
	require.NoError(t, err)
	_, ok := f.ops[0].time.parse("20261125 1st 10")
	assert.False(t, ok)
	var e Entry
	require.NoError(t, NewParser(f).Parse("[20261125 1st 10] 200", &e))
}

func TestParseEnvoyTime(t *testing.T) {
	for _, s := range []string{"2020-11-25T21:26:18.409Z", "2020-11-25T21:26:18Z", "2020-11-25T21:26:18.123456789Z"} {
		want, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		got, ok := parseEnvoyTime(s)
		require.True(t, ok, s)
		assert.True(t, want.Equal(got), s)
	}
	for _, s := range []string{"", "2020-11-25 21:26:18.409Z", "2020-13-25T21:26:18.409Z", "2020-11-25T21:26:18.Z",
		"2020-11-25T21:26:18.1234567890Z", "2020-11-25T21:26:18,409Z", "2020-1a-25T21:26:18.409Z"} {
		_, ok := parseEnvoyTime(s)
		assert.False(t, ok, s)
	}
}

func TestCustomJSONFormat(t *testing.T) {
	// Istio's accessLogFormat with accessLogEncoding JSON: keys to operators.
	f, err := Compile(`{"ts":"%START_TIME%","req":"%REQ(:METHOD)% %REQ(:PATH)%","code":"%RESPONSE_CODE%","cluster":"%UPSTREAM_CLUSTER%","pod":"%ENVIRONMENT(POD_NAME)%","n":1}`)
	require.NoError(t, err)
	require.True(t, f.IsJSON())
	var e Entry
	line := `{"ts":"2026-11-25T10:00:00.000Z","req":"POST /a\/b?c=d","code":503,"cluster":"outbound|80||x.y.svc.cluster.local","pod":"p","extra":{"k":[1,"}"]}}`
	require.NoError(t, NewParser(f).Parse(line, &e))
	for op, want := range map[string]string{
		"%REQ(:METHOD)%": "POST", "%REQ(:PATH)%": "/a/b?c=d", "%RESPONSE_CODE%": "503",
		"%UPSTREAM_CLUSTER%": "outbound|80||x.y.svc.cluster.local",
	} {
		v, ok := e.Value(op)
		assert.True(t, ok, op)
		assert.Equal(t, want, v, op)
	}
	out, err := FormatLine(f, testBag(t, false))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, `{"ts":"2026-11-25T10:00:00.000Z","req":"GET /status/418","code":418,`), out)
}
