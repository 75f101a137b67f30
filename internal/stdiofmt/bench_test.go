package stdiofmt

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// accessLogRecord builds the first default-http oracle line (the Istio 1.1
// default `accesslog` instance, 41 variables) as the rules engine emits it in
// the form enc: variables in sorted order, or in reverse when sorted is false.
func accessLogRecord(tb testing.TB, sorted bool, enc string) (plog.LogRecord, string) {
	data, err := os.ReadFile(filepath.Join("testdata", "mixer-oracle-stdio.json"))
	require.NoError(tb, err)
	var file struct {
		Cases []struct {
			Name             string   `json:"name"`
			ExpectedLogLines []string `json:"expected_log_lines"`
		} `json:"cases"`
	}
	require.NoError(tb, json.Unmarshal(data, &file))
	var line string
	for _, c := range file.Cases {
		if c.Name == "default-http" {
			line = c.ExpectedLogLines[0]
		}
	}
	require.NotEmpty(tb, line)
	pl := parseLine(tb, line)
	lr := plog.NewLogRecord()
	lr.SetEventName(pl.instance)
	lr.SetSeverityText("Info")
	instancerecord.SetTime(lr, parseTime(tb, pl.time))
	a := lr.Attributes()
	for n := range pl.keys {
		j := n
		if !sorted {
			j = len(pl.keys) - 1 - n
		}
		switch v := pl.values[j].(type) {
		case string:
			a.PutStr(pl.keys[j], v)
		case int64:
			a.PutInt(pl.keys[j], v)
		}
	}
	require.Equal(tb, 41, lr.Attributes().Len())
	require.NoError(tb, instancerecordtest.Encode(lr, enc))
	return lr, line + "\n"
}

func TestAccessLogRecord(t *testing.T) {
	for _, enc := range instancerecordtest.Encodings {
		for _, sorted := range []bool{true, false} {
			lr, want := accessLogRecord(t, sorted, enc)
			p := istioconfig.DefaultStdioParams()
			var e Encoder
			assert.Equal(t, want, string(e.AppendRecord(nil, lr, LogEntry, &p)), "%s sorted=%v", enc, sorted)
		}
	}
}

// TestZeroAllocs holds the encoder to its promise: once the buffers have
// grown, a line costs no allocation in either layout and form, sorted or
// not.
func TestZeroAllocs(t *testing.T) {
	for _, enc := range instancerecordtest.Encodings {
		for _, sorted := range []bool{true, false} {
			for _, asJSON := range []bool{true, false} {
				lr, _ := accessLogRecord(t, sorted, enc)
				p := istioconfig.DefaultStdioParams()
				p.OutputAsJSON = asJSON
				var e Encoder
				buf := e.AppendRecord(nil, lr, LogEntry, &p)
				allocs := testing.AllocsPerRun(100, func() {
					buf = e.AppendRecord(buf[:0], lr, LogEntry, &p)
				})
				assert.Zero(t, allocs, "%s sorted=%v json=%v", enc, sorted, asJSON)
			}
		}
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	for _, bc := range []struct {
		name           string
		sorted, asJSON bool
		enc            string
	}{
		{"accesslog/json", true, true, instancerecord.EncodingAttributes},
		{"accesslog/console", true, false, instancerecord.EncodingAttributes},
		{"accesslog/json-unsorted", false, true, instancerecord.EncodingAttributes},
		{"accesslog/json-packed", true, true, instancerecord.EncodingPacked},
		{"accesslog/console-packed", true, false, instancerecord.EncodingPacked},
		{"accesslog/json-unsorted-packed", false, true, instancerecord.EncodingPacked},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lr, _ := accessLogRecord(b, bc.sorted, bc.enc)
			p := istioconfig.DefaultStdioParams()
			p.OutputAsJSON = bc.asJSON
			var e Encoder
			buf := e.AppendRecord(nil, lr, LogEntry, &p)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = e.AppendRecord(buf[:0], lr, LogEntry, &p)
			}
		})
	}
}
