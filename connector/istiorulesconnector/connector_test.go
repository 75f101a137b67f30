package istiorulesconnector

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-istio/otelcol-istio/extension/istioconfigextension"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"
	"github.com/otelcol-istio/otelcol-istio/internal/stdiofmt"
)

// host offers extensions to the components under test.
type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

// startConfig starts a real istio_config extension reading sources.
func startConfig(t *testing.T, sources ...istioconfigextension.SourceConfig) host {
	t.Helper()
	f := istioconfigextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*istioconfigextension.Config)
	cfg.Sources = sources
	cfg.Debounce = 20 * time.Millisecond
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{component.NewID(f.Type()): ext}}
}

type pair struct {
	metrics, logs connector.Logs
	msink         *consumertest.MetricsSink
	lsink         *consumertest.LogsSink
}

// startConnector creates both sides of one istio_rules connector, as the
// collector does for a connector joining a logs pipeline to a metrics and a
// logs pipeline.
func startConnector(t *testing.T, h host, mutate func(*Config)) *pair {
	t.Helper()
	lsink := new(consumertest.LogsSink)
	p := startConnectorWith(t, h, connectortest.NewNopSettings(componentType), mutate, lsink)
	p.lsink = lsink
	return p
}

// startConnectorWith is startConnector with the given settings and logs
// pipeline.
func startConnectorWith(t *testing.T, h host, set connector.Settings, mutate func(*Config), logs consumer.Logs) *pair {
	t.Helper()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.FlushInterval = time.Hour // the tests flush explicitly
	if mutate != nil {
		mutate(cfg)
	}
	p := &pair{msink: new(consumertest.MetricsSink)}
	var err error
	p.metrics, err = f.CreateLogsToMetrics(context.Background(), set, cfg, p.msink)
	require.NoError(t, err)
	p.logs, err = f.CreateLogsToLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	require.NoError(t, p.metrics.Start(context.Background(), h))
	require.NoError(t, p.logs.Start(context.Background(), h))
	t.Cleanup(func() {
		assert.NoError(t, p.metrics.Shutdown(context.Background()))
		assert.NoError(t, p.logs.Shutdown(context.Background()))
	})
	return p
}

func bagsToLogs(bags []bookinfo.Bag) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, b := range bags {
		m := bagrecord.InitRecord(lrs.AppendEmpty(), time.Time{}, time.Time{}, len(b))
		for _, a := range b {
			bagrecord.PutValue(m, a.Name, a.Value)
		}
	}
	return ld
}

// send hands the batch to both sides, as the collector's fan-out does.
func (p *pair) send(t *testing.T, bags []bookinfo.Bag) {
	t.Helper()
	ld := bagsToLogs(bags)
	require.NoError(t, p.metrics.ConsumeLogs(context.Background(), ld))
	require.NoError(t, p.logs.ConsumeLogs(context.Background(), ld))
}

func (p *pair) flush(t *testing.T) pmetric.Metrics {
	t.Helper()
	p.msink.Reset()
	require.NoError(t, p.metrics.(*side).core.flush(context.Background()))
	all := p.msink.AllMetrics()
	require.Len(t, all, 1)
	return all[0]
}

// series maps a metric's data points to their values, keyed by label set.
func series(t *testing.T, md pmetric.Metrics, name string, labels ...string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		assert.Equal(t, 0, rms.At(i).Resource().Attributes().Len(), "the resource stays empty")
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != name {
					continue
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for d := 0; d < m.Sum().DataPoints().Len(); d++ {
						dp := m.Sum().DataPoints().At(d)
						out[labelKey(dp.Attributes(), labels)] = dp.DoubleValue()
					}
				case pmetric.MetricTypeHistogram:
					for d := 0; d < m.Histogram().DataPoints().Len(); d++ {
						dp := m.Histogram().DataPoints().At(d)
						out[labelKey(dp.Attributes(), labels)] = float64(dp.Count())
					}
				}
			}
		}
	}
	return out
}

func seedPath(name string) istioconfigextension.SourceConfig {
	return istioconfigextension.SourceConfig{Path: filepath.Join("testdata", "seed", name)}
}

// Seed task "Collecting metrics": istio_double_request_count grows by 2 per
// report, one series per reporter, source and destination workload.
func TestSeedDoubleRequestCount(t *testing.T) {
	p := startConnector(t, startConfig(t, seedPath("metrics.yaml")), nil)
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true})
	reports := 0
	want := map[string]float64{}
	for range 10 {
		bags := g.Next()
		for _, b := range bags {
			kind, _ := b.Get("context.reporter.kind")
			src, _ := b.Get("source.workload.name")
			dst, _ := b.Get("destination.workload.name")
			rep := "server"
			if kind.Str() == "outbound" {
				rep = "client"
			}
			want[rep+","+src.Str()+","+dst.Str()+",twice the fun!"] += 2
		}
		reports += len(bags)
		p.send(t, bags)
	}
	got := series(t, p.flush(t), "istio_double_request_count", "reporter", "source", "destination", "message")
	assert.Equal(t, want, got)
	total := 0.0
	for _, v := range got {
		total += v
	}
	assert.Equal(t, float64(2*reports), total, "each report counts twice, and each batch is dispatched once")
	assert.Equal(t, 0, p.lsink.LogRecordCount(), "no log rules configured")
}

// forEachEncoding runs fn once per record_encoding.
func forEachEncoding(t *testing.T, fn func(t *testing.T, enc string)) {
	for _, enc := range instancerecordtest.Encodings {
		t.Run(enc, func(t *testing.T) { fn(t, enc) })
	}
}

func withEncoding(enc string) func(*Config) { return func(c *Config) { c.RecordEncoding = enc } }

// fields reads the variables of an instance record in either form.
func fields(t *testing.T, lr plog.LogRecord) map[string]any {
	t.Helper()
	f, err := instancerecordtest.Fields(lr)
	require.NoError(t, err)
	return f
}

// Seed task "Collecting logs": one newlog entry per report.
func TestSeedNewLog(t *testing.T) { forEachEncoding(t, testSeedNewLog) }

func testSeedNewLog(t *testing.T, enc string) {
	p := startConnector(t, startConfig(t, seedPath("log-entry.yaml")), withEncoding(enc))
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 2, Enriched: true})
	bags := append(g.Next(), g.Next()...)
	p.send(t, bags)
	require.Equal(t, len(bags), p.lsink.LogRecordCount())
	ld := p.lsink.AllLogs()[0]
	sl := ld.ResourceLogs().At(0).ScopeLogs().At(0)
	assert.Equal(t, "newloghandler.handler.istio-system", sl.Scope().Name())
	assert.Equal(t, map[string]any{instancerecord.ScopeAttrAdapter: "stdio", instancerecord.ScopeAttrTemplate: "logentry"}, sl.Scope().Attributes().AsRaw())
	lr := sl.LogRecords().At(0)
	assert.Equal(t, "newlog.instance.istio-system", lr.EventName())
	assert.Equal(t, "warning", lr.SeverityText())
	assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber(), "severity_levels maps warning to WARNING")
	first := bags[0]
	rt, _ := first.Get("request.time")
	assert.Equal(t, rt.Time().UnixNano(), int64(lr.Timestamp()))
	dur, _ := first.Get("response.duration")
	size, _ := first.Get("response.size")
	assert.Equal(t, map[string]any{
		"destination":  "productpage",
		"latency":      dur.Duration().String(),
		"responseCode": int64(200),
		"responseSize": size.Int64(),
		"source":       "istio-ingressgateway",
		"user":         "unknown",
	}, fields(t, lr))
	assert.Equal(t, enc == instancerecord.EncodingPacked, instancerecord.IsPacked(lr))
}

// The walkthrough's variant that logs only requests for details.
func TestSeedNewLogDetailsOnly(t *testing.T) { forEachEncoding(t, testSeedNewLogDetailsOnly) }

func testSeedNewLogDetailsOnly(t *testing.T, enc string) {
	p := startConnector(t, startConfig(t, seedPath("log-entry-details.yaml")), withEncoding(enc))
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 3, Enriched: true})
	for range 5 {
		p.send(t, g.Next())
	}
	require.Equal(t, 10, p.lsink.LogRecordCount(), "two reports per page load go to details")
	for _, ld := range p.lsink.AllLogs() {
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := 0; i < lrs.Len(); i++ {
			assert.Equal(t, "details", fields(t, lrs.At(i))["destination"])
		}
	}
}

// The embedded default telemetry config on Bookinfo HTTP and TCP traffic.
func TestDefaultTelemetry(t *testing.T) { forEachEncoding(t, testDefaultTelemetry) }

func testDefaultTelemetry(t *testing.T, enc string) {
	p := startConnector(t, startConfig(t, istioconfigextension.SourceConfig{Embedded: "istio-1.1"}), withEncoding(enc))
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 4, Enriched: true, MTLS: true})
	http := 0
	for range 6 {
		bags := g.Next()
		http += len(bags)
		p.send(t, bags)
	}
	tcp := g.TCPConnection()
	p.send(t, tcp)
	md := p.flush(t)

	sum := func(m map[string]float64) float64 {
		s := 0.0
		for _, v := range m {
			s += v
		}
		return s
	}
	reqs := series(t, md, "istio_requests_total", "reporter", "source_workload", "destination_workload", "connection_security_policy", "response_code")
	assert.Equal(t, float64(http), sum(reqs))
	assert.Equal(t, 6.0, reqs["destination,istio-ingressgateway,productpage-v1,mutual_tls,200"])
	assert.Equal(t, 6.0, reqs["source,istio-ingressgateway,productpage-v1,unknown,200"])
	assert.Equal(t, float64(http), sum(series(t, md, "istio_request_duration_seconds")))
	assert.Equal(t, float64(http), sum(series(t, md, "istio_request_bytes")))
	assert.Equal(t, float64(http), sum(series(t, md, "istio_response_bytes")))
	assert.Equal(t, 2.0, sum(series(t, md, "istio_tcp_connections_opened_total")), "open seen by both sides")
	assert.Equal(t, 2.0, sum(series(t, md, "istio_tcp_connections_closed_total")))
	var sent float64
	for _, b := range tcp {
		v, _ := b.Get("connection.sent.bytes")
		sent += float64(v.Int64())
	}
	assert.Equal(t, sent, sum(series(t, md, "istio_tcp_sent_bytes_total")))

	// Histogram buckets follow the default config's bounds.
	var bounds []float64
	forEachMetric(md, func(m pmetric.Metric) {
		if m.Name() == "istio_request_duration_seconds" {
			bounds = m.Histogram().DataPoints().At(0).ExplicitBounds().AsRaw()
		}
	})
	assert.Equal(t, []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}, bounds)

	// accesslog for every HTTP report, tcpaccesslog for every TCP report.
	counts := map[string]int{}
	for _, ld := range p.lsink.AllLogs() {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					counts[lrs.At(k).EventName()]++
				}
			}
		}
	}
	assert.Equal(t, map[string]int{"accesslog.logentry.istio-system": http, "tcpaccesslog.logentry.istio-system": len(tcp)}, counts)
}

// Both record encodings give the same stdio lines for the same traffic on
// the default config: HTTP and TCP reports, mTLS, every variable type.
func TestRecordEncodingsWriteTheSameLines(t *testing.T) {
	h := startConfig(t, istioconfigextension.SourceConfig{Embedded: "istio-1.1"})
	f := NewFactory()
	var sinks []*consumertest.LogsSink
	var sides []*side
	for _, enc := range instancerecordtest.Encodings {
		cfg := f.CreateDefaultConfig().(*Config)
		cfg.RecordEncoding = enc
		set := connectortest.NewNopSettings(f.Type())
		set.ID = component.NewIDWithName(f.Type(), enc) // one core each
		sink := new(consumertest.LogsSink)
		c, err := f.CreateLogsToLogs(context.Background(), set, cfg, sink)
		require.NoError(t, err)
		require.NoError(t, c.Start(context.Background(), h))
		t.Cleanup(func() { assert.NoError(t, c.Shutdown(context.Background())) })
		sinks, sides = append(sinks, sink), append(sides, c.(*side))
	}
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 9, Enriched: true, MTLS: true})
	batches := [][]bookinfo.Bag{g.TCPConnection()}
	for range 4 {
		batches = append(batches, g.Next())
	}
	reports := 0
	for _, bags := range batches {
		reports += len(bags)
		for _, c := range sides {
			require.NoError(t, c.ConsumeLogs(context.Background(), bagsToLogs(bags)))
		}
	}
	var lines [2]string
	for i, sink := range sinks {
		snap := sides[i].core.engine().Snapshot()
		var enc stdiofmt.Encoder
		var buf []byte
		for _, ld := range sink.AllLogs() {
			for _, rl := range ld.ResourceLogs().All() {
				for _, sl := range rl.ScopeLogs().All() {
					params := snap.Handlers[sl.Scope().Name()].Stdio
					require.NotNil(t, params, sl.Scope().Name())
					for _, lr := range sl.LogRecords().All() {
						require.Equal(t, i == 1, instancerecord.IsPacked(lr))
						buf = enc.AppendRecord(buf, lr, stdiofmt.KindOf(sl.Scope()), params)
					}
				}
			}
		}
		lines[i] = string(buf)
	}
	assert.Equal(t, lines[0], lines[1])
	assert.Equal(t, reports, strings.Count(lines[1], "\n"), "a line per report")
}

// A reload keeps the series of metrics whose definition is unchanged and
// restarts the ones whose definition changed.
func TestReloadKeepsCounters(t *testing.T) {
	dir := t.TempDir()
	metrics, err := os.ReadFile(filepath.Join("testdata", "seed", "metrics.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "metrics.yaml"), metrics, 0o600))
	p := startConnector(t, startConfig(t, istioconfigextension.SourceConfig{Path: dir}), nil)
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 5, Enriched: true})
	first := g.Next()
	p.send(t, first)

	engine := p.metrics.(*side).core.engine()
	before := engine.Snapshot()
	logs, err := os.ReadFile(filepath.Join("testdata", "seed", "log-entry.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "log-entry.yaml"), logs, 0o600))
	waitSnapshot(t, p, before)

	second := g.Next()
	p.send(t, second)
	total := 0.0
	for _, v := range series(t, p.flush(t), "istio_double_request_count") {
		total += v
	}
	assert.Equal(t, float64(2*(len(first)+len(second))), total, "counters survive an unrelated change")
	assert.Equal(t, len(second), p.lsink.LogRecordCount(), "the new rule applies after the reload")

	// Changing the metric's labels restarts its series.
	before = engine.Snapshot()
	changed := []byte(string(metrics) + "\n")
	changed = []byte(replaceAll(string(changed), "      - message\n", ""))
	changed = []byte(replaceAll(string(changed), "      message: '\"twice the fun!\"'\n", ""))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "metrics.yaml"), changed, 0o600))
	waitSnapshot(t, p, before)
	third := g.Next()
	p.send(t, third)
	total = 0
	for _, v := range series(t, p.flush(t), "istio_double_request_count") {
		total += v
	}
	assert.Equal(t, float64(2*len(third)), total)
}

// max_series_per_metric caps the series table; the overflow is counted.
func TestSeriesCap(t *testing.T) {
	p := startConnector(t, startConfig(t, seedPath("metrics.yaml")), func(c *Config) { c.MaxSeriesPerMetric = 3 })
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 6, Enriched: true})
	for range 5 {
		p.send(t, g.Next())
	}
	assert.Len(t, series(t, p.flush(t), "istio_double_request_count"), 3)
	assert.Positive(t, p.metrics.(*side).core.engine().Stats().SeriesDropped.Load())
}

func waitSnapshot(t *testing.T, p *pair, before any) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if any(p.metrics.(*side).core.engine().Snapshot()) != before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the configuration was not reloaded within 5s")
}

// The engine's counters reach the collector's own telemetry.
func TestSelfTelemetry(t *testing.T) {
	h := startConfig(t, seedPath("metrics.yaml"))
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	set := connectortest.NewNopSettings(f.Type())
	set.TelemetrySettings = tel.NewTelemetrySettings()
	msink := new(consumertest.MetricsSink)
	c, err := f.CreateLogsToMetrics(context.Background(), set, cfg, msink)
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), h))
	p := &pair{metrics: c, logs: c, msink: msink, lsink: new(consumertest.LogsSink)}
	bags := bookinfo.NewGenerator(bookinfo.Options{Seed: 8, Enriched: true}).Next()
	require.NoError(t, c.ConsumeLogs(context.Background(), bagsToLogs(bags)))
	p.flush(t)
	defer func() { require.NoError(t, c.Shutdown(context.Background())) }()

	m, err := tel.GetMetric("otelcol_istio_rules_bags")
	require.NoError(t, err)
	sum := m.Data.(metricdata.Sum[int64])
	require.Len(t, sum.DataPoints, 1)
	assert.Equal(t, int64(len(bags)), sum.DataPoints[0].Value)
	_, err = tel.GetMetric("otelcol_istio_rules_flush_duration")
	assert.NoError(t, err)
}

// refusingLogs is a logs pipeline that refuses every batch, as an exporter
// whose queue is full does, and counts the records it was offered.
type refusingLogs struct {
	consumertest.Consumer
	mu      sync.Mutex
	offered int
}

func newRefusingLogs() *refusingLogs {
	r := &refusingLogs{}
	r.Consumer = consumertest.NewErr(errors.New("sending queue is full"))
	return r
}

func (r *refusingLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	r.mu.Lock()
	r.offered += ld.LogRecordCount()
	r.mu.Unlock()
	return r.Consumer.ConsumeLogs(ctx, ld)
}

// When the logs pipeline refuses the instance records (a stalled stdout
// behind a full istio_stdio queue), the bags still count in the metrics,
// the sender is not told to back off for reports that were counted, and
// the lost records are counted. Without a metrics pipeline nothing was
// counted, and the refusal goes back to the sender.
func TestLogsRefused(t *testing.T) {
	h := startConfig(t, istioconfigextension.SourceConfig{Embedded: "istio-1.1"})
	f := NewFactory()
	newSettings := func() (connector.Settings, *componenttest.Telemetry) {
		tel := componenttest.NewTelemetry()
		t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
		set := connectortest.NewNopSettings(f.Type())
		set.TelemetrySettings = tel.NewTelemetrySettings()
		return set, tel
	}
	refusedCount := func(tel *componenttest.Telemetry) int64 {
		t.Helper()
		m, err := tel.GetMetric("otelcol_istio_rules_records_refused")
		require.NoError(t, err)
		sum := m.Data.(metricdata.Sum[int64])
		require.Len(t, sum.DataPoints, 1)
		return sum.DataPoints[0].Value
	}
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 11, Enriched: true, MTLS: true})
	// withMetrics starts both sides of a connector whose logs pipeline is logs.
	withMetrics := func(t *testing.T, logs consumer.Logs) (*pair, *componenttest.Telemetry) {
		t.Helper()
		set, tel := newSettings()
		return startConnectorWith(t, h, set, nil, logs), tel
	}

	t.Run("with metrics", func(t *testing.T) {
		refusing := newRefusingLogs()
		p, tel := withMetrics(t, refusing)
		sent := 0
		for range 3 {
			bags := g.Next()
			sent += len(bags)
			ld := bagsToLogs(bags)
			require.NoError(t, p.metrics.ConsumeLogs(context.Background(), ld))
			require.NoError(t, p.logs.ConsumeLogs(context.Background(), ld), "a refusal after the bags were counted is not passed back")
		}
		total := 0.0
		for _, v := range series(t, p.flush(t), "istio_requests_total") {
			total += v
		}
		assert.Equal(t, float64(sent), total, "every bag counted")
		assert.Equal(t, sent, refusing.offered, "one accesslog record per bag was offered")
		assert.Equal(t, int64(sent), refusedCount(tel))
	})

	t.Run("error naming the records that failed", func(t *testing.T) {
		// Refuses the first record of each batch only, as an exporter whose
		// one handler failed does.
		partial, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
			failed := plog.NewLogs()
			first := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
			first.CopyTo(failed.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
			return consumererror.NewLogs(errors.New("write /var/log/x: no space left on device"), failed)
		})
		require.NoError(t, err)
		p, tel := withMetrics(t, partial)
		for range 3 {
			require.NoError(t, p.logs.ConsumeLogs(context.Background(), bagsToLogs(g.Next())))
		}
		assert.Equal(t, int64(3), refusedCount(tel), "one record of each of the three batches")
	})

	t.Run("logs only", func(t *testing.T) {
		set, tel := newSettings()
		cfg := f.CreateDefaultConfig().(*Config)
		refusing := newRefusingLogs()
		l, err := f.CreateLogsToLogs(context.Background(), set, cfg, refusing)
		require.NoError(t, err)
		require.NoError(t, l.Start(context.Background(), h))
		t.Cleanup(func() { assert.NoError(t, l.Shutdown(context.Background())) })
		bags := g.Next()
		err = l.ConsumeLogs(context.Background(), bagsToLogs(bags))
		require.EqualError(t, err, "sending queue is full")
		assert.Equal(t, len(bags), refusing.offered)
		assert.Zero(t, refusedCount(tel), "nothing is counted as lost when the refusal reaches the sender")
	})
}
