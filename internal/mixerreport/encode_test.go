package mixerreport

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

func TestEncodeProxyLayout(t *testing.T) {
	bags := []Bag{
		{String("source.uid", "kubernetes://a.default"), Int64("response.code", 200), String("context.proxy_version", "1.3")},
		{String("source.uid", "kubernetes://b.default"), StringMap("request.headers", map[string]string{"x-request-id": "r", ":method": "GET"})},
	}
	req, err := NewDefaultEncoder().Encode(bags, ProxyLayout(221))
	require.NoError(t, err)
	assert.Equal(t, mixerpb.ReportRequest_INDEPENDENT_ENCODING, req.RepeatedAttributesSemantics)
	assert.Equal(t, uint32(221), req.GlobalWordCount)
	// context.proxy_version is global word 221, unknown to a 1.1 proxy.
	assert.Equal(t, []string{"kubernetes://a.default", "context.proxy_version", "1.3", "kubernetes://b.default", "r"}, req.DefaultWords)
	for _, ca := range req.Attributes {
		assert.Empty(t, ca.Words)
	}
	su, rc, hdr := g(t, "source.uid"), g(t, "response.code"), g(t, "request.headers")
	assert.Equal(t, map[int32]int32{su: -1, -2: -3}, req.Attributes[0].Strings)
	assert.Equal(t, map[int32]int64{rc: 200}, req.Attributes[0].Int64S)
	assert.Equal(t, map[int32]int32{su: -4}, req.Attributes[1].Strings)
	assert.Equal(t, map[int32]int32{g(t, ":method"): g(t, "GET"), g(t, "x-request-id"): -5},
		req.Attributes[1].StringMaps[hdr].Entries)
}

func TestEncodeMixcLayout(t *testing.T) {
	bags := []Bag{{String("request.id", "r0"), Int64("response.code", 200)}, {String("request.id", "r1")}}
	req, err := NewDefaultEncoder().Encode(bags, MixcLayout)
	require.NoError(t, err)
	assert.Equal(t, mixerpb.ReportRequest_DELTA_ENCODING, req.RepeatedAttributesSemantics)
	assert.Zero(t, req.GlobalWordCount)
	assert.Empty(t, req.DefaultWords)
	assert.Equal(t, []string{"request.id", "r0", "response.code"}, req.Attributes[0].Words)
	assert.Equal(t, map[int32]int32{-1: -2}, req.Attributes[0].Strings)
	assert.Equal(t, map[int32]int64{-3: 200}, req.Attributes[0].Int64S)
	assert.Equal(t, []string{"request.id", "r1"}, req.Attributes[1].Words)
}

func TestEncodeErrors(t *testing.T) {
	enc := NewDefaultEncoder()
	_, err := enc.Encode(nil, ProxyLayout(223))
	assert.EqualError(t, err, "global word count 223: the encoder knows 222 global words")
	_, err = enc.Encode([]Bag{{}, {{Name: "x"}}}, MixcLayout)
	assert.EqualError(t, err, `bag 1: attribute "x" has no valid kind (Kind(0))`)
	_, err = enc.Compress(Bag{}, -1)
	assert.Error(t, err)
}

func TestCompress(t *testing.T) {
	ca, err := NewDefaultEncoder().Compress(Bag{String("request.id", "r"), IP("source.ip", netip.MustParseAddr("10.1.2.3"))}, 222)
	require.NoError(t, err)
	assert.Equal(t, []string{"r"}, ca.Words)
	assert.Equal(t, map[int32][]byte{g(t, "source.ip"): {10, 1, 2, 3}}, ca.Bytes)
}

// Encoding is deterministic, so that a load generator sends the same bytes.
func TestEncodeDeterministic(t *testing.T) {
	bags := make([]Bag, 20)
	for i := range bags {
		bags[i] = bookinfoBag(i)
	}
	var first []byte
	for range 5 {
		req, err := NewDefaultEncoder().Encode(bags, ProxyLayout(221))
		require.NoError(t, err)
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
		require.NoError(t, err)
		if first == nil {
			first = b
			continue
		}
		assert.Equal(t, first, b)
	}
}

func TestDeltaElements(t *testing.T) {
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	bags := []Bag{
		{String("a", "1"), Int64("n", 1), StringMap("m", map[string]string{"k": "v"}), Timestamp("t", t0)},
		{String("a", "1"), Int64("n", 2), StringMap("m", map[string]string{"k": "v"}), Timestamp("t", t0.In(time.FixedZone("", 3600)))},
		{String("a", "1"), Int64("n", 2), StringMap("m", map[string]string{}), Timestamp("t", t0), Bool("new", true)},
	}
	got, err := DeltaElements(bags)
	require.NoError(t, err)
	assert.Equal(t, []Bag{bags[0], {Int64("n", 2)}, {StringMap("m", map[string]string{}), Bool("new", true)}}, got)

	// The decoder accumulates them back into the complete bags.
	req, err := NewDefaultEncoder().Encode(got, MixcLayout)
	require.NoError(t, err)
	out, res, err := decode(t, req)
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	for i, b := range bags {
		assert.Equal(t, b.RecordRaw(), out.At(i).Attributes().AsRaw())
	}

	_, err = DeltaElements([]Bag{{String("a", "1")}, {String("b", "1")}})
	assert.EqualError(t, err, `bag 1 lacks attribute "a" of bag 0: DELTA encoding cannot remove attributes`)
}

func TestBagUnmarshalJSON(t *testing.T) {
	var b Bag
	require.NoError(t, json.Unmarshal([]byte(`{
		"z": {"type": "STRING", "value": "s"},
		"i": {"type": "INT64", "value": 9223372036854775807},
		"d": {"type": "DOUBLE", "value": -2.5e-10},
		"b": {"type": "BOOL", "value": true},
		"t": {"type": "TIMESTAMP", "value": "2020-07-01T10:00:01.123456789+02:00"},
		"du": {"type": "DURATION", "value": "1m30.0000015s"},
		"raw": {"type": "BYTES", "value": [1, 2, 3]},
		"ip4": {"type": "IP_ADDRESS", "value": "10.1.2.3"},
		"ip6": {"type": "IP_ADDRESS", "value": "::1"},
		"m": {"type": "STRING_MAP", "value": {"a": "1"}},
		"u": {"type": "URI", "value": "http://x"}
	}`), &b))
	want := Bag{
		String("z", "s"), Int64("i", 9223372036854775807), Double("d", -2.5e-10), Bool("b", true),
		Timestamp("t", time.Date(2020, 7, 1, 8, 0, 1, 123456789, time.UTC)), Duration("du", 90*time.Second+1500),
		Bytes("raw", []byte{1, 2, 3}), Bytes("ip4", []byte{10, 1, 2, 3}),
		Bytes("ip6", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}),
		StringMap("m", map[string]string{"a": "1"}), String("u", "http://x"),
	}
	require.Len(t, b, len(want))
	for i := range want {
		assert.Equal(t, want[i].Name, b[i].Name)
		assert.Equal(t, Bag{want[i]}.RecordRaw(), Bag{b[i]}.RecordRaw())
	}
	for _, bad := range []string{`[]`, `{"a": {"type": "NOPE", "value": 1}}`, `{"a": {"type": "BYTES", "value": [256]}}`, `{"a": {"type": "INT64", "value": 1.5}}`} {
		assert.Error(t, json.Unmarshal([]byte(bad), &b), bad)
	}
}
