package runtime

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/oracle"
)

func TestOTTLRulesAndInstances(t *testing.T) {
	snap := loadSnapshot(t, filepath.Join("testdata", "ottl.yaml"))
	require.NoError(t, snap.Err())
	e := New(snap, Options{})
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true})
	out := plog.NewLogs()
	for range 3 {
		e.Dispatch(bagLogs(g.Next()...), out)
	}
	got := sampleMap(samples(e.Metrics()))
	assert.Equal(t, map[string]oracle.Float{
		`istio_ottl_requests,app="details",code="200",destination="details"`: 3,
	}, got)
	require.Equal(t, 3, out.LogRecordCount())
	lr := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, "ottllog.instance.istio-system", lr.EventName())
	assert.Equal(t, map[string]any{"path": "/details/0", "method": "GET /details/0"}, lr.Attributes().AsRaw())
	assert.Equal(t, 2020, lr.Timestamp().AsTime().Year(), "the timestamp comes from request.time nanoseconds")
	assert.Zero(t, e.Stats().MatchErrors.Load(), "absent attributes are nil in OTTL, not errors")
}

// TestCOMPATRulesAndInstances: rules and instances annotated COMPAT are
// evaluated with COMPAT's semantics, their CEXL twins with CEXL's.
func TestCOMPATRulesAndInstances(t *testing.T) {
	snap := loadSnapshot(t, filepath.Join("testdata", "compat.yaml"))
	require.NoError(t, snap.Err())
	e := New(snap, Options{})
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: true})
	for range 3 {
		e.Dispatch(bagLogs(g.Next()...), plog.NewLogs())
	}
	got := sampleMap(samples(e.Metrics()))
	assert.Equal(t, map[string]oracle.Float{
		// COMPAT: the absent principal is "", the path is the subject of
		// matches() and the pattern its argument.
		`istio_compat_requests,agent="none",destination="details",path="true",principal=""`: 3,
	}, got, "the CEXL instance fails on the absent principal, so cexl_requests has no series")
	st := e.Stats()
	assert.Equal(t, uint64(3), st.MatchErrors.Load(), "cexlmatch: lookup failed: 'request.auth.principal'")
	assert.Equal(t, uint64(3), st.InstanceErrors.Load(), "cexlcount, through cexlrule")
}

// TestDefaultConfigUnderCOMPAT: Istio's default telemetry config, all of
// whose `|` chains start with a dotted attribute or a map lookup, produces
// the same series and log entries when every resource is COMPAT (Mixer's
// ISTIO_LANG=COMPAT) as in CEXL.
func TestDefaultConfigUnderCOMPAT(t *testing.T) {
	data, err := istioconfig.Profile("istio-1.1")
	require.NoError(t, err)
	build := func(lang istioconfig.Lang) *istioconfig.Snapshot {
		res, probs := istioconfig.Decode("istio-1.1.yaml", data)
		s := istioconfig.Build(istioconfig.Input{Resources: res, Problems: probs}, istioconfig.BuildOptions{Language: lang})
		require.NoError(t, s.Err())
		return s
	}
	compat := build(istioconfig.LangCOMPAT)
	require.Equal(t, istioconfig.LangCOMPAT, compat.Rules[0].Lang)
	want, wantRecs, _ := run(t, build(""), traffic(true))
	got, gotRecs, e := run(t, compat, traffic(true))
	assert.Equal(t, want, got)
	assert.Equal(t, wantRecs, gotRecs)
	assert.NotEmpty(t, gotRecs["accesslog.logentry.istio-system"])
	assert.Zero(t, e.Stats().InstanceErrors.Load())
}

// TestCELConfig: the default config's request count and access log written
// in CEL's own syntax (testdata/cel.yaml) give the series and access-log
// entries that the CEXL originals give over the same traffic.
func TestCELConfig(t *testing.T) {
	snap := loadSnapshot(t, filepath.Join("testdata", "cel.yaml"))
	require.NoError(t, snap.Err())
	for _, r := range snap.Rules {
		require.Equal(t, istioconfig.LangCEL, r.Lang, r.FQN)
	}
	want, wantRecs, _ := run(t, defaultSnapshot(t, nil, ""), traffic(true))
	got, gotRecs, e := run(t, snap, traffic(true))
	requests := map[string]oracle.Float{}
	for k, v := range want {
		if strings.HasPrefix(k, "istio_requests_total,") {
			requests[k] = v
		}
	}
	require.NotEmpty(t, requests)
	assert.Equal(t, requests, got)
	require.NotEmpty(t, wantRecs["accesslog.logentry.istio-system"])
	assert.Equal(t, wantRecs["accesslog.logentry.istio-system"], gotRecs["accesslog.logentry.istio-system"])
	assert.Zero(t, e.Stats().InstanceErrors.Load())
	assert.Zero(t, e.Stats().MatchErrors.Load())
}

// The expiry timeline recorded from Mixer with a 2 s policy and a 1 s check:
// a series disappears at the first check at or after the latest check
// before its last update plus the expiry.
func TestExpiryTimeline(t *testing.T) {
	snap := loadSnapshot(t, oracle.ConfigPath(oracle.Dir(), "timed-prometheus-expiry"))
	require.NoError(t, snap.Err())
	start := time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC)
	now := start
	e := New(snap, Options{Now: func() time.Time { return now }})
	series := func() int {
		n := 0
		for _, s := range samples(e.Metrics()) {
			if s.Name == "istio_expiring_requests" {
				n++
			}
		}
		assert.Contains(t, sampleMap(samples(e.Metrics())), `istio_kept_requests,series="a"`, "series without a policy stay")
		return n
	}
	bag := bookinfo.Bag{{Name: "request.id", Value: attribute.StringValue("a")}}
	now = start.Add(500 * time.Millisecond)
	e.Dispatch(bagLogs(bag), plog.NewLogs())
	require.Positive(t, series())
	// Checks run at 1s, 2s, 3s…; the update at 0.5s is stamped 0s + 2s.
	now = start.Add(1999 * time.Millisecond)
	assert.Positive(t, series())
	now = start.Add(2 * time.Second)
	assert.Zero(t, series(), "gone at the first check at or after its stamp")

	// An update between checks is stamped with the latest check.
	now = start.Add(2500 * time.Millisecond)
	e.Dispatch(bagLogs(bag), plog.NewLogs())
	now = start.Add(3 * time.Second)
	assert.Positive(t, series())
	now = start.Add(4 * time.Second)
	assert.Zero(t, series())

	// The stamp uses the latest scheduled check even when no one asked for
	// the metrics in between (checks are due at 5s and 6s here).
	now = start.Add(6500 * time.Millisecond)
	e.Dispatch(bagLogs(bag), plog.NewLogs())
	now = start.Add(7999 * time.Millisecond)
	assert.Positive(t, series())
	now = start.Add(8 * time.Second)
	assert.Zero(t, series())
}
