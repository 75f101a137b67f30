package istiostdioexporter

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// shapedLogs builds Logs with len(shape) resources, resource i holding
// scopes of shape[i][j] records; each record's event name says where it is.
func shapedLogs(shape [][]int) plog.Logs {
	ld := plog.NewLogs()
	for i, scopes := range shape {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutInt("resource", int64(i))
		rl.SetSchemaUrl(fmt.Sprintf("https://example.com/r%d", i))
		for j, n := range scopes {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(fmt.Sprintf("s%d", j))
			for k := range n {
				sl.LogRecords().AppendEmpty().SetEventName(fmt.Sprintf("r%d/s%d/%d", i, j, k))
			}
		}
	}
	return ld
}

// flatten lists each record's event name with the resource and scope it
// sits under, in order.
func flatten(ld plog.Logs) []string {
	var out []string
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		r, _ := rl.Resource().Attributes().Get("resource")
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			for k := 0; k < sl.LogRecords().Len(); k++ {
				out = append(out, fmt.Sprintf("%s under r%d %s %s", sl.LogRecords().At(k).EventName(), r.Int(), rl.SchemaUrl(), sl.Scope().Name()))
			}
		}
	}
	return out
}

func TestSplitLogs(t *testing.T) {
	tests := []struct {
		name  string
		shape [][]int
		max   int
		sizes []int
	}{
		{name: "one scope", shape: [][]int{{5}}, max: 2, sizes: []int{2, 2, 1}},
		{name: "exact parts", shape: [][]int{{2, 2}}, max: 2, sizes: []int{2, 2}},
		{name: "across scopes and resources", shape: [][]int{{3, 0, 2}, {}, {4}}, max: 4, sizes: []int{4, 4, 1}},
		{name: "empty scopes and resources dropped", shape: [][]int{{0}, {1, 0, 1}}, max: 1, sizes: []int{1, 1}},
		{name: "fits", shape: [][]int{{1, 1}, {1}}, max: 10, sizes: []int{3}},
		{name: "empty", shape: [][]int{{0}}, max: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := shapedLogs(tt.shape)
			before := flatten(ld)
			parts := splitLogs(ld, tt.max)
			assert.Equal(t, before, flatten(ld), "the input is not changed")

			var sizes []int
			var got []string
			for _, p := range parts {
				sizes = append(sizes, p.LogRecordCount())
				got = append(got, flatten(p)...)
				for i := 0; i < p.ResourceLogs().Len(); i++ {
					rl := p.ResourceLogs().At(i)
					assert.Positive(t, rl.ScopeLogs().Len(), "no empty resource")
					for j := 0; j < rl.ScopeLogs().Len(); j++ {
						assert.Positive(t, rl.ScopeLogs().At(j).LogRecords().Len(), "no empty scope")
					}
				}
			}
			assert.Equal(t, tt.sizes, sizes)
			assert.Equal(t, before, got, "every record once, in order, under its resource and scope")
		})
	}
}

// fileExporter runs the exporter through its factory with cfg, writing
// handler f.stdio.istio-system to a file; tel counts what exporterhelper
// counts.
func fileExporter(t *testing.T, cfg *Config) (exp exporter.Logs, path string, tel *componenttest.Telemetry) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "big.log")
	tel = componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := exportertest.NewNopSettings(componentType)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), hostWith(fakeSource{
		"f.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.LogStream, p.OutputPath = istioconfig.StreamFile, path
		}),
	})))
	return exp, path, tel
}

// bigBatch is lines newlog records in two scopes of one handler, the way
// the rules engine writes two instances' records.
func bigBatch(lines int) (plog.Logs, []record) {
	records := make([]record, lines/2)
	for i := range records {
		records[i] = newlog("info", i)
	}
	return buildLogs(stdioScope("f.stdio.istio-system", records...), stdioScope("f.stdio.istio-system", records...)), records
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, sc.Err())
	return lines
}

// A batch of more lines than the queue holds is no longer refused whole by
// an empty queue: it is queued in parts, and only the parts that find the
// queue full are refused, named in the error.
func TestBatchLargerThanQueue(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.Equal(t, maxQueuedLines, queuedLines(cfg))
	lines := int(cfg.QueueConfig.Get().QueueSize) + 5_000
	exp, path, tel := fileExporter(t, cfg)
	ld, _ := bigBatch(lines)

	refused := 0
	if err := exp.ConsumeLogs(context.Background(), ld); err != nil {
		var named consumererror.Logs
		require.ErrorAs(t, err, &named, "the error names the refused records")
		require.ErrorContains(t, err, "sending queue is full")
		refused = named.Data().LogRecordCount()
	}
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Less(t, refused, lines, "not refused whole")
	assert.Equal(t, int64(refused), logRecordsCounted(t, tel, "otelcol_exporter_enqueue_failed_log_records"))
	written := readLines(t, path)
	assert.Len(t, written, lines-refused, "every line not refused is written")
	for _, l := range written {
		require.True(t, json.Valid([]byte(l)), "a whole line: %q", l)
	}
}

// With block_on_overflow the parts wait for room: everything is written, in
// order.
func TestBatchWaitsForRoom(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	q := cfg.QueueConfig.Get()
	q.QueueSize, q.BlockOnOverflow = 1_000, true
	exp, path, _ := fileExporter(t, cfg)
	ld, records := bigBatch(5_000)
	// Whole, the batch would be refused: it is larger than the queue.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, exp.ConsumeLogs(ctx, ld))
	require.NoError(t, exp.Shutdown(context.Background()))

	written := readLines(t, path)
	require.Len(t, written, 5_000)
	for n, l := range written {
		i := n % len(records)
		want := fmt.Sprintf(`"time":"%s"`, t0.Add(time.Duration(i)*time.Second).Format("2006-01-02T15:04:05.000000Z07:00"))
		require.Contains(t, l, want, "line %d in order", n)
	}
}

func TestQueuedLines(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	q := cfg.QueueConfig.Get()
	q.QueueSize = 500
	assert.Equal(t, 500, queuedLines(cfg), "a queue of fewer lines than a part")
	q.Sizer = exporterhelper.RequestSizerTypeRequests
	assert.Equal(t, maxQueuedLines, queuedLines(cfg), "a queue counted in batches")
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	assert.Zero(t, queuedLines(cfg), "no queue: batches go whole")
}

// logRecordsCounted sums exporterhelper's counter name over its points; 0
// when it has not been exported (before its first increment).
func logRecordsCounted(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}
