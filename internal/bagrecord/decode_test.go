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
)

var testVocab = attribute.NewVocabulary(map[string]attribute.Type{
	"s": attribute.TypeString, "dns": attribute.TypeDNSName, "i": attribute.TypeInt64,
	"d": attribute.TypeDouble, "b": attribute.TypeBool, "ts": attribute.TypeTimestamp,
	"dur": attribute.TypeDuration, "ip": attribute.TypeIPAddress, "m": attribute.TypeStringMap,
})

func get(t *testing.T, b *attribute.Bag, name string) (attribute.Value, bool) {
	t.Helper()
	return b.GetByName(name)
}

func TestDecodeCanonicalRoundTrip(t *testing.T) {
	ts := time.Date(2020, 7, 1, 10, 0, 0, 123456789, time.UTC)
	m := pcommon.NewMap()
	PutString(m, "s", "x")
	PutString(m, "dns", "Foo.Example.com.")
	PutInt64(m, "i", 7)
	PutDouble(m, "d", 0.5)
	PutBool(m, "b", true)
	PutTimestamp(m, "ts", ts)
	PutDuration(m, "dur", 1500*time.Millisecond)
	PutIP(m, "ip", net.ParseIP("2001:db8::1"))
	sm := PutStringMap(m, "m", 2)
	sm.PutStr("app", "reviews")
	sm.PutStr("version", "v2")
	PutString(m, "not.in.vocabulary", "ignored")

	b := attribute.NewBag(testVocab)
	assert.Equal(t, 0, Decode(m, b))
	assert.Equal(t, 9, b.Len())
	want := map[string]attribute.Value{
		"s": attribute.StringValue("x"), "dns": attribute.DNSNameValue("Foo.Example.com."),
		"i": attribute.Int64Value(7), "d": attribute.DoubleValue(0.5), "b": attribute.BoolValue(true),
		"ts": attribute.TimestampValue(ts), "dur": attribute.DurationValue(1500 * time.Millisecond),
		"ip": attribute.IPValue(net.ParseIP("2001:db8::1")),
		"m":  attribute.StringMapValue(attribute.NewStringMap("app", "reviews", "version", "v2")),
	}
	for name, w := range want {
		got, ok := get(t, b, name)
		require.True(t, ok, name)
		assert.True(t, w.Equal(got), "%s: got %v want %v", name, got, w)
		assert.Equal(t, w.Type(), got.Type(), name)
	}
}

func TestDecodeLenient(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("i", "42")
	m.PutStr("d", "2.5")
	m.PutStr("b", "true")
	m.PutStr("ts", "2020-07-01T10:00:00.5Z")
	m.PutStr("dur", "13.601485ms")
	m.PutStr("ip", "10.1.2.3")
	m.PutStr("dns", "details")
	b := attribute.NewBag(testVocab)
	assert.Equal(t, 0, Decode(m, b))
	v, _ := get(t, b, "i")
	assert.Equal(t, int64(42), v.Int64())
	v, _ = get(t, b, "d")
	assert.Equal(t, 2.5, v.Double())
	v, _ = get(t, b, "b")
	assert.True(t, v.Bool())
	v, _ = get(t, b, "ts")
	assert.True(t, v.Time().Equal(time.Date(2020, 7, 1, 10, 0, 0, 5e8, time.UTC)))
	v, _ = get(t, b, "dur")
	assert.Equal(t, 13601485*time.Nanosecond, v.Duration())
	v, _ = get(t, b, "ip")
	assert.Equal(t, []byte{10, 1, 2, 3}, v.IP())

	// An Int where a DOUBLE is declared converts too.
	m = pcommon.NewMap()
	m.PutInt("d", 3)
	assert.Equal(t, 0, Decode(m, b))
	v, _ = get(t, b, "d")
	assert.Equal(t, attribute.TypeDouble, v.Type())
	assert.Equal(t, 3.0, v.Double())
}

func TestDecodeUnconvertibleAndMistyped(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("i", "forty-two")
	m.PutStr("ts", "yesterday")
	m.PutStr("ip", "10.1.12")
	m.PutInt("s", 20) // wrong wire type: kept as INT64, expressions fail on it
	m.PutEmptySlice("b")
	b := attribute.NewBag(testVocab)
	assert.Equal(t, 4, Decode(m, b))
	for _, n := range []string{"i", "ts", "ip", "b"} {
		_, ok := get(t, b, n)
		assert.False(t, ok, n)
	}
	v, ok := get(t, b, "s")
	require.True(t, ok)
	assert.Equal(t, attribute.TypeInt64, v.Type())
}

func TestTimestampOutsideNanosRange(t *testing.T) {
	b := attribute.NewBag(testVocab)
	for _, ts := range []time.Time{{}, time.Date(3000, 1, 2, 3, 4, 5, 6, time.UTC), time.Unix(0, -1000).UTC()} {
		m := pcommon.NewMap()
		PutTimestamp(m, "ts", ts)
		require.Equal(t, 0, Decode(m, b))
		v, ok := get(t, b, "ts")
		require.True(t, ok)
		assert.True(t, v.Time().Equal(ts), "got %v want %v", v.Time(), ts)
	}
}

func TestDecodeResetsAndOddIPLengths(t *testing.T) {
	b := attribute.NewBag(testVocab)
	m := pcommon.NewMap()
	PutString(m, "s", "x")
	Decode(m, b)
	m = pcommon.NewMap()
	PutIP(m, "ip", []byte{1, 2, 3})
	Decode(m, b)
	_, ok := get(t, b, "s")
	assert.False(t, ok, "Decode starts from an empty bag")
	v, _ := get(t, b, "ip")
	assert.Equal(t, []byte{1, 2, 3}, v.IP(), "Mixer kept IPs of any length")
}

func TestDecodeAllocatesNothing(t *testing.T) {
	lr := plog.NewLogRecord()
	m := InitRecord(lr, time.Time{}, time.Time{}, 8)
	PutString(m, "s", "x")
	PutInt64(m, "i", 7)
	PutIP(m, "ip", []byte{10, 0, 0, 1})
	sm := PutStringMap(m, "m", 1)
	sm.PutStr("k", "v")
	PutTimestamp(m, "ts", time.Unix(100, 0))
	b := attribute.NewBag(testVocab)
	Decode(m, b)
	assert.Zero(t, testing.AllocsPerRun(100, func() { Decode(m, b) }))
	var d Decoder
	d.Decode(m, b)
	assert.Zero(t, testing.AllocsPerRun(100, func() { d.Decode(m, b) }))
}

// A Decoder gives the same bags as Decode, also when the shape changes.
func TestDecoderMatchesDecode(t *testing.T) {
	var d Decoder
	shapes := [][]string{{"s", "i", "x"}, {"s", "i", "x"}, {"i", "s"}, {"s", "i", "d", "b"}, {}}
	for _, names := range shapes {
		m := pcommon.NewMap()
		for _, n := range names {
			m.PutStr(n, "7")
		}
		want, got := attribute.NewBag(testVocab), attribute.NewBag(testVocab)
		assert.Equal(t, Decode(m, want), d.Decode(m, got))
		for _, n := range []string{"s", "i", "d", "b"} {
			w, wok := want.GetByName(n)
			g, gok := got.GetByName(n)
			assert.Equal(t, wok, gok, n)
			assert.True(t, w.Equal(g), n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("s", "x", int64(1), 1.5, []byte{1, 2, 3, 4})
	f.Add("ts", "2020-07-01T10:00:00Z", int64(-1), 0.25, []byte{})
	f.Fuzz(func(t *testing.T, name, s string, i int64, d float64, raw []byte) {
		m := pcommon.NewMap()
		m.PutStr(name, s)
		m.PutInt("i", i)
		m.PutDouble("d", d)
		m.PutEmptyBytes("ip").FromRaw(raw)
		m.PutEmptyMap("m").PutStr(s, name)
		m.PutInt("ts", i)
		b := attribute.NewBag(testVocab)
		Decode(m, b)
		b.Range(func(_ int, v *attribute.Value) bool { _ = v.String(); return true })
	})
}

func TestDecoderWant(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("s", "x")
	m.PutInt("i", 7)
	sID, _, _ := testVocab.Lookup("s")
	want := make([]bool, testVocab.Len())
	want[sID] = true
	d := Decoder{Want: want}
	b := attribute.NewBag(testVocab)
	for range 2 { // the second time from the cache
		d.Decode(m, b)
		_, ok := b.GetByName("s")
		assert.True(t, ok)
		_, ok = b.GetByName("i")
		assert.False(t, ok, "attributes nobody wants are not decoded")
	}
}
