package istiostdioexporter

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
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
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// assertGolden compares got with testdata/golden/<name>.golden.
func assertGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "golden file %s (go test -update rewrites it)", path)
}

// fakeSource stands in for the istio_config extension.
type fakeSource map[string]istioconfig.StdioParams

func (f fakeSource) StdioParams(handler string) (istioconfig.StdioParams, bool) {
	p, ok := f[handler]
	return p, ok
}

type fakeExtension struct {
	component.StartFunc
	component.ShutdownFunc
	fakeSource
}

type plainExtension struct {
	component.StartFunc
	component.ShutdownFunc
}

type host map[component.ID]component.Component

func (h host) GetExtensions() map[component.ID]component.Component { return h }

var extID = component.MustNewID("istio_config")

func hostWith(src fakeSource) host {
	return host{extID: fakeExtension{fakeSource: src}}
}

// syncBuffer is a bytes.Buffer safe for the concurrent test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

type testExporter struct {
	*stdioExporter
	out, errOut *syncBuffer
	logs        *observer.ObservedLogs
}

func newTestExporter(t *testing.T, h component.Host) testExporter {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	e := newStdioExporter(createDefaultConfig().(*Config), zap.New(core))
	te := testExporter{stdioExporter: e, out: &syncBuffer{}, errOut: &syncBuffer{}, logs: logs}
	e.stdout, e.stderr = te.out, te.errOut
	require.NoError(t, e.start(context.Background(), h))
	t.Cleanup(func() { assert.NoError(t, e.shutdown(context.Background())) })
	return te
}

// scope describes one ScopeLogs as the rules engine builds it.
type scope struct {
	handler, adapter, template string
	records                    []record
}

type record struct {
	instance, severity string
	time               time.Time
	attrs              []kv
}

type kv struct {
	k string
	v any
}

// recordEncoding is the form buildLogs writes records in.
var recordEncoding = instancerecord.EncodingAttributes

// forEachEncoding runs fn with buildLogs writing each form of instance
// records in turn: both must give the same bytes.
func forEachEncoding(t *testing.T, fn func(t *testing.T)) {
	for _, enc := range instancerecordtest.Encodings {
		t.Run(enc, func(t *testing.T) {
			recordEncoding = enc
			defer func() { recordEncoding = instancerecord.EncodingAttributes }()
			fn(t)
		})
	}
}

// buildLogs builds the records of scopes in the form recordEncoding names.
func buildLogs(scopes ...scope) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	for _, s := range scopes {
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(s.handler)
		if s.adapter != "" {
			sl.Scope().Attributes().PutStr(instancerecord.ScopeAttrAdapter, s.adapter)
		}
		if s.template != "" {
			sl.Scope().Attributes().PutStr(instancerecord.ScopeAttrTemplate, s.template)
		}
		for _, r := range s.records {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetEventName(r.instance)
			lr.SetSeverityText(r.severity)
			instancerecord.SetTime(lr, r.time)
			for _, a := range r.attrs {
				switch v := a.v.(type) {
				case string:
					lr.Attributes().PutStr(a.k, v)
				case int:
					lr.Attributes().PutInt(a.k, int64(v))
				case float64:
					lr.Attributes().PutDouble(a.k, v)
				case bool:
					lr.Attributes().PutBool(a.k, v)
				}
			}
		}
	}
	if err := instancerecordtest.EncodeLogs(ld, recordEncoding); err != nil {
		panic(err)
	}
	return ld
}

var t0 = time.Date(2020, 7, 1, 10, 0, 0, 123456789, time.UTC)

// newlog is the walkthrough's `newlog` instance.
func newlog(severity string, i int) record {
	return record{
		instance: "newlog.instance.istio-system",
		severity: severity,
		time:     t0.Add(time.Duration(i) * time.Second),
		attrs: []kv{
			{"source", "productpage"}, {"destination", "details"}, {"responseCode", 200},
			{"responseSize", 178}, {"latency", "13.601485ms"}, {"user", "unknown"},
		},
	}
}

func stdioScope(handler string, records ...record) scope {
	return scope{handler: handler, adapter: "stdio", template: instancerecord.TemplateLogEntry, records: records}
}

func params(mod func(p *istioconfig.StdioParams)) istioconfig.StdioParams {
	p := istioconfig.DefaultStdioParams()
	if mod != nil {
		mod(&p)
	}
	return p
}

func TestLayoutsAndStreams(t *testing.T) { forEachEncoding(t, testLayoutsAndStreams) }

func testLayoutsAndStreams(t *testing.T) {
	te := newTestExporter(t, hostWith(fakeSource{
		"json.stdio.istio-system":    params(nil),
		"console.stdio.istio-system": params(func(p *istioconfig.StdioParams) { p.OutputAsJSON = false; p.LogStream = istioconfig.StreamStderr }),
	}))
	ld := buildLogs(
		stdioScope("json.stdio.istio-system", newlog("warning", 0), newlog("info", 1)),
		stdioScope("console.stdio.istio-system", newlog("warning", 0), newlog("error", 1)),
	)
	require.NoError(t, te.pushLogs(context.Background(), ld))
	assertGolden(t, "json-stdout", te.out.Bytes())
	assertGolden(t, "console-stderr", te.errOut.Bytes())
}

// TestSeverityLevels follows case stdio-console-and-metric-lines of the
// Mixer oracle: a severity_levels map replaces the default map.
func TestSeverityLevels(t *testing.T) { forEachEncoding(t, testSeverityLevels) }

func testSeverityLevels(t *testing.T) {
	te := newTestExporter(t, hostWith(fakeSource{
		"default.stdio.istio-system": params(nil),
		"only-warning.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.SeverityLevels = map[string]istioconfig.StdioLevel{"warning": istioconfig.LevelWarning}
		}),
	}))
	var recs []record
	for i, sev := range []string{"warning", "error", "WARNING", "fatal", "Info", "BOGUS"} {
		r := newlog(sev, i)
		r.attrs = []kv{{"severity", sev}}
		recs = append(recs, r)
	}
	ld := buildLogs(stdioScope("default.stdio.istio-system", recs...), stdioScope("only-warning.stdio.istio-system", recs...))
	require.NoError(t, te.pushLogs(context.Background(), ld))
	assertGolden(t, "severity-levels", te.out.Bytes())
}

func TestMetricLines(t *testing.T) { forEachEncoding(t, testMetricLines) }

func testMetricLines(t *testing.T) {
	te := newTestExporter(t, hostWith(fakeSource{
		"metrics.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.MetricLevel = istioconfig.LevelError
			p.OutputAsJSON = false
		}),
	}))
	m := record{
		instance: "requestcount.metric.istio-system",
		severity: "info", // ignored: metrics log at metric_level
		time:     t0,
		attrs: []kv{
			{"source", "productpage"}, {"value", 1}, {"destination_ip", "CgECAw=="},
			{"destination", "details"}, {"latency", "1.5ms"},
		},
	}
	ld := buildLogs(scope{handler: "metrics.stdio.istio-system", adapter: "stdio", template: instancerecord.TemplateMetric, records: []record{m}})
	require.NoError(t, te.pushLogs(context.Background(), ld))
	assert.Equal(t, "2020-07-01T10:00:00.123456Z\terror\trequestcount.metric.istio-system\t"+
		`{"value": 1, "destination": "details", "destination_ip": "CgECAw==", "latency": "1.5ms", "source": "productpage"}`+"\n",
		string(te.out.Bytes()))
}

func TestFileOutput(t *testing.T) { forEachEncoding(t, testFileOutput) }

func testFileOutput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mixer.log")
	require.NoError(t, os.WriteFile(path, []byte("earlier line\n"), 0o600))
	newPath := filepath.Join(dir, "new.log")
	te := newTestExporter(t, hostWith(fakeSource{
		"file.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.LogStream, p.OutputPath = istioconfig.StreamFile, path
		}),
		"new.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.LogStream, p.OutputPath = istioconfig.StreamFile, newPath
		}),
	}))
	for i := range 2 {
		ld := buildLogs(stdioScope("file.stdio.istio-system", newlog("warning", i)), stdioScope("new.stdio.istio-system", newlog("error", i)))
		require.NoError(t, te.pushLogs(context.Background(), ld))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assertGolden(t, "file-append", got)

	info, err := os.Stat(newPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm()&^umask(t))
	assert.Empty(t, te.out.Bytes())
}

// umask returns the bits the process umask removes from 0o644, so that the
// mode check holds under any umask.
func umask(t *testing.T) os.FileMode {
	p := filepath.Join(t.TempDir(), "probe")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	info, err := os.Stat(p)
	require.NoError(t, err)
	return 0o644 &^ info.Mode().Perm()
}

func TestRotatedFileOutput(t *testing.T) { forEachEncoding(t, testRotatedFileOutput) }

func testRotatedFileOutput(t *testing.T) {
	dir := t.TempDir()
	// lumberjack creates missing directories, as it did for Mixer.
	path := filepath.Join(dir, "sub", "mixer.log")
	te := newTestExporter(t, hostWith(fakeSource{
		"rotated.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.LogStream, p.OutputPath = istioconfig.StreamRotatedFile, path
			p.MaxMegabytesBeforeRotation = 1
		}),
	}))
	// About 1.7 MB of lines in batches of 2000: more than one 1 MB file.
	const batches, perBatch = 6, 2000
	n := 0
	for range batches {
		recs := make([]record, perBatch)
		for i := range recs {
			recs[i] = newlog("info", n)
			recs[i].attrs = append(recs[i].attrs, kv{"n", n})
			n++
		}
		require.NoError(t, te.pushLogs(context.Background(), buildLogs(stdioScope("rotated.stdio.istio-system", recs...))))
	}

	files, err := filepath.Glob(filepath.Join(dir, "sub", "mixer*.log"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 2, "expected a rotated backup next to %s", path)
	seen := 0
	for _, f := range files {
		info, err := os.Stat(f)
		require.NoError(t, err)
		assert.LessOrEqual(t, info.Size(), int64(1<<20), f)
		assert.Equal(t, os.FileMode(0o644)&^umask(t), info.Mode().Perm(), "%s keeps the mode on rotation", f)
		fh, err := os.Open(f)
		require.NoError(t, err)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			require.True(t, strings.HasPrefix(sc.Text(), `{"level":"info"`) && strings.HasSuffix(sc.Text(), "}"),
				"whole lines only: %q", sc.Text())
			seen++
		}
		require.NoError(t, fh.Close())
	}
	assert.Equal(t, batches*perBatch, seen)
}

func TestRotationMegabytes(t *testing.T) {
	tests := []struct {
		in   int32
		want int
	}{
		{0, 0},
		{-5, 0},
		{1, 1},
		{100, 100},
		{1 << 20, 1 << 20},
		{100 * 1024 * 1024, 100}, // Mixer's default, meant as 100 MB
		{1<<20 + 1, 2},           // read as bytes, rounded up
		{1<<31 - 1, 2048},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, rotationMegabytes(tt.in), "%d", tt.in)
	}
}

// TestFailingOutput: a handler whose file cannot be opened fails the batch
// for its own records only; the other handlers' lines are written, and a
// retry of the returned data writes the rest once the path works.
func TestFailingOutput(t *testing.T) { forEachEncoding(t, testFailingOutput) }

func testFailingOutput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.log")
	bad := filepath.Join(dir, "missing", "bad.log")
	te := newTestExporter(t, hostWith(fakeSource{
		"bad.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.LogStream, p.OutputPath = istioconfig.StreamFile, bad
		}),
		"good.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.LogStream, p.OutputPath = istioconfig.StreamFile, good
		}),
	}))
	ld := buildLogs(
		stdioScope("bad.stdio.istio-system", newlog("error", 0)),
		stdioScope("good.stdio.istio-system", newlog("info", 0), newlog("info", 1)),
		stdioScope("stdout.stdio.istio-system", newlog("info", 2)), // unknown: defaults
	)
	err := te.pushLogs(context.Background(), ld)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "handler bad.stdio.istio-system")
	assert.Contains(t, err.Error(), bad)
	assert.Equal(t, "handler bad.stdio.istio-system: open "+bad+": no such file or directory", err.Error())
	assert.False(t, consumererror.IsPermanent(err), "an unopenable path is retried")

	got, rerr := os.ReadFile(good)
	require.NoError(t, rerr)
	assert.Equal(t, 2, bytes.Count(got, []byte("\n")))
	assert.Equal(t, 1, bytes.Count(te.out.Bytes(), []byte("\n")))

	var le consumererror.Logs
	require.ErrorAs(t, err, &le)
	retry := le.Data()
	require.Equal(t, 1, retry.LogRecordCount())
	assert.Equal(t, "bad.stdio.istio-system", retry.ResourceLogs().At(0).ScopeLogs().At(0).Scope().Name())

	require.NoError(t, os.MkdirAll(filepath.Dir(bad), 0o755))
	require.NoError(t, te.pushLogs(context.Background(), retry))
	got, rerr = os.ReadFile(bad)
	require.NoError(t, rerr)
	assert.Contains(t, string(got), `{"level":"error"`)
	got, _ = os.ReadFile(good)
	assert.Equal(t, 2, bytes.Count(got, []byte("\n")), "the retry does not repeat other handlers' lines")
}

func TestMissingPathIsPermanent(t *testing.T) {
	te := newTestExporter(t, hostWith(fakeSource{
		"nopath.stdio.istio-system": params(func(p *istioconfig.StdioParams) { p.LogStream = istioconfig.StreamRotatedFile }),
	}))
	err := te.pushLogs(context.Background(), buildLogs(stdioScope("nopath.stdio.istio-system", newlog("info", 0))))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), "handler nopath.stdio.istio-system: log_stream ROTATED_FILE needs an output_path")
}

func TestFilePathNamesAStream(t *testing.T) {
	te := newTestExporter(t, hostWith(fakeSource{
		"f.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.LogStream, p.OutputPath = istioconfig.StreamFile, "stderr"
		}),
	}))
	require.NoError(t, te.pushLogs(context.Background(), buildLogs(stdioScope("f.stdio.istio-system", newlog("info", 0)))))
	assert.Equal(t, 1, bytes.Count(te.errOut.Bytes(), []byte("\n")))
}

func TestOtherAdaptersAndUnknownHandlers(t *testing.T) {
	forEachEncoding(t, testOtherAdaptersAndUnknownHandlers)
}

func testOtherAdaptersAndUnknownHandlers(t *testing.T) {
	te := newTestExporter(t, hostWith(fakeSource{}))
	ld := buildLogs(
		scope{handler: "fluentd.fluentd.istio-system", adapter: "fluentd", template: "logentry", records: []record{newlog("info", 0)}},
		stdioScope("gone.stdio.istio-system", newlog("warning", 0)),
		scope{handler: "foreign", records: []record{newlog("error", 0)}}, // no istio scope attributes
	)
	for range 2 {
		require.NoError(t, te.pushLogs(context.Background(), ld))
	}
	lines := strings.Split(strings.TrimSuffix(string(te.out.Bytes()), "\n"), "\n")
	assert.Len(t, lines, 4, "two batches of the gone and foreign handlers")
	assert.Equal(t, 1, te.logs.FilterField(zap.String("handler", "fluentd.fluentd.istio-system")).Len(), "logged once")
	assert.Equal(t, 1, te.logs.FilterField(zap.String("handler", "gone.stdio.istio-system")).Len(), "logged once")
}

func TestStartWithoutSource(t *testing.T) {
	for name, h := range map[string]component.Host{
		"no extension":    componenttest.NewNopHost(),
		"other extension": host{extID: plainExtension{}},
	} {
		t.Run(name, func(t *testing.T) {
			te := newTestExporter(t, h)
			assert.Nil(t, te.source)
			assert.Equal(t, 1, te.logs.Len(), "logged once at start")
			require.NoError(t, te.pushLogs(context.Background(), buildLogs(stdioScope("any.stdio.istio-system", newlog("warning", 0)))))
			assert.Equal(t, 1, bytes.Count(te.out.Bytes(), []byte(`{"level":"warn"`)))
			assert.Equal(t, 1, te.logs.Len(), "nothing more logged per handler")
		})
	}
}

func TestConcurrentBatchesKeepLinesWhole(t *testing.T) {
	forEachEncoding(t, testConcurrentBatchesKeepLinesWhole)
}

func testConcurrentBatchesKeepLinesWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	te := newTestExporter(t, hostWith(fakeSource{
		"c.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.LogStream, p.OutputPath = istioconfig.StreamFile, path
		}),
	}))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				assert.NoError(t, te.pushLogs(context.Background(),
					buildLogs(stdioScope("c.stdio.istio-system", newlog("info", g*1000+i), newlog("info", g*1000+i)))))
			}
		})
	}
	wg.Wait()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	require.Len(t, lines, 4*50*2)
	for _, l := range lines {
		require.True(t, strings.HasPrefix(l, `{"level":"info"`) && strings.HasSuffix(l, "}"), l)
	}
}

func TestShutdown(t *testing.T) {
	e := newStdioExporter(createDefaultConfig().(*Config), zap.NewNop())
	require.NoError(t, e.shutdown(context.Background()), "without start")
	require.NoError(t, e.shutdown(context.Background()), "twice")
	err := e.pushLogs(context.Background(), buildLogs(stdioScope("x", newlog("info", 0))))
	assert.ErrorContains(t, err, "shut down")
}

// TestFactory runs the exporter the way the collector does: through the
// factory, exporterhelper and its queue, with the params from an extension.
func TestFactory(t *testing.T) { forEachEncoding(t, testFactory) }

func testFactory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "factory.log")
	f := NewFactory()
	assert.Equal(t, componentType, f.Type())
	exp, err := f.CreateLogs(context.Background(), exportertest.NewNopSettings(componentType), f.CreateDefaultConfig())
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), hostWith(fakeSource{
		"f.stdio.istio-system": params(func(p *istioconfig.StdioParams) {
			p.LogStream, p.OutputPath = istioconfig.StreamFile, path
		}),
	})))
	for i := range 3 {
		require.NoError(t, exp.ConsumeLogs(context.Background(), buildLogs(stdioScope("f.stdio.istio-system", newlog("warning", i)))))
	}
	require.NoError(t, exp.Shutdown(context.Background())) // drains the queue
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	var want strings.Builder
	for i := range 3 {
		fmt.Fprintf(&want, `{"level":"warn","time":"2020-07-01T10:00:0%d.123456Z","instance":"newlog.instance.istio-system",`+
			`"destination":"details","latency":"13.601485ms","responseCode":200,"responseSize":178,"source":"productpage","user":"unknown"}`+"\n", i)
	}
	assert.Equal(t, want.String(), string(got), "in order, with one queue consumer")
}
