package runtime

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"
	"github.com/otelcol-istio/otelcol-istio/internal/oracle"
)

// packedBags makes bagLogs write packed bag records.
var packedBags bool

func withPackedBags(fn func()) {
	packedBags = true
	defer func() { packedBags = false }()
	fn()
}

// Every recorded Mixer case gives the same series and the same instance
// records whether its bags arrive packed or as attributes.
func TestOraclePackedBags(t *testing.T) {
	f, err := oracle.Load(oracle.Dir())
	require.NoError(t, err)
	for i := range f.Cases {
		c := &f.Cases[i]
		t.Run(c.Name, func(t *testing.T) {
			e, out := replay(t, c)
			var pe *Engine
			var pout plog.Logs
			withPackedBags(func() { pe, pout = replay(t, c) })
			assert.Equal(t, sampleMap(samples(e.Metrics())), sampleMap(samples(pe.Metrics())))
			assert.Equal(t, recordsText(out), recordsText(pout))
			assert.Equal(t, e.Stats().AttributesUnconvertible.Load(), pe.Stats().AttributesUnconvertible.Load())
			assert.Equal(t, e.Stats().InstanceErrors.Load(), pe.Stats().InstanceErrors.Load())
			assert.Zero(t, pe.Stats().BagsMalformed.Load())
		})
	}
}

func recordsText(ld plog.Logs) []string {
	var out []string
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				out = append(out, fmt.Sprint(sl.Scope().Name(), lr.EventName(), lr.Timestamp(), lr.SeverityText(),
					lr.Body().AsString(), lr.Attributes().AsRaw()))
			}
		}
	}
	return out
}

// A packed record cut short is dispatched with what came before the damage,
// and counted.
func TestPackedBagMalformed(t *testing.T) {
	c := oracleCase(t, "default-http")
	snap := loadSnapshot(t, oracle.ConfigPath(oracle.Dir(), c.Name))
	e := New(snap, Options{})
	bag, err := oracle.Bag(c.Reports[0])
	require.NoError(t, err)
	var ld plog.Logs
	withPackedBags(func() { ld = bagLogs(bag) })
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	require.True(t, bagrecord.IsPacked(lr))
	raw := lr.Body().Bytes().AsRaw()
	bagrecord.InitPacked(lr, lr.Timestamp().AsTime(), lr.ObservedTimestamp().AsTime(), raw[:len(raw)-2])
	require.Equal(t, 1, e.Dispatch(ld, plog.NewLogs()))
	assert.Equal(t, uint64(1), e.Stats().BagsMalformed.Load())
	assert.Equal(t, uint64(1), e.Stats().BagsIn.Load())
}

func oracleCase(t *testing.T, name string) *oracle.Case {
	t.Helper()
	f, err := oracle.Load(oracle.Dir())
	require.NoError(t, err)
	for i := range f.Cases {
		if f.Cases[i].Name == name {
			return &f.Cases[i]
		}
	}
	t.Fatalf("no oracle case %q", name)
	return nil
}

// OTTL expressions read attributes: on packed bags they see the unpacked
// copy, and the caller's record stays packed.
func TestOTTLOnPackedBags(t *testing.T) {
	withPackedBags(func() { TestOTTLRulesAndInstances(t) })
	snap := loadSnapshot(t, "testdata/ottl.yaml")
	e := New(snap, Options{})
	var ld plog.Logs
	withPackedBags(func() { ld = bagLogs(oracleBag(t)) })
	e.Dispatch(ld, plog.NewLogs())
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.True(t, bagrecord.IsPacked(lr))
	assert.Zero(t, lr.Attributes().Len())
}

func oracleBag(t *testing.T) bookinfo.Bag {
	c := oracleCase(t, "default-http")
	bag, err := oracle.Bag(c.Reports[0])
	require.NoError(t, err)
	return bag
}

// An OTTL metric instance for a stdio handler has its value in the record,
// in both record forms.
func TestOTTLMetricInstanceValue(t *testing.T) {
	snap := loadSnapshot(t, "testdata/ottl-metric-stdio.yaml")
	require.NoError(t, snap.Err())
	for _, packed := range []bool{false, true} {
		e := New(snap, Options{PackedRecords: packed})
		out := plog.NewLogs()
		e.Dispatch(bagLogs(oracleBag(t)), out)
		require.Equal(t, 1, out.LogRecordCount())
		lr := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		fields, err := instancerecordtest.Fields(lr)
		require.NoError(t, err)
		assert.Equal(t, int64(1), fields["value"], "packed %v: %v", packed, fields)
		assert.Contains(t, fields, "destination")
	}
}
