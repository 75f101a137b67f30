package stdiofmt

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

func TestAppendString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "a string", `"a string"`},
		{"empty", "", `""`},
		{"quote and backslash", `curl/7.1 "x"\y`, `"curl/7.1 \"x\"\\y"`},
		{"short escapes", "a\nb\rc\td", `"a\nb\rc\td"`},
		// zap has no \b or \f short forms: every other control byte is \u00XX.
		{"backspace formfeed", "\b\f", `"\u0008\u000c"`},
		{"nul and 0x1f", "\x00\x1f", `"\u0000\u001f"`},
		{"DEL raw", "ctl\x01\x7fend", "\"ctl\\u0001\x7fend\""},
		{"html raw", "<&>", `"<&>"`},
		{"non-ASCII raw", "é 日本語 \u00a0", "\"é 日本語 \u00a0\""},
		{"line separators raw", "\u2028\u2029", "\"\u2028\u2029\""},
		{"valid U+FFFD raw", "\ufffd", "\"\ufffd\""},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		// Each byte of a broken sequence is replaced on its own.
		{"truncated rune", "\xe6\x97", `"\ufffd\ufffd"`},
		{"surrogate half", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"escaped-looking text", `\u0041`, `"\\u0041"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, string(AppendString(nil, tt.in)))
		})
	}
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{1.23, "1.23"},
		{0.5, "0.5"},
		{100, "100"},
		{1e21, "1000000000000000000000"},
		{1e-7, "0.0000001"},
		{-2.5e-10, "-0.00000000025"},
		{123456789.125, "123456789.125"},
		{math.Copysign(0, -1), "-0"},
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"+Inf"`},
		{math.Inf(-1), `"-Inf"`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, string(AppendFloat(nil, tt.in)), "%v", tt.in)
	}
}

// TestLayouts covers what the conformance data does not: empty names and
// field lists, value kinds the rules engine does not emit, times carried in
// the Body, and `value` placement. Each case runs in both forms, except
// those with values the packed form cannot hold.
func TestLayouts(t *testing.T) {
	ts := time.Date(2020, 7, 1, 10, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name           string
		kind           Kind
		console        bool
		build          func(lr plog.LogRecord)
		want           string
		attributesOnly bool
	}{
		{
			name:  "no fields",
			build: func(lr plog.LogRecord) { lr.SetEventName("a.instance.ns") },
			want:  `{"level":"info","time":"0001-01-01T00:00:00.000000Z","instance":"a.instance.ns"}` + "\n",
		},
		{
			name:    "no fields console",
			console: true,
			build:   func(lr plog.LogRecord) { lr.SetEventName("a.instance.ns") },
			want:    "0001-01-01T00:00:00.000000Z\tinfo\ta.instance.ns\n",
		},
		{
			name: "no name",
			build: func(lr plog.LogRecord) {
				instancerecord.SetTime(lr, ts)
				lr.Attributes().PutInt("x", 1)
			},
			want: `{"level":"info","time":"2020-07-01T10:00:00.123456Z","x":1}` + "\n",
		},
		{
			name:    "no name console",
			console: true,
			build: func(lr plog.LogRecord) {
				instancerecord.SetTime(lr, ts)
				lr.Attributes().PutInt("x", 1)
			},
			want: "2020-07-01T10:00:00.123456Z\tinfo\t{\"x\": 1}\n",
		},
		{
			name:    "console prints the name raw",
			console: true,
			build: func(lr plog.LogRecord) {
				lr.SetEventName("odd\"name")
				lr.Attributes().PutStr("k\"ey", "v")
			},
			want: "0001-01-01T00:00:00.000000Z\tinfo\todd\"name\t{\"k\\\"ey\": \"v\"}\n",
		},
		{
			name: "json escapes name and keys",
			build: func(lr plog.LogRecord) {
				lr.SetEventName("odd\"name")
				lr.Attributes().PutStr("k\"ey", "v")
			},
			want: `{"level":"info","time":"0001-01-01T00:00:00.000000Z","instance":"odd\"name","k\"ey":"v"}` + "\n",
		},
		{
			name: "foreign body is escaped as the time",
			build: func(lr plog.LogRecord) {
				lr.SetEventName("e")
				lr.Body().SetStr("not \"a\" time\n")
			},
			want: `{"level":"info","time":"not \"a\" time\n","instance":"e"}` + "\n",
		},
		{
			name: "sorted byte-wise",
			build: func(lr plog.LogRecord) {
				lr.SetEventName("e")
				a := lr.Attributes()
				for _, k := range []string{"requestedServerName", "connection_security_policy", "_under", "requestSize", "Upper", "connectionEvent"} {
					a.PutBool(k, true)
				}
			},
			want: `{"level":"info","time":"0001-01-01T00:00:00.000000Z","instance":"e","Upper":true,"_under":true,"connectionEvent":true,"connection_security_policy":true,"requestSize":true,"requestedServerName":true}` + "\n",
		},
		{
			name: "metric puts value first",
			kind: Metric,
			build: func(lr plog.LogRecord) {
				lr.SetEventName("m")
				a := lr.Attributes()
				a.PutStr("z", "z")
				a.PutStr("b", "b")
				a.PutDouble("value", 2.5)
				a.PutStr("a", "a")
			},
			want: `{"level":"warn","time":"0001-01-01T00:00:00.000000Z","instance":"m","value":2.5,"a":"a","b":"b","z":"z"}` + "\n",
		},
		{
			name: "metric with value among sorted dimensions",
			kind: Metric,
			build: func(lr plog.LogRecord) {
				lr.SetEventName("m")
				a := lr.Attributes()
				a.PutStr("a", "a")
				a.PutInt("value", 1)
				a.PutStr("z", "z")
			},
			want: `{"level":"warn","time":"0001-01-01T00:00:00.000000Z","instance":"m","value":1,"a":"a","z":"z"}` + "\n",
		},
		{
			name:    "metric with value in front, dimensions unsorted",
			kind:    Metric,
			console: true,
			build: func(lr plog.LogRecord) {
				lr.SetEventName("m")
				a := lr.Attributes()
				a.PutInt("value", 1)
				a.PutStr("b", "b")
				a.PutStr("a", "a")
			},
			want: "0001-01-01T00:00:00.000000Z\twarn\tm\t{\"value\": 1, \"a\": \"a\", \"b\": \"b\"}\n",
		},
		{
			name: "metric in output order",
			kind: Metric,
			build: func(lr plog.LogRecord) {
				lr.SetEventName("m")
				a := lr.Attributes()
				a.PutInt("value", 1)
				a.PutStr("a", "a")
				a.PutStr("value", "a dimension after the value")
			},
			want: `{"level":"warn","time":"0001-01-01T00:00:00.000000Z","instance":"m","value":"a dimension after the value","a":"a"}` + "\n",
		},
		{
			name: "metric without value",
			kind: Metric,
			build: func(lr plog.LogRecord) {
				lr.SetEventName("m")
				lr.Attributes().PutStr("b", "b")
				lr.Attributes().PutStr("a", "a")
			},
			want: `{"level":"warn","time":"0001-01-01T00:00:00.000000Z","instance":"m","a":"a","b":"b"}` + "\n",
		},
		{
			name: "a log entry sorts value with the rest",
			build: func(lr plog.LogRecord) {
				lr.SetEventName("e")
				lr.Attributes().PutInt("value", 1)
				lr.Attributes().PutInt("a", 2)
			},
			want: `{"level":"info","time":"0001-01-01T00:00:00.000000Z","instance":"e","a":2,"value":1}` + "\n",
		},
		{
			name: "values the engine does not emit",
			build: func(lr plog.LogRecord) {
				lr.SetEventName("e")
				a := lr.Attributes()
				a.PutEmptyBytes("bytes").FromRaw([]byte("b"))
				a.PutEmpty("empty")
				m := a.PutEmptyMap("map")
				m.PutStr("C", "D")
				m.PutStr("A", "B<&>")
				a.PutDouble("nan", math.NaN())
			},
			want: `{"level":"info","time":"0001-01-01T00:00:00.000000Z","instance":"e","bytes":"Yg==","empty":null,"map":{"A":"B<&>","C":"D"},"nan":"NaN"}` + "\n",
		},
		{
			name: "slice",
			build: func(lr plog.LogRecord) {
				lr.SetEventName("e")
				s := lr.Attributes().PutEmptySlice("slice")
				s.AppendEmpty().SetInt(1)
				s.AppendEmpty().SetStr("x")
			},
			want:           `{"level":"info","time":"0001-01-01T00:00:00.000000Z","instance":"e","slice":[1,"x"]}` + "\n",
			attributesOnly: true,
		},
		{
			name:    "nested values stay compact in console",
			console: true,
			build: func(lr plog.LogRecord) {
				lr.SetEventName("e")
				m := lr.Attributes().PutEmptyMap("map")
				m.PutStr("A", "B")
				m.PutStr("C", "1")
				lr.Attributes().PutEmptyMap("none")
			},
			want: "0001-01-01T00:00:00.000000Z\tinfo\te\t{\"map\": {\"A\":\"B\",\"C\":\"1\"}, \"none\": {}}\n",
		},
		{
			name:    "nested numbers",
			console: true,
			build: func(lr plog.LogRecord) {
				lr.SetEventName("e")
				m := lr.Attributes().PutEmptyMap("map")
				m.PutStr("A", "B")
				m.PutInt("C", 1)
			},
			want:           "0001-01-01T00:00:00.000000Z\tinfo\te\t{\"map\": {\"A\":\"B\",\"C\":1}}\n",
			attributesOnly: true,
		},
		{
			name: "an empty key is a field",
			build: func(lr plog.LogRecord) {
				lr.SetEventName("e")
				instancerecord.SetTime(lr, time.Unix(0, -1000))
				lr.Attributes().PutStr("", "x")
				lr.Attributes().PutStr("a", "y")
			},
			want: `{"level":"info","time":"1969-12-31T23:59:59.999999Z","instance":"e","":"x","a":"y"}` + "\n",
		},
	}
	for _, tt := range tests {
		for _, enc := range instancerecordtest.Encodings {
			if tt.attributesOnly && enc == instancerecord.EncodingPacked {
				continue
			}
			t.Run(tt.name+"/"+enc, func(t *testing.T) {
				p := istioconfig.DefaultStdioParams()
				p.OutputAsJSON = !tt.console
				p.MetricLevel = istioconfig.LevelWarning
				lr := plog.NewLogRecord()
				tt.build(lr)
				require.NoError(t, instancerecordtest.Encode(lr, enc))
				var e Encoder
				assert.Equal(t, tt.want, string(e.AppendRecord(nil, lr, tt.kind, &p)))
			})
		}
	}
}

// A Bytes Body that is not a whole packed buffer does not make a record
// packed: it is written from its attributes, as before packing existed.
func TestBytesBodyThatIsNotPacked(t *testing.T) {
	good := kvpack.AppendStr(kvpack.Begin(nil), "packed", "yes")
	for name, body := range map[string][]byte{
		"other version": {2, byte(kvpack.Str), 1, 'k', 0},
		"cut short":     good[:len(good)-1],
		"plain bytes":   []byte("\x01\xff\xff"),
	} {
		t.Run(name, func(t *testing.T) {
			lr := plog.NewLogRecord()
			lr.SetEventName("e")
			instancerecord.SetTime(lr, time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC))
			lr.Attributes().PutStr("attr", "x")
			lr.Body().SetEmptyBytes().FromRaw(body)
			p := istioconfig.DefaultStdioParams()
			var e Encoder
			assert.Equal(t, `{"level":"info","time":"2020-07-01T10:00:00.000000Z","instance":"e","attr":"x"}`+"\n",
				string(e.AppendRecord(nil, lr, LogEntry, &p)))
		})
	}
}

func TestSeverityLevels(t *testing.T) {
	replaced := istioconfig.DefaultStdioParams()
	// A map given in config replaces the default map (mixer-semantics §d.6).
	replaced.SeverityLevels = map[string]istioconfig.StdioLevel{"warning": istioconfig.LevelWarning}
	tests := []struct {
		severity      string
		def, withOnly string
	}{
		{"warning", "warn", "warn"},
		{"WARNING", "warn", "info"},
		{"error", "error", "info"},
		{"fatal", "error", "info"},
		{"Info", "info", "info"}, // the default accesslog's severity, not in the map
		{"BOGUS", "info", "info"},
		{"", "info", "info"},
	}
	def := istioconfig.DefaultStdioParams()
	var e Encoder
	for _, tt := range tests {
		lr := plog.NewLogRecord()
		lr.SetSeverityText(tt.severity)
		// Metric records ignore the severity.
		assert.Contains(t, string(e.AppendRecord(nil, lr, LogEntry, &def)), `{"level":"`+tt.def+`"`, tt.severity)
		assert.Contains(t, string(e.AppendRecord(nil, lr, LogEntry, &replaced)), `{"level":"`+tt.withOnly+`"`, tt.severity)
		assert.Contains(t, string(e.AppendRecord(nil, lr, Metric, &def)), `{"level":"info"`, tt.severity)
	}
}

func TestKindOf(t *testing.T) {
	s := pcommon.NewInstrumentationScope()
	assert.Equal(t, LogEntry, KindOf(s))
	s.Attributes().PutStr(instancerecord.ScopeAttrTemplate, instancerecord.TemplateLogEntry)
	assert.Equal(t, LogEntry, KindOf(s))
	s.Attributes().PutStr(instancerecord.ScopeAttrTemplate, instancerecord.TemplateMetric)
	assert.Equal(t, Metric, KindOf(s))
}
