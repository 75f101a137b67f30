package runtime

import (
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// Cases from mixer-semantics.md §e and the oracle case
// value-rendering-labels-and-variables (observed on mixs 1.7.8).
func TestAppendLabel(t *testing.T) {
	tests := []struct {
		v    attribute.Value
		want string
	}{
		{attribute.StringValue("a\"b"), "a\"b"},
		{attribute.Int64Value(math.MaxInt64), "9223372036854775807"},
		{attribute.DoubleValue(1e21), "1000000000000000000000"},
		{attribute.DoubleValue(1e-7), "0.0000001"},
		{attribute.DoubleValue(-2.5e-10), "-0.00000000025"},
		{attribute.DoubleValue(100), "100"},
		{attribute.DoubleValue(0.5), "0.5"},
		{attribute.BoolValue(true), "true"},
		{attribute.DurationValue(13601485 * time.Nanosecond), "13.601485ms"},
		{attribute.DurationValue(0), "0s"},
		{attribute.DurationValue(-1500 * time.Millisecond), "-1.5s"},
		{attribute.DurationValue(90*time.Second + 1500*time.Nanosecond), "1m30.0000015s"},
		{attribute.DurationValue(math.MaxInt64), "2562047h47m16.854775807s"},
		{attribute.TimestampValue(time.Unix(0, -1000)), "1969-12-31T23:59:59.999999Z"},
		{attribute.TimestampValue(time.Time{}), "0001-01-01T00:00:00.000000Z"},
		{attribute.TimestampValue(time.Date(2020, 7, 1, 10, 0, 0, 123456789, time.UTC)), "2020-07-01T10:00:00.123456Z"},
		{attribute.IPValue([]byte{10, 1, 2, 3}), "10.1.2.3"},
		{attribute.IPValue(net.ParseIP("10.4.5.6")), "10.4.5.6"},
		{attribute.IPValue(net.ParseIP("2001:db8::1")), "2001:db8::1"},
		{attribute.IPValue([]byte{1, 2, 3}), "?010203"},
		{attribute.DNSNameValue("Foo.Example.com."), "Foo.Example.com."},
		{attribute.StringMapValue(attribute.NewStringMap("z", "x y&z=w", "a", "1", "b", "2")), "stringmap[a:1 b:2 z:x y&z=w]"},
		{attribute.StringMapValue(attribute.NewStringMap()), "stringmap[]"},
		{attribute.StringMapValue(attribute.NewStringMap("k", "")), "stringmap[k:]"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, string(appendLabel(nil, tt.v)), "%v", tt.v)
	}
}

func TestPutVariable(t *testing.T) {
	m := pcommon.NewMap()
	putVariable(m, "s", attribute.StringValue("x"))
	putVariable(m, "i", attribute.Int64Value(200))
	putVariable(m, "d", attribute.DoubleValue(0.5))
	putVariable(m, "b", attribute.BoolValue(false))
	putVariable(m, "dur", attribute.DurationValue(0))
	putVariable(m, "ts", attribute.TimestampValue(time.Time{}))
	putVariable(m, "ip", attribute.IPValue(net.ParseIP("10.4.5.6")))
	putVariable(m, "map", attribute.StringMapValue(attribute.NewStringMap("app", "a", "version", "v1")))
	putDimension(m, "ipdim", attribute.IPValue([]byte{10, 1, 2, 3}))
	assert.Equal(t, map[string]any{
		"s": "x", "i": int64(200), "d": 0.5, "b": false, "dur": "0s",
		// Mixer's zap wraps the nanoseconds of times outside the int64 range.
		"ts":    "1754-08-30T22:43:41.128654Z",
		"ip":    "10.4.5.6",
		"map":   "stringmap[app:a version:v1]",
		"ipdim": "CgECAw==",
	}, m.AsRaw())
}

func TestNumericValue(t *testing.T) {
	ok := []struct {
		v    attribute.Value
		want float64
	}{
		{attribute.Int64Value(1), 1},
		{attribute.DoubleValue(0.1), 0.1},
		{attribute.DurationValue(90001 * time.Millisecond), 90.001},
		{attribute.StringValue("1e3"), 1000},
		{attribute.StringValue("+Inf"), math.Inf(1)},
		{attribute.StringValue("0x1p-2"), 0.25},
	}
	for _, tt := range ok {
		got, err := numericValue(tt.v)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got)
	}
	bad := []struct {
		v    attribute.Value
		want string
	}{
		{attribute.StringValue("abc"), `strconv.ParseFloat: parsing "abc": invalid syntax`},
		{attribute.StringValue(" 2"), `strconv.ParseFloat: parsing " 2": invalid syntax`},
		{attribute.BoolValue(true), "could not extract numeric value for true"},
		{attribute.IPValue([]byte{10, 1, 2, 3}), "could not extract numeric value for [10 1 2 3]"},
		{attribute.StringMapValue(attribute.NewStringMap("a", "b")), "could not extract numeric value for stringmap[a:b]"},
	}
	for _, tt := range bad {
		_, err := numericValue(tt.v)
		assert.EqualError(t, err, tt.want)
	}
}

// appendIP must print exactly what net.IP.String prints, which Mixer used.
func TestAppendIP(t *testing.T) {
	ips := [][]byte{
		nil, {}, {1}, {1, 2, 3}, {1, 2, 3, 4, 5}, make([]byte, 15), make([]byte, 17), make([]byte, 32),
		{10, 1, 2, 3}, {0, 0, 0, 0}, {255, 255, 255, 255},
		net.ParseIP("10.4.5.6"), // 16 bytes, IPv4-mapped
		net.ParseIP("::ffff:0.0.0.0"), net.ParseIP("::"), net.ParseIP("::1"), net.ParseIP("::10.1.2.3"),
		net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8:0:0:1:0:0:1"), net.ParseIP("fe80::1:0:0:0"),
		net.ParseIP("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), net.ParseIP("0:0:0:0:0:fffe:a01:203"),
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3},
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 10, 1, 2, 3},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		n := []int{4, 16, 16, rng.IntN(20)}[rng.IntN(4)]
		ip := make([]byte, n)
		for i := range ip {
			// Mostly zeros and 0xff, so that runs of zero groups and the
			// IPv4-mapped prefix come up often.
			switch rng.IntN(4) {
			case 0:
				ip[i] = byte(rng.IntN(256))
			case 1:
				ip[i] = 0xff
			}
		}
		if n == 16 && rng.IntN(4) == 0 {
			copy(ip, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
		}
		ips = append(ips, ip)
	}
	for _, ip := range ips {
		if got, want := string(appendIP([]byte("x"), ip)), "x"+net.IP(ip).String(); got != want {
			t.Fatalf("%v: got %q, want %q", ip, got, want)
		}
	}
}

// packedValues are values of every type and their rendering edge cases.
func packedValues() []attribute.Value {
	return []attribute.Value{
		{},
		attribute.StringValue(""), attribute.StringValue("x\"y"), attribute.DNSNameValue("a.b."),
		attribute.EmailValue("a@b"), attribute.URIValue("http://x/"),
		attribute.Int64Value(math.MinInt64), attribute.Int64Value(200),
		attribute.DoubleValue(math.Inf(-1)), attribute.DoubleValue(-0.25),
		attribute.BoolValue(true), attribute.BoolValue(false),
		attribute.TimestampValue(time.Time{}), attribute.TimestampValue(time.Unix(0, -1)),
		attribute.TimestampValue(time.Date(2020, 7, 1, 10, 0, 0, 123456789, time.FixedZone("x", 3600))),
		attribute.DurationValue(0), attribute.DurationValue(math.MinInt64), attribute.DurationValue(math.MaxInt64),
		attribute.DurationValue(1500 * time.Nanosecond), attribute.DurationValue(-90 * time.Minute),
		attribute.IPValue([]byte{10, 1, 2, 3}), attribute.IPValue(net.ParseIP("10.4.5.6")),
		attribute.IPValue(net.ParseIP("2001:db8::1")), attribute.IPValue([]byte{1, 2, 3}), attribute.IPValue(nil),
		attribute.StringMapValue(attribute.NewStringMap("z", "x y&z=w", "a", "1")),
		attribute.StringMapValue(attribute.NewStringMap()), attribute.StringMapValue(nil),
	}
}

// The packer gives each value the kind and text putVariable and
// putDimension give it, and allocates nothing doing so.
func TestPackerMatchesAttributes(t *testing.T) {
	var pk packer
	for _, dimension := range []bool{false, true} {
		m := pcommon.NewMap()
		buf := kvpack.Begin(nil)
		for i, v := range packedValues() {
			key := strconv.Itoa(i)
			if dimension {
				putDimension(m, key, v)
				buf = pk.dimension(buf, key, v)
			} else {
				putVariable(m, key, v)
				buf = pk.variable(buf, key, v)
			}
		}
		lr := plog.NewLogRecord()
		lr.SetTimestamp(1)
		instancerecord.SetPacked(lr, buf)
		got, err := instancerecordtest.Fields(lr)
		require.NoError(t, err)
		assert.Equal(t, m.AsRaw(), got, "dimension=%v", dimension)
	}

	buf := make([]byte, 0, 4096)
	values := packedValues()
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		buf = buf[:0]
		for _, v := range values {
			buf = pk.variable(buf, "k", v)
			buf = pk.dimension(buf, "k", v)
		}
	}))
}
