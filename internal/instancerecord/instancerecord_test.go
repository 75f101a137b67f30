package instancerecord

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

var times = []struct {
	in   time.Time
	want string
	fits bool // Timestamp carries it
}{
	{time.Date(2018, 9, 15, 20, 46, 36, 9801123, time.UTC), "2018-09-15T20:46:36.009801Z", true},
	{time.Date(2018, 9, 15, 22, 46, 36, 0, time.FixedZone("x", 7200)), "2018-09-15T20:46:36.000000Z", true},
	{time.Unix(0, 0), "1970-01-01T00:00:00.000000Z", false},
	{time.Unix(0, -1000), "1969-12-31T23:59:59.999999Z", false},
	{time.Time{}, "0001-01-01T00:00:00.000000Z", false},
	{time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC), "2263-01-01T00:00:00.000000Z", false},
}

func TestTimeRoundTrip(t *testing.T) {
	for _, tt := range times {
		lr := plog.NewLogRecord()
		SetTime(lr, tt.in)
		assert.Equal(t, tt.want, string(AppendTime(nil, lr)), tt.in.String())
		assert.Equal(t, tt.fits, lr.Timestamp() != 0, tt.in.String())
	}
	// A record whose time was never set prints Mixer's zero time.
	assert.Equal(t, "0001-01-01T00:00:00.000000Z", string(AppendTime(nil, plog.NewLogRecord())))
}

// packed builds a packed record with time t and the given fields.
func packed(t time.Time, fields func([]byte) []byte) plog.LogRecord {
	lr := plog.NewLogRecord()
	buf := BeginPacked(nil, lr, t)
	if fields != nil {
		buf = fields(buf)
	}
	SetPacked(lr, buf)
	return lr
}

func keys(t *testing.T, lr plog.LogRecord) []string {
	t.Helper()
	r, ok := PackedFields(lr)
	require.True(t, ok)
	var out []string
	var p kvpack.Pair
	for r.Next(&p) {
		out = append(out, p.Key)
	}
	require.NoError(t, r.Err())
	return out
}

func TestPackedTime(t *testing.T) {
	for _, tt := range times {
		lr := packed(tt.in, func(b []byte) []byte { return kvpack.AppendInt(b, "code", 200) })
		assert.True(t, IsPacked(lr))
		assert.Equal(t, tt.want, string(AppendTime(nil, lr)), tt.in.String())
		assert.Equal(t, tt.fits, lr.Timestamp() != 0, tt.in.String())
		assert.Equal(t, []string{"code"}, keys(t, lr), "the time pair is not a field")
	}
}

// A field with the empty key is a field: the time pair is recognised only
// when Timestamp is 0.
func TestPackedEmptyKey(t *testing.T) {
	emptyKey := func(b []byte) []byte { return kvpack.AppendStr(b, "", "x") }
	lr := packed(times[0].in, emptyKey)
	assert.Equal(t, []string{""}, keys(t, lr))
	assert.Equal(t, times[0].want, string(AppendTime(nil, lr)))

	lr = packed(time.Time{}, emptyKey)
	assert.Equal(t, []string{""}, keys(t, lr))
	assert.Equal(t, "0001-01-01T00:00:00.000000Z", string(AppendTime(nil, lr)))
}

func TestNotPacked(t *testing.T) {
	for name, set := range map[string]func(pcommon.Value){
		"empty": func(pcommon.Value) {},
		"str":   func(v pcommon.Value) { v.SetStr("\x01") },
		"bytes": func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte{2, 0}) },
		"none":  func(v pcommon.Value) { v.SetEmptyBytes() },
	} {
		lr := plog.NewLogRecord()
		set(lr.Body())
		assert.False(t, IsPacked(lr), name)
		_, ok := PackedFields(lr)
		assert.False(t, ok, name)
	}
}

// SetPacked shares the buffer, and a change through pdata cannot reach the
// bytes after it (the next record's, in the rules engine's arena).
func TestSetPackedShares(t *testing.T) {
	arena := make([]byte, 0, 256)
	lr := plog.NewLogRecord()
	buf := BeginPacked(arena, lr, times[0].in)
	buf = kvpack.AppendStr(buf, "k", "v")
	SetPacked(lr, buf)
	assert.Same(t, &buf[0], &kvpack.BytesOf(lr.Body())[0], "not copied")
	arena = arena[:len(buf)]
	next := append(arena[len(arena):], 0xAA)
	lr.Body().Bytes().Append(0xBB)
	assert.Equal(t, byte(0xAA), next[0])
}

func TestBeginPackedAllocatesNothing(t *testing.T) {
	lr := plog.NewLogRecord()
	buf := make([]byte, 0, 128)
	for _, tt := range times {
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = BeginPacked(buf[:0], lr, tt.in) }), tt.in.String())
	}
	lr = packed(time.Time{}, nil)
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		buf = AppendTime(buf[:0], lr)
		r, _ := PackedFields(lr)
		var p kvpack.Pair
		for r.Next(&p) {
		}
	}))
}

// FuzzPackedFields: whatever the Body and Timestamp, reading neither panics
// nor loses a pair: the fields are the pairs of the Body less the time pair,
// and the time is the time pair's text exactly when there is one.
func FuzzPackedFields(f *testing.F) {
	f.Add([]byte{kvpack.Version, byte(kvpack.Str), 0, 1, 'T', byte(kvpack.Int), 1, 'n', 1, 0, 0, 0, 0, 0, 0, 0}, uint64(0))
	f.Add(kvpack.AppendStr(kvpack.Begin(nil), "", "x"), uint64(1))
	f.Add([]byte{kvpack.Version, byte(kvpack.Str), 0, 9}, uint64(0))
	f.Fuzz(func(t *testing.T, body []byte, ts uint64) {
		lr := plog.NewLogRecord()
		lr.SetTimestamp(pcommon.Timestamp(ts))
		lr.Body().SetEmptyBytes().FromRaw(body)
		var all []kvpack.Pair
		r := kvpack.NewReader(body)
		var p kvpack.Pair
		for r.Next(&p) {
			all = append(all, p)
		}
		fr, ok := PackedFields(lr)
		if ok != kvpack.IsPacked(body) {
			t.Fatalf("PackedFields ok=%v for %x", ok, body)
		}
		var fields []kvpack.Pair
		for fr.Next(&p) {
			fields = append(fields, p)
		}
		timePair := ts == 0 && len(all) > 0 && all[0].Key == "" && all[0].Kind == kvpack.Str
		want := all
		if timePair {
			want = all[1:]
		}
		if ok && len(fields) != len(want) {
			t.Fatalf("%d fields, want %d (of %d pairs)", len(fields), len(want), len(all))
		}
		got := string(AppendTime(nil, lr))
		switch {
		case timePair && got != all[0].Text:
			t.Fatalf("time %q, want the pair's %q", got, all[0].Text)
		case !timePair && ts == 0 && got != "0001-01-01T00:00:00.000000Z":
			t.Fatalf("time %q without a time pair", got)
		}
	})
}
