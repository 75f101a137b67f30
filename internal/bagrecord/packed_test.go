package bagrecord

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// packMap writes the attributes of m as a packed bag, the way a source that
// packs writes what it would otherwise Put.
func packMap(t testing.TB, m pcommon.Map) []byte {
	buf := BeginPacked(nil)
	for k, v := range m.All() {
		switch v.Type() {
		case pcommon.ValueTypeStr:
			buf = AppendString(buf, k, v.Str())
		case pcommon.ValueTypeInt:
			buf = AppendInt64(buf, k, v.Int())
		case pcommon.ValueTypeDouble:
			buf = AppendDouble(buf, k, v.Double())
		case pcommon.ValueTypeBool:
			buf = AppendBool(buf, k, v.Bool())
		case pcommon.ValueTypeBytes:
			buf = AppendIP(buf, k, v.Bytes().AsRaw())
		case pcommon.ValueTypeMap:
			buf = AppendStringMap(buf, k, v.Map().Len())
			for mk, mv := range v.Map().All() {
				buf = AppendStringMapEntry(buf, mk, mv.Str())
			}
		default:
			buf = kvpack.AppendEmpty(buf, k)
		}
	}
	return buf
}

func packedRecord(t testing.TB, m pcommon.Map) plog.LogRecord {
	lr := plog.NewLogRecord()
	InitPacked(lr, time.Unix(5, 0), time.Unix(6, 0), packMap(t, m))
	return lr
}

// The maps of the attribute-form tests, as sources write them.
func bagMaps() map[string]pcommon.Map {
	canonical := pcommon.NewMap()
	PutString(canonical, "s", "x")
	PutString(canonical, "dns", "Foo.Example.com.")
	PutInt64(canonical, "i", 7)
	PutDouble(canonical, "d", 0.5)
	PutBool(canonical, "b", true)
	PutTimestamp(canonical, "ts", time.Date(2020, 7, 1, 10, 0, 0, 123456789, time.UTC))
	PutDuration(canonical, "dur", 1500*time.Millisecond)
	PutIP(canonical, "ip", net.ParseIP("2001:db8::1"))
	sm := PutStringMap(canonical, "m", 2)
	sm.PutStr("app", "reviews")
	sm.PutStr("version", "v2")
	PutString(canonical, "not.in.vocabulary", "ignored")

	lenient := pcommon.NewMap()
	lenient.PutStr("i", "42")
	lenient.PutStr("ts", "2020-07-01T10:00:00.5Z")
	lenient.PutStr("dur", "13.601485ms")
	lenient.PutStr("ip", "10.1.2.3")

	bad := pcommon.NewMap()
	bad.PutStr("i", "forty-two")
	bad.PutInt("s", 20)
	bad.PutEmpty("b")
	PutIP(bad, "ip", []byte{1, 2, 3})

	outOfRange := pcommon.NewMap()
	PutTimestamp(outOfRange, "ts", time.Time{})
	return map[string]pcommon.Map{"canonical": canonical, "lenient": lenient, "unconvertible": bad, "year 1": outOfRange}
}

func assertSameBag(t *testing.T, want, got *attribute.Bag) {
	t.Helper()
	assert.Equal(t, want.Len(), got.Len())
	for _, n := range []string{"s", "dns", "i", "d", "b", "ts", "dur", "ip", "m"} {
		w, wok := want.GetByName(n)
		g, gok := got.GetByName(n)
		require.Equal(t, wok, gok, n)
		assert.True(t, w.Equal(g), "%s: got %v want %v", n, g, w)
		assert.Equal(t, w.Type(), g.Type(), n)
	}
}

// A packed record decodes to the bag its attribute form decodes to, with
// the same count of values that do not convert.
func TestPackedMatchesAttributes(t *testing.T) {
	var d Decoder
	for name, m := range bagMaps() {
		t.Run(name, func(t *testing.T) {
			want, got := attribute.NewBag(testVocab), attribute.NewBag(testVocab)
			wantBad := Decode(m, want)
			lr := packedRecord(t, m)
			require.True(t, IsPacked(lr))
			for range 2 { // the second time from the positional cache
				bad, err := d.DecodeRecord(lr, got)
				require.NoError(t, err)
				assert.Equal(t, wantBad, bad)
				assertSameBag(t, want, got)
			}
		})
	}
}

func TestDecodeRecordAttributeForm(t *testing.T) {
	var d Decoder
	lr := plog.NewLogRecord()
	m := InitRecord(lr, time.Time{}, time.Time{}, 1)
	PutInt64(m, "i", 3)
	lr.Body().SetEmptyBytes().FromRaw([]byte("not packed")) // a Bytes body of something else
	b := attribute.NewBag(testVocab)
	bad, err := d.DecodeRecord(lr, b)
	require.NoError(t, err)
	assert.Zero(t, bad)
	v, ok := b.GetByName("i")
	require.True(t, ok)
	assert.Equal(t, int64(3), v.Int64())
	assert.False(t, IsPacked(lr))
}

// Attributes set on a packed record (by transform, say) win.
func TestPackedOverlay(t *testing.T) {
	m := pcommon.NewMap()
	PutString(m, "s", "packed")
	PutInt64(m, "i", 1)
	lr := packedRecord(t, m)
	lr.Attributes().PutStr("s", "set later")
	lr.Attributes().PutBool("b", true)
	var d Decoder
	b := attribute.NewBag(testVocab)
	_, err := d.DecodeRecord(lr, b)
	require.NoError(t, err)
	v, _ := b.GetByName("s")
	assert.Equal(t, "set later", v.Str())
	v, _ = b.GetByName("i")
	assert.Equal(t, int64(1), v.Int64())
	v, _ = b.GetByName("b")
	assert.True(t, v.Bool())
}

func TestUnpack(t *testing.T) {
	for name, m := range bagMaps() {
		t.Run(name, func(t *testing.T) {
			lr := packedRecord(t, m)
			require.NoError(t, Unpack(lr))
			assert.False(t, IsPacked(lr))
			assert.Equal(t, m.AsRaw(), lr.Attributes().AsRaw())
			assert.Equal(t, EventName, lr.EventName())
			assert.Equal(t, pcommon.NewTimestampFromTime(time.Unix(5, 0)), lr.Timestamp())
			assert.Equal(t, pcommon.NewTimestampFromTime(time.Unix(6, 0)), lr.ObservedTimestamp())
		})
	}
	// Attributes already set win over the packed ones.
	m := pcommon.NewMap()
	PutString(m, "s", "packed")
	lr := packedRecord(t, m)
	lr.Attributes().PutStr("s", "set later")
	require.NoError(t, Unpack(lr))
	assert.Equal(t, map[string]any{"s": "set later"}, lr.Attributes().AsRaw())
	// A record in the attribute form is left alone.
	require.NoError(t, Unpack(lr))
	assert.Equal(t, 1, lr.Attributes().Len())
}

func TestPackedCorrupt(t *testing.T) {
	full := packMap(t, bagMaps()["canonical"])
	var d Decoder
	b := attribute.NewBag(testVocab)
	lr := plog.NewLogRecord()
	InitPacked(lr, time.Time{}, time.Time{}, full[:len(full)-3])
	_, err := d.DecodeRecord(lr, b)
	require.ErrorIs(t, err, kvpack.ErrCorrupt)
	assert.Positive(t, b.Len(), "what came before the damage is kept")
	require.ErrorIs(t, Unpack(lr), kvpack.ErrCorrupt)
}

func TestDecodeRecordAllocatesNothing(t *testing.T) {
	lr := packedRecord(t, bagMaps()["canonical"])
	b := attribute.NewBag(testVocab)
	var d Decoder
	_, _ = d.DecodeRecord(lr, b)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = d.DecodeRecord(lr, b) }))
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(packMap(f, bagMaps()["canonical"]))
	f.Add(packMap(f, bagMaps()["unconvertible"]))
	f.Fuzz(func(t *testing.T, body []byte) {
		lr := plog.NewLogRecord()
		InitPacked(lr, time.Time{}, time.Time{}, append([]byte{kvpack.Version}, body...))
		var d Decoder
		b := attribute.NewBag(testVocab)
		_, _ = d.DecodeRecord(lr, b)
		b.Range(func(_ int, v *attribute.Value) bool { _ = v.String(); return true })
		_ = Unpack(lr)
	})
}
