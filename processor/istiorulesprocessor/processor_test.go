package istiorulesprocessor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-istio/otelcol-istio/extension/istioconfigextension"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"
)

type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

func start(t *testing.T, keep bool) (*consumertest.LogsSink, func(plog.Logs) error) {
	return startWith(t, keep, instancerecord.EncodingAttributes)
}

func startWith(t *testing.T, keep bool, enc string) (*consumertest.LogsSink, func(plog.Logs) error) {
	t.Helper()
	ef := istioconfigextension.NewFactory()
	ecfg := ef.CreateDefaultConfig().(*istioconfigextension.Config)
	ecfg.Sources = []istioconfigextension.SourceConfig{{Path: filepath.Join("..", "..", "connector", "istiorulesconnector", "testdata", "seed", "log-entry.yaml")}}
	ext, err := ef.Create(context.Background(), extensiontest.NewNopSettings(ef.Type()), ecfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, ext.Shutdown(context.Background())) })
	h := host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{component.NewID(ef.Type()): ext}}

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.KeepAttributes = keep
	cfg.RecordEncoding = enc
	sink := new(consumertest.LogsSink)
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), h))
	t.Cleanup(func() { assert.NoError(t, p.Shutdown(context.Background())) })
	return sink, func(ld plog.Logs) error { return p.ConsumeLogs(context.Background(), ld) }
}

func input(t *testing.T) (plog.Logs, int) {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	bags := bookinfo.NewGenerator(bookinfo.Options{Seed: 9, Enriched: true}).Next()
	for _, b := range bags {
		m := bagrecord.InitRecord(lrs.AppendEmpty(), time.Time{}, time.Time{}, len(b))
		for _, a := range b {
			bagrecord.PutValue(m, a.Name, a.Value)
		}
	}
	lrs.AppendEmpty().Body().SetStr("not a bag")
	return ld, len(bags)
}

func TestReplacesBags(t *testing.T) {
	var entries [2][]map[string]any
	for i, enc := range instancerecordtest.Encodings {
		t.Run(enc, func(t *testing.T) { entries[i] = testReplacesBags(t, enc) })
	}
	assert.Equal(t, entries[0], entries[1], "both forms carry the same variables")
}

// testReplacesBags checks the records out of one batch and returns the
// variables of the instance records.
func testReplacesBags(t *testing.T, enc string) []map[string]any {
	sink, consume := startWith(t, false, enc)
	ld, n := input(t)
	require.NoError(t, consume(ld))
	var entries []map[string]any
	got := map[string]int{}
	for _, out := range sink.AllLogs() {
		rls := out.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					name := lr.EventName()
					if name == "" {
						name = lr.Body().Str()
					} else {
						assert.Equal(t, enc == instancerecord.EncodingPacked, instancerecord.IsPacked(lr))
						f, err := instancerecordtest.Fields(lr)
						require.NoError(t, err)
						entries = append(entries, f)
					}
					got[name]++
				}
			}
		}
	}
	assert.Equal(t, n, got["newlog.instance.istio-system"], "one entry per report")
	assert.Equal(t, 1, got["not a bag"], "records that are not bags pass through")
	assert.Zero(t, got[bagrecord.EventName], "bags are replaced")
	return entries
}

func TestKeepAttributes(t *testing.T) {
	sink, consume := start(t, true)
	ld, n := input(t)
	require.NoError(t, consume(ld))
	bags := 0
	for _, out := range sink.AllLogs() {
		rls := out.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					if bagrecord.IsBag(lrs.At(k)) {
						bags++
					}
				}
			}
		}
	}
	assert.Equal(t, n, bags)
}
