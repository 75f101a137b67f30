package istioconfigextension

import (
	"context"
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
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

func TestEmbeddedDefault(t *testing.T) {
	f := NewFactory()
	ext, err := f.Create(t.Context(), extensiontest.NewNopSettings(Type), f.CreateDefaultConfig())
	require.NoError(t, err)
	require.NoError(t, ext.Shutdown(t.Context())) // before Start: harmless
	require.NoError(t, ext.Start(t.Context(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(t.Context())) }()

	id := component.NewID(Type)
	p, err := Find(host{exts: map[component.ID]component.Component{id: ext}}, id)
	require.NoError(t, err)
	s := p.Snapshot()
	require.NotNil(t, s)
	assert.NoError(t, s.Err())
	assert.Len(t, s.Rules, 8)      // with kubeattrgenrulerule and tcpkubeattrgenrulerule
	assert.Empty(t, s.Unsupported) // kubernetesenv is implemented (issue 11)

	var got []*istioconfig.Snapshot
	unsubscribe := p.Subscribe(func(s *istioconfig.Snapshot) { got = append(got, s) })
	unsubscribe()
	unsubscribe()
	assert.Equal(t, []*istioconfig.Snapshot{s}, got, "Subscribe calls at once with the current snapshot")
}

// TestLanguage: the extension's language applies to every rule and
// instance, as Mixer's ISTIO_LANG did.
func TestLanguage(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Language = "compat"
	require.NoError(t, cfg.Validate())
	ext, err := f.Create(t.Context(), extensiontest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(t.Context(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(t.Context())) }()

	s := ext.(Provider).Snapshot()
	require.NoError(t, s.Err())
	for _, r := range s.Rules {
		assert.Equal(t, istioconfig.LangCOMPAT, r.Lang, r.FQN)
		if r.Match != nil {
			assert.Equal(t, "COMPAT", r.Match.Compiled.Dialect().String(), r.FQN)
		}
	}
}

func TestFind(t *testing.T) {
	id := component.NewIDWithName(Type, "mesh")
	_, err := Find(host{exts: map[component.ID]component.Component{}}, id)
	assert.EqualError(t, err, "extension istio_config/mesh not found: configure it under extensions and list it in service.extensions")
	other := extensiontest.NewNopFactory()
	nop, err := other.Create(t.Context(), extensiontest.NewNopSettings(other.Type()), other.CreateDefaultConfig())
	require.NoError(t, err)
	_, err = Find(host{exts: map[component.ID]component.Component{id: nop}}, id)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "extension istio_config/mesh is not an istio_config extension (it is a ")
}

const trio = `apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: c, namespace: istio-system}
spec: {compiledTemplate: metric, params: {value: "1", dimensions: {s: source.workload.name | "x"}}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: p, namespace: istio-system}
spec:
  compiledAdapter: prometheus
  params: {metrics: [{name: c, instance_name: c.instance.istio-system, kind: COUNTER, label_names: [s]}]}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: r, namespace: istio-system}
spec: {match: MATCH, actions: [{handler: p, instances: [c]}]}
`

func trioWith(match string) string { return strings.Replace(trio, "MATCH", match, 1) }

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(text), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// recorder collects what a subscriber receives.
type recorder struct {
	mu    sync.Mutex
	snaps []*istioconfig.Snapshot
}

func (r *recorder) add(s *istioconfig.Snapshot) {
	r.mu.Lock()
	r.snaps = append(r.snaps, s)
	r.mu.Unlock()
}
func (r *recorder) last() (*istioconfig.Snapshot, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.snaps) == 0 {
		return nil, 0
	}
	return r.snaps[len(r.snaps)-1], len(r.snaps)
}

func TestReloadsPublishLogAndCount(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	writeFile(t, path, trioWith(`context.protocol == "http"`))

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	core, logs := observer.New(zapcore.DebugLevel)
	set := extensiontest.NewNopSettings(Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	cfg := createDefaultConfig()
	cfg.Sources = []SourceConfig{{Path: dir}}
	cfg.Debounce = 50 * time.Millisecond
	ext, err := NewFactory().Create(t.Context(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(t.Context(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	p := ext.(Provider)

	rec := &recorder{}
	defer p.Subscribe(rec.add)()
	first, n := rec.last()
	require.Equal(t, 1, n)

	// A broken edit: published (with its problems), last good rule kept.
	writeFile(t, path, trioWith(`context.protocol = "grpc"`))
	require.Eventually(t, func() bool { _, n := rec.last(); return n == 2 }, 10*time.Second, 10*time.Millisecond)
	s, _ := rec.last()
	assert.NotSame(t, first, s)
	assert.Same(t, s, p.Snapshot())
	require.Len(t, s.Rules, 1)
	assert.Equal(t, `context.protocol == "http"`, s.Rules[0].Match.Text)
	require.Len(t, s.Problems, 2)
	assert.Contains(t, s.Problems[0].Error(), `config.yaml:16: rule/istio-system/r: match: unable to parse expression`)

	loaded := logs.FilterMessage("Istio configuration loaded").All()
	require.Len(t, loaded, 2)
	fields := loaded[1].ContextMap()
	assert.EqualValues(t, 2, fields["accepted"])
	assert.EqualValues(t, 1, fields["rejected"])
	assert.EqualValues(t, 2, fields["problems"])
	assert.Len(t, logs.FilterMessage("Istio configuration problem").All(), 2)

	// The directory vanishes: the reload fails, the snapshot stays.
	require.NoError(t, os.RemoveAll(dir))
	require.Eventually(t, func() bool {
		return logs.FilterMessage("Istio configuration reload failed; the last good configuration stays in force").Len() > 0
	}, time.Second, 10*time.Millisecond)
	assert.Same(t, s, p.Snapshot())

	reloads, err := tel.GetMetric("otelcol_istio_config_reloads")
	require.NoError(t, err)
	counts := map[string]int64{}
	for _, dp := range reloads.Data.(metricdata.Sum[int64]).DataPoints {
		o, _ := dp.Attributes.Value("outcome")
		counts[o.AsString()] = dp.Value
	}
	assert.Equal(t, int64(2), counts["applied"])
	assert.GreaterOrEqual(t, counts["failed"], int64(1))

	resources, err := tel.GetMetric("otelcol_istio_config_resources")
	require.NoError(t, err)
	gauge := map[string]int64{}
	for _, dp := range resources.Data.(metricdata.Gauge[int64]).DataPoints {
		k, _ := dp.Attributes.Value("kind")
		st, _ := dp.Attributes.Value("status")
		gauge[k.AsString()+"/"+st.AsString()] = dp.Value
	}
	assert.Equal(t, int64(1), gauge["rule/rejected"])
	assert.Equal(t, int64(1), gauge["handler/accepted"])
	assert.Equal(t, int64(1), gauge["instance/accepted"])

	problems, err := tel.GetMetric("otelcol_istio_config_problems")
	require.NoError(t, err)
	assert.Equal(t, int64(2), problems.Data.(metricdata.Gauge[int64]).DataPoints[0].Value)
}

func TestStartFails(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Sources = []SourceConfig{{Path: filepath.Join(t.TempDir(), "nope")}}
	ext, err := NewFactory().Create(t.Context(), extensiontest.NewNopSettings(Type), cfg)
	require.NoError(t, err)
	err = ext.Start(t.Context(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Regexp(t, `^istio_config/.*: loading the Istio configuration: path .*/nope: cannot read: no such file or directory$`, err.Error())
	assert.Nil(t, ext.(Provider).Snapshot())
	require.NoError(t, ext.Shutdown(t.Context()))
}
