package mixerpb

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Bytes written by hand from the field numbers and types of
// mixer-semantics.md §a.2 must decode into the expected fields: this pins
// the wire format independently of our .proto files.

func tag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return protowire.AppendTag(b, num, typ)
}

func sint(b []byte, num protowire.Number, v int32) []byte {
	return protowire.AppendVarint(tag(b, num, protowire.VarintType), protowire.EncodeZigZag(int64(v)))
}

func msg(b []byte, num protowire.Number, body []byte) []byte {
	return protowire.AppendBytes(tag(b, num, protowire.BytesType), body)
}

func TestReportRequestWire(t *testing.T) {
	var sm []byte // StringMap{entries: {-2: 7}}
	sm = msg(sm, 1, sint(sint(nil, 1, -2), 2, 7))

	var ca []byte
	ca = protowire.AppendString(tag(ca, 1, protowire.BytesType), "w0")
	ca = msg(ca, 2, sint(sint(nil, 1, -1), 2, 94))                                                                  // strings
	ca = msg(ca, 3, protowire.AppendVarint(tag(sint(nil, 1, 5), 2, protowire.VarintType), 1<<40))                   // int64s
	ca = msg(ca, 4, protowire.AppendFixed64(tag(sint(nil, 1, 6), 2, protowire.Fixed64Type), math.Float64bits(2.5))) // doubles
	ca = msg(ca, 5, protowire.AppendVarint(tag(sint(nil, 1, 7), 2, protowire.VarintType), 1))                       // bools
	ts := protowire.AppendVarint(tag(nil, 1, protowire.VarintType), 1593597600)
	ts = protowire.AppendVarint(tag(ts, 2, protowire.VarintType), 5)
	ca = msg(ca, 6, msg(sint(nil, 1, 8), 2, ts)) // timestamps
	du := protowire.AppendVarint(tag(nil, 1, protowire.VarintType), 3)
	ca = msg(ca, 7, msg(sint(nil, 1, 9), 2, du))                                                              // durations
	ca = msg(ca, 8, protowire.AppendBytes(tag(sint(nil, 1, 0), 2, protowire.BytesType), []byte{10, 0, 0, 1})) // bytes
	ca = msg(ca, 9, msg(sint(nil, 1, 11), 2, sm))                                                             // string_maps

	var req []byte
	req = msg(req, 1, ca)
	req = protowire.AppendString(tag(req, 2, protowire.BytesType), "dw")
	req = protowire.AppendVarint(tag(req, 3, protowire.VarintType), 221)
	req = protowire.AppendVarint(tag(req, 4, protowire.VarintType), 1)

	var got ReportRequest
	require.NoError(t, proto.Unmarshal(req, &got))
	want := &ReportRequest{
		Attributes: []*CompressedAttributes{{
			Words:      []string{"w0"},
			Strings:    map[int32]int32{-1: 94},
			Int64S:     map[int32]int64{5: 1 << 40},
			Doubles:    map[int32]float64{6: 2.5},
			Bools:      map[int32]bool{7: true},
			Timestamps: map[int32]*timestamppb.Timestamp{8: {Seconds: 1593597600, Nanos: 5}},
			Durations:  map[int32]*durationpb.Duration{9: {Seconds: 3}},
			Bytes:      map[int32][]byte{0: {10, 0, 0, 1}},
			StringMaps: map[int32]*StringMap{11: {Entries: map[int32]int32{-2: 7}}},
		}},
		DefaultWords:                []string{"dw"},
		GlobalWordCount:             221,
		RepeatedAttributesSemantics: ReportRequest_INDEPENDENT_ENCODING,
	}
	assert.True(t, proto.Equal(want, &got), "got %v", &got)
}

func TestCheckWire(t *testing.T) {
	// CheckRequest: attributes=1, global_word_count=2, deduplication_id=3,
	// quotas=4 (map<string, QuotaParams{amount=1, best_effort=2}>).
	qp := protowire.AppendVarint(tag(nil, 1, protowire.VarintType), 3)
	qp = protowire.AppendVarint(tag(qp, 2, protowire.VarintType), 1)
	entry := msg(protowire.AppendString(tag(nil, 1, protowire.BytesType), "rq"), 2, qp)
	var req []byte
	req = msg(req, 1, nil)
	req = protowire.AppendVarint(tag(req, 2, protowire.VarintType), 222)
	req = protowire.AppendString(tag(req, 3, protowire.BytesType), "dedup")
	req = msg(req, 4, entry)
	var got CheckRequest
	require.NoError(t, proto.Unmarshal(req, &got))
	assert.True(t, proto.Equal(&CheckRequest{
		Attributes: &CompressedAttributes{}, GlobalWordCount: 222, DeduplicationId: "dedup",
		Quotas: map[string]*CheckRequest_QuotaParams{"rq": {Amount: 3, BestEffort: true}},
	}, &got), "got %v", &got)

	// CheckResponse: precondition=2 {status=1 {code=1, message=2},
	// valid_duration=2, valid_use_count=3, referenced_attributes=5},
	// quotas=3 {valid_duration=1, granted_amount=2, status=6}.
	resp := &CheckResponse{
		Precondition: &CheckResponse_PreconditionResult{
			Status:               &Status{Code: 7, Message: "m"},
			ValidDuration:        durationpb.New(60e9),
			ValidUseCount:        10000,
			ReferencedAttributes: &ReferencedAttributes{},
		},
		Quotas: map[string]*CheckResponse_QuotaResult{"rq": {GrantedAmount: 3, Status: &Status{}}},
	}
	raw, err := proto.Marshal(resp)
	require.NoError(t, err)
	fields := map[protowire.Number][]byte{}
	for b := raw; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		require.Equal(t, protowire.BytesType, typ)
		v, m := protowire.ConsumeBytes(b[n:])
		fields[num] = v
		b = b[n+m:]
	}
	require.Contains(t, fields, protowire.Number(2))
	require.Contains(t, fields, protowire.Number(3))
	pre := fields[2]
	var nums []protowire.Number
	for b := pre; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		nums = append(nums, num)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if num == 1 {
			st, _ := protowire.ConsumeBytes(b[n:])
			c, ctyp, cn := protowire.ConsumeTag(st)
			assert.Equal(t, protowire.Number(1), c)
			assert.Equal(t, protowire.VarintType, ctyp)
			v, _ := protowire.ConsumeVarint(st[cn:])
			assert.Equal(t, uint64(7), v)
		}
		b = b[n+m:]
	}
	assert.ElementsMatch(t, []protowire.Number{1, 2, 3, 5}, nums)
}
