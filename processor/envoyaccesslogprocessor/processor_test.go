package envoyaccesslogprocessor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Lines of envoy-sources.md §1c (the client and server sides of the
// istio.io access-log task's teapot request) and what else a sidecar's
// stdout holds.
const (
	clientLine = `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`
	serverLine = `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 3 1 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "127.0.0.1:80" inbound|8000|| 127.0.0.1:41854 10.44.1.27:80 10.44.1.23:37652 outbound_.8000_._.httpbin.foo.svc.cluster.local default`
	agentLine  = "2020-11-25T21:26:17.101Z\tinfo\tEnvoy proxy is ready"
	brokenLine = `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418`
)

// podLogs builds what the file_log receiver with its container parser
// emits for lines of one pod: the pod on the resource, the file on the
// record.
func podLogs(t testing.TB, ld plog.Logs, namespace, pod string, bodies ...any) {
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.namespace.name", namespace)
	rl.Resource().Attributes().PutStr("k8s.pod.name", pod)
	rl.Resource().Attributes().PutStr("k8s.container.name", "istio-proxy")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, b := range bodies {
		lr := recs.AppendEmpty()
		require.NoError(t, lr.Body().FromRaw(b))
		lr.Attributes().PutStr("log.file.path", "/var/log/pods/"+namespace+"_"+pod+"_0a1b/istio-proxy/0.log")
		lr.Attributes().PutStr("log.iostream", "stdout")
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Unix(1606339579, 0)))
	}
}

func newTestProcessor(t *testing.T, cfg *Config) (processor.Logs, *consumertest.LogsSink, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processortest.NewNopSettings(componentType)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := new(consumertest.LogsSink)
	require.NoError(t, cfg.Validate())
	p, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p, sink, tel
}

func counts(t *testing.T, tel *componenttest.Telemetry, name string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	m, err := tel.GetMetric(name)
	if err != nil {
		return out
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		reason, _ := dp.Attributes.Value("reason")
		action, _ := dp.Attributes.Value("action")
		out[reason.AsString()+"/"+action.AsString()] += dp.Value
	}
	return out
}

func TestProcessDrop(t *testing.T) {
	p, sink, tel := newTestProcessor(t, createDefaultConfig().(*Config))
	ld := plog.NewLogs()
	podLogs(t, ld, "foo", "sleep-dd98b5f48-djwdw", agentLine, clientLine+"\n", brokenLine, map[string]any{"a": "b"})
	podLogs(t, ld, "foo", "httpbin-74fb669cc6-vmqzh", serverLine)
	podLogs(t, ld, "foo", "other-0", agentLine)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))

	require.Len(t, sink.AllLogs(), 1)
	out := sink.AllLogs()[0]
	require.Equal(t, 2, out.LogRecordCount())
	require.Equal(t, 2, out.ResourceLogs().Len(), "a resource left without records is removed")
	client := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, "istio.attributes", client.EventName())
	a := client.Attributes().AsRaw()
	assert.Equal(t, "outbound", a["context.reporter.kind"])
	assert.Equal(t, "kubernetes://sleep-dd98b5f48-djwdw.foo", a["context.reporter.uid"])
	assert.Equal(t, "sleep-dd98b5f48-djwdw", a["source.name"])
	assert.Equal(t, "foo", a["source.namespace"])
	assert.Equal(t, int64(418), a["response.code"])
	assert.Equal(t, "httpbin.foo.svc.cluster.local", a["destination.service.host"])
	assert.NotContains(t, a, "log.file.path")
	assert.Equal(t, int64(1606339579)*1e9, int64(client.ObservedTimestamp()))
	assert.Equal(t, time.Date(2020, 11, 25, 21, 26, 18, 409e6, time.UTC), client.Timestamp().AsTime())
	server := out.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.Equal(t, "inbound", server["context.reporter.kind"])
	assert.Equal(t, "kubernetes://httpbin-74fb669cc6-vmqzh.foo", server["destination.uid"])
	assert.Equal(t, "httpbin-74fb669cc6-vmqzh", server["destination.name"])
	assert.Equal(t, "foo", server["destination.namespace"])

	assert.Equal(t, map[string]int64{"/": 2}, counts(t, tel, "otelcol_envoy_access_log_parsed_lines"))
	assert.Equal(t, map[string]int64{"not_access_log/drop": 3, "no_match/drop": 1},
		counts(t, tel, "otelcol_envoy_access_log_unparsed_lines"))
}

func TestProcessPass(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.OnError = OnErrorPass
	p, sink, tel := newTestProcessor(t, cfg)
	ld := plog.NewLogs()
	podLogs(t, ld, "foo", "sleep-dd98b5f48-djwdw", agentLine, clientLine, brokenLine)
	before := plog.NewLogs()
	ld.CopyTo(before)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	require.Len(t, sink.AllLogs(), 1)
	recs := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	require.Equal(t, 3, recs.Len())
	orig := before.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for _, i := range []int{0, 2} {
		assert.Equal(t, orig.At(i).Body().AsRaw(), recs.At(i).Body().AsRaw(), "passed through unchanged")
		assert.Equal(t, orig.At(i).Attributes().AsRaw(), recs.At(i).Attributes().AsRaw())
		assert.Empty(t, recs.At(i).EventName())
	}
	assert.Equal(t, "istio.attributes", recs.At(1).EventName())
	assert.Equal(t, map[string]int64{"not_access_log/pass": 1, "no_match/pass": 1},
		counts(t, tel, "otelcol_envoy_access_log_unparsed_lines"))
}

// A batch with no access-log line at all goes no further.
func TestProcessNothingLeft(t *testing.T) {
	p, sink, _ := newTestProcessor(t, createDefaultConfig().(*Config))
	ld := plog.NewLogs()
	podLogs(t, ld, "foo", "sleep-dd98b5f48-djwdw", agentLine, agentLine)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	assert.Empty(t, sink.AllLogs())
}

// The pod may come on the record instead of the resource (another parser);
// a fixed format rejects lines of other formats.
func TestProcessReporterOnRecordAndFixedFormat(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Format = "istio-1.23"
	p, sink, tel := newTestProcessor(t, cfg)
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lr := recs.AppendEmpty()
	lr.Body().SetStr(serverLine)
	lr.Attributes().PutStr("k8s.namespace.name", "foo")
	lr.Attributes().PutStr("k8s.pod.name", "httpbin-74fb669cc6-vmqzh")
	recs.AppendEmpty().Body().SetStr(`{"method":"GET"}`)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	require.Equal(t, 1, sink.LogRecordCount())
	a := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.Equal(t, "kubernetes://httpbin-74fb669cc6-vmqzh.foo", a["context.reporter.uid"])
	assert.Equal(t, map[string]int64{"not_access_log/drop": 1}, counts(t, tel, "otelcol_envoy_access_log_unparsed_lines"))
}

// Batches from several pipelines at once (run with -race).
func TestProcessConcurrent(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.WorkloadFromPodName = true
	p, sink, _ := newTestProcessor(t, cfg)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 50 {
				ld := plog.NewLogs()
				podLogs(t, ld, "foo", "sleep-dd98b5f48-djwdw", clientLine, agentLine)
				podLogs(t, ld, "foo", "httpbin-74fb669cc6-vmqzh", serverLine)
				assert.NoError(t, p.ConsumeLogs(context.Background(), ld), g)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 4*50*2, sink.LogRecordCount())
	a := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.Equal(t, "sleep", a["source.workload.name"])
}

// record_encoding packed: the same bags, in packed records.
func TestProcessPacked(t *testing.T) {
	input := func() plog.Logs {
		ld := plog.NewLogs()
		podLogs(t, ld, "foo", "sleep-dd98b5f48-djwdw", agentLine, clientLine+"\n", brokenLine)
		podLogs(t, ld, "foo", "httpbin-74fb669cc6-vmqzh", serverLine)
		return ld
	}
	cfg := createDefaultConfig().(*Config)
	p, sink, _ := newTestProcessor(t, cfg)
	require.NoError(t, p.ConsumeLogs(context.Background(), input()))
	packedCfg := createDefaultConfig().(*Config)
	packedCfg.RecordEncoding = EncodingPacked
	pp, psink, _ := newTestProcessor(t, packedCfg)
	require.NoError(t, pp.ConsumeLogs(context.Background(), input()))

	want, got := allRecords(sink.AllLogs()[0]), allRecords(psink.AllLogs()[0])
	require.Len(t, got, 2)
	require.Len(t, want, 2)
	for i, lr := range got {
		require.True(t, bagrecord.IsPacked(lr), "record %d", i)
		require.NoError(t, bagrecord.Unpack(lr))
		assert.Equal(t, want[i].Attributes().AsRaw(), lr.Attributes().AsRaw(), "record %d", i)
		assert.Equal(t, want[i].Timestamp(), lr.Timestamp())
		assert.Equal(t, want[i].ObservedTimestamp(), lr.ObservedTimestamp())
	}
}

func allRecords(ld plog.Logs) []plog.LogRecord {
	var out []plog.LogRecord
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				out = append(out, lr)
			}
		}
	}
	return out
}

// With the container parser's add_metadata_from_filepath off, records come
// with their file's path alone: the pod is read from it.
func TestProcessPodFromFilePath(t *testing.T) {
	p, sink, _ := newTestProcessor(t, createDefaultConfig().(*Config))
	ld := plog.NewLogs()
	podLogs(t, ld, "foo", "sleep-dd98b5f48-djwdw", clientLine)
	podLogs(t, ld, "foo", "httpbin-74fb669cc6-vmqzh", serverLine)
	podLogs(t, ld, "foo", "nowhere", serverLine)
	for i := range ld.ResourceLogs().Len() {
		ld.ResourceLogs().At(i).Resource().Attributes().Clear()
	}
	ld.ResourceLogs().At(2).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutStr("log.file.path", "/var/log/containers/x.log")
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))

	require.Len(t, sink.AllLogs(), 1)
	out := sink.AllLogs()[0]
	require.Equal(t, 3, out.LogRecordCount())
	client := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.Equal(t, "kubernetes://sleep-dd98b5f48-djwdw.foo", client["context.reporter.uid"])
	assert.Equal(t, "sleep-dd98b5f48-djwdw", client["source.name"])
	assert.Equal(t, "foo", client["source.namespace"])
	server := out.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.Equal(t, "kubernetes://httpbin-74fb669cc6-vmqzh.foo", server["destination.uid"])
	assert.Equal(t, "foo", server["destination.namespace"])
	// A path of another layout names no pod; the line is still mapped.
	nowhere := out.ResourceLogs().At(2).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.NotContains(t, nowhere, "destination.uid")
	assert.NotContains(t, nowhere, "context.reporter.uid")
	assert.Equal(t, "inbound", nowhere["context.reporter.kind"])
}

// Records as Envoy's OpenTelemetry access logger sends them (Istio's
// envoyOtelAls provider, through the otlp receiver): the body is the
// access-log line, newline included. Since Istio 1.20 the resource is empty
// and the pod comes from the provider's labels, which become record
// attributes; before, the resource named the proxy by its node id.
func TestProcessOpenTelemetryAccessLogger(t *testing.T) {
	p, sink, tel := newTestProcessor(t, createDefaultConfig().(*Config))
	ld := plog.NewLogs()
	labelled := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	labelled.Body().SetStr(serverLine + "\n")
	labelled.Attributes().PutStr("k8s.pod.name", "httpbin-74fb669cc6-vmqzh")
	labelled.Attributes().PutStr("k8s.namespace.name", "foo")
	labelled.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2020, 11, 25, 21, 26, 18, 409e6, time.UTC)))
	builtin := ld.ResourceLogs().AppendEmpty()
	for k, v := range map[string]string{"log_name": "otel_envoy_accesslog", "zone_name": "", "cluster_name": "sleep.foo",
		"node_name": "sidecar~10.44.1.23~sleep-dd98b5f48-djwdw.foo~foo.svc.cluster.local"} {
		builtin.Resource().Attributes().PutStr(k, v)
	}
	builtin.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(clientLine + "\n")
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))

	require.Equal(t, 2, sink.LogRecordCount())
	out := sink.AllLogs()[0]
	server := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.Equal(t, "kubernetes://httpbin-74fb669cc6-vmqzh.foo", server["context.reporter.uid"])
	assert.Equal(t, "inbound", server["context.reporter.kind"])
	assert.Equal(t, "foo", server["destination.namespace"])
	assert.Equal(t, int64(418), server["response.code"])
	client := out.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.Equal(t, "kubernetes://sleep-dd98b5f48-djwdw.foo", client["context.reporter.uid"])
	assert.Equal(t, "sleep-dd98b5f48-djwdw", client["source.name"])
	assert.Equal(t, "outbound", client["context.reporter.kind"])
	assert.Equal(t, "httpbin.foo.svc.cluster.local", client["destination.service.host"])
	assert.Equal(t, map[string]int64{"/": 2}, counts(t, tel, "otelcol_envoy_access_log_parsed_lines"))
}
