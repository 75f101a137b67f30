package mixerreport

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// Wire-level cases the structs cannot express: what DecodeWire makes of
// repeated keys, split messages, unknown fields, odd wire types and bytes
// protobuf-go would refuse.

func field(b []byte, num protowire.Number, body []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), body)
}

func varintField(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

// entry of a map<sint32, ...> with a varint value.
func sintEntry(k int32, v uint64) []byte {
	return varintField(varintField(nil, 1, protowire.EncodeZigZag(int64(k))), 2, v)
}

func zz(v int32) uint64 { return protowire.EncodeZigZag(int64(v)) }

func decodeWire(t *testing.T, raw []byte) (plog.LogRecordSlice, *Result, error) {
	t.Helper()
	out := plog.NewLogRecordSlice()
	res, err := NewDefaultDecoder().DecodeWire(raw, out, observed)
	require.NoError(t, samePacked(raw, out, res, err))
	return out, res, err
}

func TestDecodeWireSemantics(t *testing.T) {
	reqID, rt, labels := g(t, "request.id"), g(t, "request.time"), g(t, "source.labels")
	words := func(b []byte, ws ...string) []byte {
		for _, w := range ws {
			b = field(b, 1, []byte(w))
		}
		return b
	}
	tests := []struct {
		name string
		elem []byte
		want map[string]any
	}{
		{
			name: "last entry of a repeated key wins",
			elem: field(field(words(nil, "a", "b"), 2, sintEntry(reqID, zz(-1))), 2, sintEntry(reqID, zz(-2))),
			want: map[string]any{"request.id": "b"},
		},
		{
			name: "timestamp value given in two parts is merged",
			elem: field(nil, 6, field(field(varintField(nil, 1, zz(rt)), 2, varintField(nil, 1, 1593597600)), 2, varintField(nil, 2, 7))),
			want: map[string]any{"request.time": time.Unix(1593597600, 7).UnixNano()},
		},
		{
			name: "string map value given in two parts is merged",
			elem: field(words(nil, "app", "a", "version", "v1"), 9,
				field(field(varintField(nil, 1, zz(labels)), 2, field(nil, 1, sintEntry(-1, zz(-2)))), 2, field(nil, 1, sintEntry(-3, zz(-4))))),
			want: map[string]any{"source.labels": map[string]any{"app": "a", "version": "v1"}},
		},
		{
			name: "repeated string map key: last wins",
			elem: field(words(nil, "app", "a", "b"), 9,
				field(varintField(nil, 1, zz(labels)), 2, field(field(nil, 1, sintEntry(-1, zz(-2))), 1, sintEntry(-1, zz(-3))))),
			want: map[string]any{"source.labels": map[string]any{"app": "b"}},
		},
		{
			name: "unknown fields and wrong wire types are skipped",
			elem: field(varintField(varintField(words(nil, "r"), 15, 9), 2, 3), 2,
				protowire.AppendFixed32(protowire.AppendTag(sintEntry(reqID, zz(-1)), 2, protowire.Fixed32Type), 1)),
			want: map[string]any{"request.id": "r"},
		},
		{
			name: "entry without value",
			elem: field(nil, 3, varintField(nil, 1, zz(g(t, "response.code")))),
			want: map[string]any{"response.code": int64(0)},
		},
		{
			name: "words that are not UTF-8, as Mixer took them",
			elem: field(words(nil, "\xff\xfe"), 2, sintEntry(reqID, zz(-1))),
			want: map[string]any{"request.id": "\xff\xfe"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sem := range []uint64{0, 1, 7} { // 7: unknown, read as DELTA like Mixer
				raw := varintField(field(nil, 1, tt.elem), 4, sem)
				out, res, err := decodeWire(t, raw)
				require.NoError(t, err)
				require.Empty(t, res.Errors)
				require.Equal(t, 1, out.Len())
				assert.Equal(t, tt.want, out.At(0).Attributes().AsRaw())
			}
		})
	}
}

// Anything but INDEPENDENT_ENCODING accumulates, as in Mixer.
func TestUnknownSemanticsIsDelta(t *testing.T) {
	req, err := NewDefaultEncoder().Encode([]Bag{{String("a", "1")}, {String("b", "2")}}, MixcLayout)
	require.NoError(t, err)
	req.RepeatedAttributesSemantics = 5
	raw, err := proto.Marshal(req)
	require.NoError(t, err)
	out, _, err := decodeWire(t, raw)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"a": "1", "b": "2"}, out.At(1).Attributes().AsRaw())
}

func TestDecodeWireRefuses(t *testing.T) {
	good, err := proto.Marshal(&mixerpb.ReportRequest{Attributes: []*mixerpb.CompressedAttributes{{Words: []string{"x"}}}})
	require.NoError(t, err)
	for name, raw := range map[string][]byte{
		"truncated":                  good[:len(good)-1],
		"truncated varint":           {0x18, 0xff},
		"length past the end":        {0x0a, 0x7f, 0x01},
		"field number 0":             {0x00, 0x01},
		"end group without start":    {0x0c},
		"bad entry inside element":   field(nil, 1, field(nil, 2, []byte{0x08})),
		"bad timestamp inside entry": field(nil, 1, field(nil, 6, field(varintField(nil, 1, 2), 2, []byte{0x08, 0xff}))),
		"bad string map pair":        field(nil, 1, field(nil, 9, field(nil, 2, field(nil, 1, []byte{0x10})))),
	} {
		t.Run(name, func(t *testing.T) {
			var req mixerpb.ReportRequest
			require.Error(t, proto.Unmarshal(raw, &req), "protobuf-go refuses it too")
			_, _, err := decodeWire(t, raw)
			var we *WireError
			require.ErrorAs(t, err, &we)
		})
	}
}

// FuzzReadEntry checks that readEntry's shortcut for small varint entries
// reads every entry as the general loop does.
func FuzzReadEntry(f *testing.F) {
	f.Add([]byte{0x08, 0x03, 0x10, 0x05}, uint8(0))
	f.Add([]byte{0x08, 0xbc, 0x03, 0x10, 0x81, 0x01}, uint8(0))
	f.Add([]byte{0x08, 0x80, 0x00, 0x10, 0x00}, uint8(0))
	f.Add([]byte{0x08, 0x03, 0x10, 0x05, 0x10, 0x06}, uint8(0))
	f.Add([]byte{0x10, 0x05, 0x08, 0x03}, uint8(0))
	f.Add([]byte{0x08, 0x03, 0x11, 1, 2, 3, 4, 5, 6, 7, 8}, uint8(1))
	f.Add([]byte{0x08, 0x03, 0x12, 0x01, 0x7f}, uint8(2))
	f.Add([]byte{0x08, 0x03, 0x10, 0xff, 0xff, 0x03}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, want uint8) {
		// The value types of Mixer's typed maps.
		typ := []protowire.Type{protowire.VarintType, protowire.Fixed64Type, protowire.BytesType}[want%3]
		noNested := func(protowire.Number, protowire.Type) func([]byte) error { return nil }
		if validateMessage(b, noNested) != nil {
			return // readEntry reads entries of a validated request only
		}
		k1, n1, r1 := readEntry(b, typ)
		k2, n2, r2 := readEntrySlow(b, typ)
		if k1 != k2 || n1 != n2 || !bytes.Equal(r1, r2) {
			t.Fatalf("readEntry(% x) = %d, %d, % x; the general loop: %d, %d, % x", b, k1, n1, r1, k2, n2, r2)
		}
	})
}
