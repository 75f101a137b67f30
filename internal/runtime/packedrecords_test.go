package runtime

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
	"github.com/otelcol-istio/otelcol-istio/internal/oracle"
	"github.com/otelcol-istio/otelcol-istio/internal/stdiofmt"
)

// packedRecords makes replay's engine write packed instance records.
var packedRecords bool

// forEachEncoding runs fn once per form of instance records, with replay
// writing that form.
func forEachEncoding(t *testing.T, fn func(t *testing.T, enc string)) {
	for _, enc := range instancerecordtest.Encodings {
		t.Run(enc, func(t *testing.T) {
			packedRecords = enc == instancerecord.EncodingPacked
			defer func() { packedRecords = false }()
			fn(t, enc)
		})
	}
}

// TestOracleLogLines replays every recorded case with the records in both
// forms, writes the records of stdio handlers as the istio_stdio exporter
// does and compares the lines with Mixer's, byte for byte (the time of
// instances stamped with the handler's clock masked).
func TestOracleLogLines(t *testing.T) {
	f, err := oracle.Load(oracle.Dir())
	require.NoError(t, err)
	forEachEncoding(t, func(t *testing.T, enc string) {
		lines := 0
		for i := range f.Cases {
			c := &f.Cases[i]
			t.Run(c.Name, func(t *testing.T) {
				e, out := replay(t, c)
				require.Equal(t, len(c.ExpectedLogLines), out.LogRecordCount())
				got := stdioLines(t, e.Snapshot(), out)
				assert.Equal(t, oracle.MaskClock(c.ExpectedLogLines, c.ClockTimeInstances), oracle.MaskClock(got, c.ClockTimeInstances))
				lines += len(got)
			})
		}
		assert.Equal(t, 142, lines, "lines in the oracle")
	})
}

// stdioLines writes the records of ld as the istio_stdio exporter does, with
// the params of snap's stdio handlers.
func stdioLines(t *testing.T, snap *istioconfig.Snapshot, ld plog.Logs) []string {
	t.Helper()
	lines, err := writeLines(snap, ld)
	require.NoError(t, err)
	return lines
}

func writeLines(snap *istioconfig.Snapshot, ld plog.Logs) ([]string, error) {
	var lines []string
	var enc stdiofmt.Encoder
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			h := snap.Handlers[sl.Scope().Name()]
			if h == nil {
				return nil, fmt.Errorf("no handler %s", sl.Scope().Name())
			}
			p := h.Stdio
			if p == nil {
				p = &defaultStdio
			}
			kind := stdiofmt.KindOf(sl.Scope())
			for _, lr := range sl.LogRecords().All() {
				lines = append(lines, strings.TrimSuffix(string(enc.AppendRecord(nil, lr, kind, p)), "\n"))
			}
		}
	}
	return lines, nil
}

// recordView is everything a consumer can read from an instance record.
type recordView struct {
	Scope, Adapter, Template, Event, Severity, Time string
	SeverityNumber                                  plog.SeverityNumber
	Fields                                          map[string]any
}

func viewRecords(t *testing.T, ld plog.Logs) []recordView {
	t.Helper()
	var out []recordView
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			attrs := sl.Scope().Attributes()
			adapter, _ := attrs.Get(instancerecord.ScopeAttrAdapter)
			template, _ := attrs.Get(instancerecord.ScopeAttrTemplate)
			for _, lr := range sl.LogRecords().All() {
				fields, err := instancerecordtest.Fields(lr)
				require.NoError(t, err)
				out = append(out, recordView{
					Scope: sl.Scope().Name(), Adapter: adapter.Str(), Template: template.Str(),
					Event: lr.EventName(), Severity: lr.SeverityText(), SeverityNumber: lr.SeverityNumber(),
					Time: string(instancerecord.AppendTime(nil, lr)), Fields: fields,
				})
			}
		}
	}
	return out
}

// Both forms carry the same records, and the stdio lines of both are the
// same, on the default config (HTTP and TCP traffic, values of every type)
// and on OTTL instances.
func TestPackedRecordsMatchAttributes(t *testing.T) {
	tests := []struct {
		name string
		snap *istioconfig.Snapshot
		bags func() [][]bookinfo.Bag
	}{
		{
			name: "default",
			snap: benchSnapshot(t, true),
			bags: func() [][]bookinfo.Bag {
				g := bookinfo.NewGenerator(bookinfo.Options{Seed: 7, Enriched: true, MTLS: true})
				out := [][]bookinfo.Bag{g.TCPConnection()}
				for range 5 {
					out = append(out, g.Next())
				}
				return out
			},
		},
		{
			name: "ottl",
			snap: loadSnapshot(t, filepath.Join("testdata", "ottl.yaml")),
			bags: func() [][]bookinfo.Bag {
				g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true})
				return [][]bookinfo.Bag{g.Next(), g.Next()}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := func() time.Time { return time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC) }
			attrs := New(tt.snap, Options{Now: clock})
			packed := New(tt.snap, Options{Now: clock, PackedRecords: true})
			aout, pout := plog.NewLogs(), plog.NewLogs()
			for _, batch := range tt.bags() {
				attrs.Dispatch(bagLogs(batch...), aout)
				packed.Dispatch(bagLogs(batch...), pout)
			}
			require.Positive(t, aout.LogRecordCount())
			assert.Equal(t, viewRecords(t, aout), viewRecords(t, pout))
			assert.Equal(t, stdioLines(t, tt.snap, aout), stdioLines(t, tt.snap, pout))
			for _, rl := range pout.ResourceLogs().All() {
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						require.True(t, instancerecord.IsPacked(lr))
						require.Zero(t, lr.Attributes().Len())
					}
				}
			}
		})
	}
}

// valuesSnapshot has a logentry and a metric instance sent to a stdio
// handler, with fields of every type and an empty key. The metric's value
// and dimensions are given; the logentry has no timestamp: Mixer's zero
// time, before the epoch, which packed records carry as the time pair.
func valuesSnapshot(t *testing.T, value string, dims map[string]string) *istioconfig.Snapshot {
	t.Helper()
	var d strings.Builder
	for k, v := range dims {
		fmt.Fprintf(&d, "    %s: %s\n", k, v)
	}
	cfg := `
apiVersion: config.istio.io/v1alpha2
kind: stdio
metadata: {name: h, namespace: istio-system}
spec: {outputAsJson: true}
---
apiVersion: config.istio.io/v1alpha2
kind: logentry
metadata: {name: entry, namespace: istio-system}
spec:
  severity: '"warning"'
  variables:
    s: request.path
    n: response.code
    d: response.duration | "0s"
    t: request.time
    ip: source.ip
    headers: request.headers
    b: connection.mtls | false
    f: "1.5"
    "": '"empty key"'
---
apiVersion: config.istio.io/v1alpha2
kind: metric
metadata: {name: m, namespace: istio-system}
spec:
  value: ` + value + `
  dimensions:
` + d.String() + `
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: r, namespace: istio-system}
spec:
  actions:
  - handler: h.stdio
    instances: [entry.logentry, m.metric]
`
	return buildSnapshot(t, cfg)
}

// buildSnapshot builds the Istio config cfg, which must have no problem.
func buildSnapshot(t *testing.T, cfg string) *istioconfig.Snapshot {
	t.Helper()
	snap := snapshotOf("config.yaml", []byte(cfg))
	require.NoError(t, snap.Err())
	return snap
}

func TestPackedValues(t *testing.T) {
	bag := bookinfo.Bag{
		{Name: "request.path", Value: attribute.StringValue("/a\"b")},
		{Name: "response.code", Value: attribute.Int64Value(200)},
		{Name: "response.duration", Value: attribute.DurationValue(1500 * time.Microsecond)},
		{Name: "request.time", Value: attribute.TimestampValue(time.Date(2020, 7, 1, 10, 0, 0, 123456789, time.UTC))},
		{Name: "source.ip", Value: attribute.IPValue([]byte{10, 0, 0, 1})},
		{Name: "destination.ip", Value: attribute.IPValue([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2})},
		{Name: "request.headers", Value: attribute.StringMapValue(attribute.NewStringMap("x-b", "2", "x-a", "1"))},
	}
	tests := []struct {
		name  string
		value string
		dims  map[string]string
		want  string // the metric's line
	}{
		{
			name:  "value and dimensions",
			value: "response.duration",
			dims:  map[string]string{"ip": "destination.ip", "code": "response.code", "z": "request.headers"},
			want:  `"value":"1.5ms","code":200,"ip":"AAAAAAAAAAAAAP//CgAAAg==","z":"stringmap[x-a:1 x-b:2]"}`,
		},
		{
			name:  "a dimension named value replaces the value",
			value: "response.code",
			dims:  map[string]string{"value": `'"dimension"'`, "a": "source.ip"},
			want:  `"value":"dimension","a":"CgAAAQ=="}`,
		},
		{
			name:  "a dimension named value as the only field",
			value: "request.time",
			dims:  map[string]string{"value": "response.code"},
			want:  `"value":200}`,
		},
	}
	clock := func() time.Time { return time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := valuesSnapshot(t, tt.value, tt.dims)
			var lines [2][]string
			var views [2][]recordView
			for i, packed := range []bool{false, true} {
				e := New(snap, Options{Now: clock, PackedRecords: packed})
				out := plog.NewLogs()
				e.Dispatch(bagLogs(bag), out)
				require.Equal(t, 2, out.LogRecordCount())
				lines[i], views[i] = stdioLines(t, snap, out), viewRecords(t, out)
			}
			assert.Equal(t, views[0], views[1])
			require.Equal(t, lines[0], lines[1])
			assert.Equal(t, `{"level":"warn","time":"0001-01-01T00:00:00.000000Z","instance":"entry.logentry.istio-system",`+
				`"":"empty key","b":false,"d":"1.5ms","f":1.5,"headers":"stringmap[x-a:1 x-b:2]","ip":"10.0.0.1","n":200,"s":"/a\"b",`+
				`"t":"2020-07-01T10:00:00.123456Z"}`, lines[1][0])
			assert.Equal(t, `{"level":"info","time":"2020-07-01T10:00:00.000000Z","instance":"m.metric.istio-system",`+tt.want, lines[1][1])
		})
	}
}

// Records keep their bytes while the engine goes on: the arena never writes
// where a record points, across chunks and Dispatch calls.
func TestArenaKeepsRecords(t *testing.T) {
	e := New(benchSnapshot(t, true), Options{PackedRecords: true})
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 3, Enriched: true})
	type kept struct {
		lr   plog.LogRecord
		body string
	}
	var all []kept
	for range 40 { // several chunks of 16 kB
		out := plog.NewLogs()
		e.Dispatch(bagLogs(g.Next()...), out)
		for _, rl := range out.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					b := kvpack.BytesOf(lr.Body())
					require.Equal(t, len(b), cap(b), "capped")
					all = append(all, kept{lr, string(b)})
				}
			}
		}
	}
	require.Greater(t, len(all), 100)
	for i, k := range all {
		require.Equal(t, k.body, string(kvpack.BytesOf(k.lr.Body())), "record %d changed", i)
	}
}

func TestArena(t *testing.T) {
	var a arena
	a.newCall()
	b := a.begin(64)
	assert.Equal(t, minChunk, cap(b))
	b = a.commit(append(b, "first"...))
	assert.Equal(t, "first", string(b))
	assert.Equal(t, 5, cap(b))

	// A record that outgrows its room is moved by append; the chunk goes on.
	c := a.begin(8)
	c = a.commit(append(c, make([]byte, minChunk)...))
	assert.Len(t, c, minChunk)
	d := a.commit(append(a.begin(8), "next"...))
	assert.Equal(t, "first", string(b))
	assert.Equal(t, "next", string(d))
	assert.Equal(t, &a.chunk[5], &d[0], "after the first record")

	// No room: a new chunk, sized by the previous call.
	a.newCall()
	assert.Equal(t, minChunk+9, a.last)
	e := a.commit(append(a.begin(minChunk), "x"...))
	assert.Equal(t, "x", string(e))
	assert.Equal(t, 2*(minChunk+9), cap(a.chunk))
	assert.Equal(t, "first", string(b))
}

// The packed path allocates nothing per record besides pdata's record and
// its Bytes value: the arena's chunks come once per many records.
func TestPackedDispatchAllocations(t *testing.T) {
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true, MTLS: true})
	var bags []bookinfo.Bag
	for len(bags) < 32 {
		bags = append(bags, g.Next()...)
	}
	batch := bagLogs(bags[:32]...)
	perBag := func(opts Options) float64 {
		e := New(benchSnapshot(t, true), opts)
		e.Dispatch(batch, plog.NewLogs()) // series created
		return testing.AllocsPerRun(50, func() { e.Dispatch(batch, plog.NewLogs()) }) / 32
	}
	attrs, packed := perBag(Options{}), perBag(Options{PackedRecords: true})
	t.Logf("allocations per bag with the accesslog record: as attributes %.2f, packed %.2f", attrs, packed)
	// pdata's record and Bytes value, growing the batch's record slice now
	// and then, the batch's scope, and the arena's chunk.
	assert.LessOrEqual(t, packed, 2.75)
	assert.Greater(t, attrs, 41.0)
}

// Consumers read records while the engine goes on writing the next ones into
// the same chunk: they never touch the same bytes (run with -race).
func TestArenaConcurrentReaders(t *testing.T) {
	snap := benchSnapshot(t, true)
	e := New(snap, Options{PackedRecords: true})
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 5, Enriched: true})
	var batches []plog.Logs
	for range 10 {
		batches = append(batches, bagLogs(g.Next()...))
	}
	outs := make(chan plog.Logs, 4)
	done := make(chan []string)
	go func() {
		var lines []string
		for out := range outs {
			l, err := writeLines(snap, out)
			assert.NoError(t, err)
			lines = append(lines, l...)
		}
		done <- lines
	}()
	var want []string
	for range 3 {
		for _, ld := range batches {
			out := plog.NewLogs()
			e.Dispatch(ld, out)
			want = append(want, stdioLines(t, snap, out)...)
			outs <- out
		}
	}
	close(outs)
	assert.Equal(t, want, <-done)
}

// A logentry instance whose field cannot be evaluated (an attribute without
// a default is missing) fails in both forms: no record, one instance error,
// and the next bag is written again.
func TestPackedInstanceErrors(t *testing.T) {
	cfg := `
apiVersion: config.istio.io/v1alpha2
kind: stdio
metadata: {name: h, namespace: istio-system}
spec: {outputAsJson: true}
---
apiVersion: config.istio.io/v1alpha2
kind: logentry
metadata: {name: entry, namespace: istio-system}
spec:
  severity: '"info"'
  timestamp: request.time
  variables:
    s: request.path
    n: response.code
    b: connection.mtls
    d: response.duration
    ip: source.ip
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: r, namespace: istio-system}
spec:
  actions:
  - handler: h.stdio
    instances: [entry.logentry]
`
	snap := buildSnapshot(t, cfg)
	full := bookinfo.Bag{
		{Name: "request.path", Value: attribute.StringValue("/a")},
		{Name: "response.code", Value: attribute.Int64Value(200)},
		{Name: "connection.mtls", Value: attribute.BoolValue(true)},
		{Name: "response.duration", Value: attribute.DurationValue(time.Millisecond)},
		{Name: "source.ip", Value: attribute.IPValue([]byte{10, 0, 0, 1})},
		{Name: "request.time", Value: attribute.TimestampValue(time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC))},
	}
	clock := func() time.Time { return time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC) }
	for missing := range full {
		t.Run(full[missing].Name, func(t *testing.T) {
			bag := slices.Delete(slices.Clone(full), missing, missing+1)
			var lines [2][]string
			for i, packed := range []bool{false, true} {
				e := New(snap, Options{Now: clock, PackedRecords: packed})
				out := plog.NewLogs()
				e.Dispatch(bagLogs(bag), out)
				assert.Zero(t, out.LogRecordCount(), "packed %v", packed)
				assert.EqualValues(t, 1, e.Stats().InstanceErrors.Load(), "packed %v", packed)
				e.Dispatch(bagLogs(full), out)
				require.Equal(t, 1, out.LogRecordCount(), "packed %v", packed)
				lines[i] = stdioLines(t, snap, out)
			}
			assert.Equal(t, lines[0], lines[1])
		})
	}
}
