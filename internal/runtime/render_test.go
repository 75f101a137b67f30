package runtime

import (
	"math"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
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
