package stdiofmt

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// The golden lines in testdata come from Istio's stdio adapter tests and from
// a real Mixer (see testdata/README.md). Each case is turned into the records
// the rules engine would emit, in both forms, and the encoder must give the
// same bytes.

type adapterCase struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Config struct {
		OutputAsJSON bool   `json:"output_as_json"`
		MetricLevel  string `json:"metric_level"`
	} `json:"config"`
	TemplateType struct {
		Variables  map[string]string `json:"variables"`
		Dimensions map[string]string `json:"dimensions"`
	} `json:"template_type"`
	Now       string `json:"now"`
	Instances []struct {
		Name       string                `json:"name"`
		Severity   string                `json:"severity"`
		Timestamp  string                `json:"timestamp"`
		Variables  map[string]typedValue `json:"variables"`
		Value      *typedValue           `json:"value"`
		Dimensions map[string]typedValue `json:"dimensions"`
	} `json:"instances"`
	Expect struct {
		Lines []string `json:"lines"`
	} `json:"expect"`
}

type typedValue struct {
	Type        string          `json:"type"`
	Value       json.RawMessage `json:"value"`
	ValueBase64 string          `json:"value_base64"`
	GoValue     string          `json:"go_value"`
}

func levelNamed(t testing.TB, name string) istioconfig.StdioLevel {
	switch name {
	case "INFO", "info":
		return istioconfig.LevelInfo
	case "WARNING", "warn":
		return istioconfig.LevelWarning
	case "ERROR", "error":
		return istioconfig.LevelError
	}
	t.Fatalf("unknown level %q", name)
	return 0
}

func parseTime(t testing.TB, s string) time.Time {
	ts, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err, s)
	return ts
}

// putAdapterValue stores tv as the rules engine hands a value of that type
// to an exporter: natives for INT64, DOUBLE and BOOL, Mixer's rendering as a
// string for the rest. The exceptions follow the Go values of Istio's test:
// a STRING_MAP there is a plain Go map (zap wrote it as a JSON object, where
// Mixer's runtime StringMap printed `stringmap[…]`), so it becomes a pdata
// Map; a net.IP prints through its String method even as a metric dimension.
func putAdapterValue(t *testing.T, m pcommon.Map, key string, tv typedValue, metric bool) {
	var raw any
	if len(tv.Value) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(tv.Value)))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&raw))
	}
	switch tv.Type {
	case "STRING", "DNS_NAME", "EMAIL_ADDRESS", "URI":
		m.PutStr(key, raw.(string))
	case "INT64":
		i, err := raw.(json.Number).Int64()
		require.NoError(t, err)
		m.PutInt(key, i)
	case "DOUBLE":
		f, err := raw.(json.Number).Float64()
		require.NoError(t, err)
		m.PutDouble(key, f)
	case "BOOL":
		m.PutBool(key, raw.(bool))
	case "TIMESTAMP":
		m.PutStr(key, parseTime(t, raw.(string)).UTC().Format(instancerecord.TimeLayout))
	case "DURATION":
		d, err := time.ParseDuration(raw.(string))
		require.NoError(t, err)
		m.PutStr(key, d.String())
	case "STRING_MAP":
		sm := m.PutEmptyMap(key)
		for k, v := range raw.(map[string]any) {
			sm.PutStr(k, v.(string))
		}
	case "BYTES":
		b, err := base64.StdEncoding.DecodeString(tv.ValueBase64)
		require.NoError(t, err)
		m.PutStr(key, base64.StdEncoding.EncodeToString(b))
	case "IP_ADDRESS":
		ip := net.ParseIP(raw.(string))
		require.NotNil(t, ip, "ip %s", tv.Value)
		if strings.HasPrefix(tv.GoValue, "[]byte") && metric {
			// Only logentry variables got the dotted conversion.
			m.PutStr(key, base64.StdEncoding.EncodeToString(ip))
		} else {
			m.PutStr(key, ip.String())
		}
	default:
		t.Fatalf("%s: unknown type %s", key, tv.Type)
	}
}

func TestAdapterCases(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "adapter-cases-stdio.json"))
	require.NoError(t, err)
	var file struct {
		Stdio struct {
			Cases []adapterCase `json:"cases"`
		} `json:"stdio"`
	}
	require.NoError(t, json.Unmarshal(data, &file))
	require.Len(t, file.Stdio.Cases, 10)
	for _, enc := range instancerecordtest.Encodings {
		t.Run(enc, func(t *testing.T) { testAdapterCases(t, file.Stdio.Cases, enc) })
	}
}

func testAdapterCases(t *testing.T, cases []adapterCase, enc string) {
	lines := 0
	for _, c := range cases {
		t.Run(c.ID, func(t *testing.T) {
			p := istioconfig.DefaultStdioParams()
			p.OutputAsJSON = c.Config.OutputAsJSON
			p.MetricLevel = levelNamed(t, c.Config.MetricLevel)
			kind := LogEntry
			if c.Kind == "metric" {
				kind = Metric
			}
			var e Encoder
			var got []string
			for _, in := range c.Instances {
				lr := plog.NewLogRecord()
				lr.SetEventName(in.Name)
				if kind == Metric {
					// A metric's time is the handler clock.
					instancerecord.SetTime(lr, parseTime(t, c.Now))
					putAdapterValue(t, lr.Attributes(), instancerecord.MetricValueKey, *in.Value, true)
					for k, v := range in.Dimensions {
						putAdapterValue(t, lr.Attributes(), k, v, true)
					}
				} else {
					instancerecord.SetTime(lr, parseTime(t, in.Timestamp))
					lr.SetSeverityText(in.Severity)
					for k, v := range in.Variables {
						_, declared := c.TemplateType.Variables[k]
						require.True(t, declared, k)
						putAdapterValue(t, lr.Attributes(), k, v, false)
					}
				}
				require.NoError(t, instancerecordtest.Encode(lr, enc))
				got = append(got, strings.TrimSuffix(string(e.AppendRecord(nil, lr, kind, &p)), "\n"))
			}
			assert.Equal(t, c.Expect.Lines, got)
			lines += len(got)
		})
	}
	t.Logf("%d adapter cases, %d lines", len(cases), lines)
}

// parsedLine is one golden line read back into its parts.
type parsedLine struct {
	json                  bool
	time, level, instance string
	keys                  []string
	values                []any // string, int64, float64, bool
}

// parseLine reads a JSON or console line. Numbers become int64 when they
// have no fraction or exponent and fit, float64 otherwise; a DOUBLE whose
// shortest 'f' form has no '.' (100) prints exactly like the INT64, so the
// choice does not matter for the bytes.
func parseLine(t testing.TB, line string) parsedLine {
	var pl parsedLine
	var body string
	if strings.HasPrefix(line, "{") {
		pl.json = true
		body = line
	} else {
		parts := strings.SplitN(line, "\t", 4)
		require.Len(t, parts, 4, line)
		pl.time, pl.level, pl.instance, body = parts[0], parts[1], parts[2], parts[3]
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	for dec.More() {
		kt, err := dec.Token()
		require.NoError(t, err)
		key := kt.(string)
		vt, err := dec.Token()
		require.NoError(t, err)
		var v any
		switch x := vt.(type) {
		case string, bool:
			v = x
		case json.Number:
			s := x.String()
			if i, err := strconv.ParseInt(s, 10, 64); err == nil && !strings.ContainsAny(s, ".eE") {
				v = i
			} else {
				f, err := strconv.ParseFloat(s, 64)
				require.NoError(t, err, s)
				v = f
			}
		default:
			t.Fatalf("unexpected token %v in %s", vt, line)
		}
		if pl.json {
			switch key {
			case "level":
				pl.level = v.(string)
				continue
			case "time":
				pl.time = v.(string)
				continue
			case "instance":
				pl.instance = v.(string)
				continue
			}
		}
		pl.keys = append(pl.keys, key)
		pl.values = append(pl.values, v)
	}
	_, err = dec.Token()
	require.NoError(t, err)
	return pl
}

// severityFor picks a severity that the default map turns into level,
// choosing different spellings so that the lookup is exercised.
var severityFor = map[istioconfig.StdioLevel]string{
	istioconfig.LevelInfo:    "Info", // unknown: info, as the default accesslog
	istioconfig.LevelWarning: "WARNING",
	istioconfig.LevelError:   "fatal",
}

func TestMixerOracle(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mixer-oracle-stdio.json"))
	require.NoError(t, err)
	var file struct {
		Cases []struct {
			Name               string   `json:"name"`
			ClockTimeInstances []string `json:"clock_time_instances"`
			ExpectedLogLines   []string `json:"expected_log_lines"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(data, &file))
	for _, enc := range instancerecordtest.Encodings {
		t.Run(enc, func(t *testing.T) {
			total := 0
			var e Encoder
			for _, c := range file.Cases {
				t.Run(c.Name, func(t *testing.T) { total += oracleCase(t, &e, c.ClockTimeInstances, c.ExpectedLogLines, enc) })
			}
			t.Logf("%d oracle lines reproduced", total)
			assert.Equal(t, 142, total, "lines in testdata/mixer-oracle-stdio.json")
		})
	}
}

// oracleCase turns each line of one case back into the record the rules
// engine would emit, in the form enc, and checks that it is written the same;
// it returns the number of lines reproduced.
func oracleCase(t *testing.T, e *Encoder, clockTimeInstances, lines []string, enc string) (total int) {
	for i, line := range lines {
		pl := parseLine(t, line)
		kind := LogEntry
		if slices.Contains(clockTimeInstances, pl.instance) {
			kind = Metric
		}
		p := istioconfig.DefaultStdioParams()
		p.OutputAsJSON = pl.json
		lr := plog.NewLogRecord()
		lr.SetEventName(pl.instance)
		instancerecord.SetTime(lr, parseTime(t, pl.time))
		level := levelNamed(t, pl.level)
		if kind == Metric {
			p.MetricLevel = level
		} else {
			lr.SetSeverityText(severityFor[level])
		}
		// Insert in reverse, so that the encoder has to sort (and
		// find `value`) itself.
		a := lr.Attributes()
		for j := len(pl.keys) - 1; j >= 0; j-- {
			switch v := pl.values[j].(type) {
			case string:
				a.PutStr(pl.keys[j], v)
			case int64:
				a.PutInt(pl.keys[j], v)
			case float64:
				a.PutDouble(pl.keys[j], v)
			case bool:
				a.PutBool(pl.keys[j], v)
			}
		}
		require.NoError(t, instancerecordtest.Encode(lr, enc))
		got := string(e.AppendRecord(nil, lr, kind, &p))
		if !assert.Equal(t, line+"\n", got, "line %d", i) {
			continue
		}
		if pl.json {
			assert.True(t, json.Valid([]byte(got)), "line %d", i)
		}
		total++
	}
	return total
}

// TestOracleParser guards the parser the oracle test relies on.
func TestOracleParser(t *testing.T) {
	pl := parseLine(t, `{"level":"warn","time":"T","instance":"i","a":1,"b":1.5,"c":1000000000000000000000,"d":"x","e":false}`)
	assert.Equal(t, parsedLine{json: true, time: "T", level: "warn", instance: "i",
		keys: []string{"a", "b", "c", "d", "e"}, values: []any{int64(1), 1.5, 1e21, "x", false}}, pl)
	pl = parseLine(t, "T\terror\ti\t{\"value\": \"0s\", \"n\": -1}")
	assert.Equal(t, parsedLine{time: "T", level: "error", instance: "i",
		keys: []string{"value", "n"}, values: []any{"0s", int64(-1)}}, pl)
}
