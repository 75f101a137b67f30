package runtime

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/oracle"
)

// loadSnapshot builds a snapshot from one config file.
func loadSnapshot(t testing.TB, path string) *istioconfig.Snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return snapshotOf(path, data)
}

// snapshotOf builds the Istio config in data, named name in problems.
func snapshotOf(name string, data []byte) *istioconfig.Snapshot {
	res, probs := istioconfig.Decode(name, data)
	return istioconfig.Build(istioconfig.Input{Resources: res, Problems: probs}, istioconfig.BuildOptions{})
}

// bagLogs wraps bags into one plog.Logs of bag records.
func bagLogs(bags ...bookinfo.Bag) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, b := range bags {
		lr := lrs.AppendEmpty()
		if packedBags {
			buf := bagrecord.BeginPacked(nil)
			for _, a := range b {
				buf = bagrecord.AppendValue(buf, a.Name, a.Value)
			}
			bagrecord.InitPacked(lr, time.Time{}, time.Time{}, buf)
			continue
		}
		m := bagrecord.InitRecord(lr, time.Time{}, time.Time{}, len(b))
		for _, a := range b {
			bagrecord.PutValue(m, a.Name, a.Value)
		}
	}
	return ld
}

// samples flattens metrics into exposition samples the way the Prometheus
// client exposes them.
func samples(md pmetric.Metrics) []oracle.Sample {
	var out []oracle.Sample
	labels := func(attrs pcommon.Map, extra ...string) map[string]string {
		l := map[string]string{}
		for k, v := range attrs.All() {
			l[k] = v.Str()
		}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for d := 0; d < m.Sum().DataPoints().Len(); d++ {
						dp := m.Sum().DataPoints().At(d)
						out = append(out, oracle.Sample{Name: m.Name(), Labels: labels(dp.Attributes()), Value: oracle.Float(dp.DoubleValue())})
					}
				case pmetric.MetricTypeGauge:
					for d := 0; d < m.Gauge().DataPoints().Len(); d++ {
						dp := m.Gauge().DataPoints().At(d)
						out = append(out, oracle.Sample{Name: m.Name(), Labels: labels(dp.Attributes()), Value: oracle.Float(dp.DoubleValue())})
					}
				case pmetric.MetricTypeHistogram:
					for d := 0; d < m.Histogram().DataPoints().Len(); d++ {
						dp := m.Histogram().DataPoints().At(d)
						cum := uint64(0)
						for b := 0; b < dp.BucketCounts().Len(); b++ {
							cum += dp.BucketCounts().At(b)
							le := "+Inf"
							if b < dp.ExplicitBounds().Len() {
								le = strconv.FormatFloat(dp.ExplicitBounds().At(b), 'g', -1, 64)
							}
							out = append(out, oracle.Sample{Name: m.Name() + "_bucket", Labels: labels(dp.Attributes(), "le", le), Value: oracle.Float(cum)})
						}
						out = append(out,
							oracle.Sample{Name: m.Name() + "_sum", Labels: labels(dp.Attributes()), Value: oracle.Float(dp.Sum())},
							oracle.Sample{Name: m.Name() + "_count", Labels: labels(dp.Attributes()), Value: oracle.Float(dp.Count())})
					}
				}
			}
		}
	}
	return out
}

func sampleKey(s oracle.Sample) string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.Name)
	for _, k := range keys {
		fmt.Fprintf(&b, ",%s=%q", k, s.Labels[k])
	}
	return b.String()
}

func sampleMap(ss []oracle.Sample) map[string]oracle.Float {
	m := map[string]oracle.Float{}
	for _, s := range ss {
		m[sampleKey(s)] = s.Value
	}
	return m
}

// replay runs every report of c through a fresh engine on the case's config
// and returns the engine and the log records it produced.
func replay(t *testing.T, c *oracle.Case) (*Engine, plog.Logs) {
	t.Helper()
	snap := loadSnapshot(t, oracle.ConfigPath(oracle.Dir(), c.Name))
	clock := time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC)
	e := New(snap, Options{Now: func() time.Time { return clock }, PackedRecords: packedRecords})
	out := plog.NewLogs()
	var acc bookinfo.Bag
	var batch []bookinfo.Bag
	for i, r := range c.Reports {
		bag, err := oracle.Bag(r)
		require.NoError(t, err, "report %d", i)
		if c.Replay == "delta-one-request" {
			// One DELTA request: every element applies on top of the previous.
			acc = mergeBag(acc, bag)
			batch = append(batch, append(bookinfo.Bag(nil), acc...))
			continue
		}
		e.Dispatch(bagLogs(bag), out)
	}
	if len(batch) > 0 {
		e.Dispatch(bagLogs(batch...), out)
	}
	return e, out
}

func mergeBag(acc, upd bookinfo.Bag) bookinfo.Bag {
	out := append(bookinfo.Bag(nil), acc...)
	for _, a := range upd {
		found := false
		for i := range out {
			if out[i].Name == a.Name {
				out[i].Value, found = a.Value, true
			}
		}
		if !found {
			out = append(out, a)
		}
	}
	return out
}

// TestOracleMetrics replays every recorded case and compares the series with
// what Mixer exposed.
func TestOracleMetrics(t *testing.T) {
	f, err := oracle.Load(oracle.Dir())
	require.NoError(t, err)
	passed := 0
	for i := range f.Cases {
		c := &f.Cases[i]
		ok := t.Run(c.Name, func(t *testing.T) {
			e, _ := replay(t, c)
			got := sampleMap(samples(e.Metrics()))
			want := sampleMap(c.ExpectedMetrics)
			if c.DeliberateDifference != "" {
				// Mixer lost the rest of a batch here; we keep it. Every
				// series Mixer did record must be there with its value.
				for k, v := range want {
					assert.Equal(t, v, got[k], "series %s", k)
				}
				return
			}
			assert.Equal(t, want, got)
		})
		if ok {
			passed++
		}
	}
	fmt.Printf("mixer oracle metrics: %d passed, %d failed\n", passed, len(f.Cases)-passed)
}

// TestOracleLogRecordCounts checks that every case produces as many instance
// records as Mixer wrote stdio lines.
func TestOracleLogRecordCounts(t *testing.T) {
	f, err := oracle.Load(oracle.Dir())
	require.NoError(t, err)
	for i := range f.Cases {
		c := &f.Cases[i]
		t.Run(c.Name, func(t *testing.T) {
			_, out := replay(t, c)
			assert.Equal(t, len(c.ExpectedLogLines), out.LogRecordCount())
		})
	}
}
