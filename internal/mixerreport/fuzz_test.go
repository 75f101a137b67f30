package mixerreport

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// FuzzDecodeReport feeds arbitrary wire bytes through the protobuf codec and
// the decoder (both encodings): no panic, and the records plus the failed
// elements account for every element.
func FuzzDecodeReport(f *testing.F) {
	enc := NewDefaultEncoder()
	seeds := []struct {
		bags   []Bag
		layout Layout
	}{
		{[]Bag{bookinfoBag(0), bookinfoBag(1)}, ProxyLayout(221)},
		{[]Bag{bookinfoBag(2), {String("request.id", "r1")}, {}}, MixcLayout},
		{[]Bag{{StringMap("source.labels", map[string]string{"app": "a"}), Int64("response.code", 404)}}, ProxyLayout(0)},
		{[]Bag{{String("w", "v"), Timestamp("t", time.Unix(3, 4))}, {Duration("d", 5), Bytes("b", []byte{1})}}, MixcLayout},
		{[]Bag{{Double("x", 1.5), Bool("y", true)}, {String("x", "s")}}, ProxyLayout(222)},
	}
	for _, s := range seeds {
		req, err := enc.Encode(s.bags, s.layout)
		require.NoError(f, err)
		raw, err := proto.Marshal(req)
		require.NoError(f, err)
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
	}
	// By hand: a repeated map key (the last wins), an unknown field, a
	// Timestamp value given in two parts (they merge).
	f.Add([]byte{0x0a, 0x18,
		0x12, 0x04, 0x08, 0x01, 0x10, 0x03, // strings {-1: -2}
		0x12, 0x04, 0x08, 0x01, 0x10, 0x05, // strings {-1: -3}, overwrites
		0x58, 0x07, // field 11, unknown
		0x32, 0x08, 0x08, 0x02, 0x12, 0x02, 0x08, 0x05, 0x12, 0x00, // timestamps {1: {seconds: 5}} {}
		0x12, 0x01, 'w', 0x12, 0x01, 'x', 0x12, 0x01, 'y'})
	d := NewDefaultDecoder()
	f.Fuzz(func(t *testing.T, raw []byte) {
		var req mixerpb.ReportRequest
		perr := proto.Unmarshal(raw, &req)
		if wellFormed(raw, msgReport) {
			if err := validateMessageSlow(raw); err != nil {
				t.Fatalf("the fast check passes what the full one refuses: %v", err)
			}
		}
		recs := plog.NewLogRecordSlice()
		wres, werr := d.DecodeWire(raw, recs, observed)
		if err := samePacked(raw, recs, wres, werr); err != nil {
			t.Fatal(err)
		}
		var we *WireError
		switch {
		case perr == nil && errors.As(werr, &we):
			t.Fatalf("protobuf-go reads it, DecodeWire does not: %v", werr)
		case perr != nil && !strings.Contains(perr.Error(), "UTF-8") && !errors.As(werr, &we):
			t.Fatalf("protobuf-go refuses it (%v), DecodeWire does not", perr)
		}
		if perr != nil {
			return
		}
		if injective(&req) {
			compareWithReference(t, &req, raw)
		}
		for _, sem := range []mixerpb.ReportRequest_RepeatedAttributesSemantics{
			mixerpb.ReportRequest_INDEPENDENT_ENCODING, mixerpb.ReportRequest_DELTA_ENCODING,
		} {
			req.RepeatedAttributesSemantics = sem
			out := plog.NewLogRecordSlice()
			res, err := d.Decode(&req, out, time.Unix(1, 0))
			if err != nil {
				if out.Len() != 0 {
					t.Fatalf("records from a refused request: %v", err)
				}
				continue
			}
			if res.Reports != out.Len() || out.Len()+len(res.Errors) != len(req.Attributes) {
				t.Fatalf("%d elements, %d records, %d errors", len(req.Attributes), out.Len(), len(res.Errors))
			}
			_ = ReportErrorMessage(res.Errors)
		}
	})
}

// FuzzDecodeIndices builds bags from small word indices, so that undefined,
// shadowed and duplicated names and values come up often: each 3 input
// bytes are one attribute (typed map, name index, value index), a zero
// byte starts the next element.
func FuzzDecodeIndices(f *testing.F) {
	f.Add(uint8(3), uint8(2), false, false, []byte{0, 1, 0xff, 2, 1, 0xfe, 0, 0, 1, 7, 0xfd, 0xfc})
	f.Add(uint8(0), uint8(0), true, false, []byte{1, 5, 6, 3, 5, 9, 0, 8, 0xff, 0xfe})
	f.Add(uint8(4), uint8(5), true, true, []byte{1, 0xff, 6, 0, 0xfe, 0xfd, 9, 0xff, 7, 7, 0xfc, 3, 0, 0xff, 0xfe})
	// The default word request.id shadows global index 16, the same word, so
	// the string keyed by 16 is never seen; also when one Decoder decodes
	// the request again, after undoing the shadowing of the first time.
	f.Add(uint8(0), uint8(1), true, false, []byte{0x30, 0x10, 0x30})
	// An element with words of its own, then one on the default words: the
	// lookup indices of the first must not be left for the second.
	f.Add(uint8(1), uint8(4), true, false, []byte{0, 0xfe, 0x30})
	// Colliding words (global words, a repeated word) or, with distinct,
	// words that name one attribute each, for which the map-based
	// reference must agree.
	colliding := []string{"request.id", "r1", "response.code", "a", "a", "source.labels", "x"}
	distinctWords := []string{"w0", "w1", "w2", "w3", "w4", "w5", "w6"}
	f.Fuzz(func(t *testing.T, nWords, nDefault uint8, delta, distinct bool, ops []byte) {
		words := colliding
		if distinct {
			words = distinctWords
		}
		req := &mixerpb.ReportRequest{DefaultWords: words[:int(nDefault)%(len(words)+1)]}
		if delta {
			req.RepeatedAttributesSemantics = mixerpb.ReportRequest_DELTA_ENCODING
		} else {
			req.RepeatedAttributesSemantics = mixerpb.ReportRequest_INDEPENDENT_ENCODING
		}
		ca := &mixerpb.CompressedAttributes{Words: words[:int(nWords)%(len(words)+1)]}
		req.Attributes = append(req.Attributes, ca)
		for i := 0; i+2 < len(ops); i += 3 {
			if ops[i] == 0 {
				ca = &mixerpb.CompressedAttributes{}
				req.Attributes = append(req.Attributes, ca)
			}
			k, v := int32(int8(ops[i+1])), int32(int8(ops[i+2]))
			switch ops[i] % 8 {
			case 0:
				if ca.Strings == nil {
					ca.Strings = map[int32]int32{}
				}
				ca.Strings[k] = v
			case 1:
				if ca.Int64S == nil {
					ca.Int64S = map[int32]int64{}
				}
				ca.Int64S[k] = int64(v)
			case 2:
				if ca.Doubles == nil {
					ca.Doubles = map[int32]float64{}
				}
				ca.Doubles[k] = float64(v)
			case 3:
				if ca.Bools == nil {
					ca.Bools = map[int32]bool{}
				}
				ca.Bools[k] = v > 0
			case 4:
				if ca.Timestamps == nil {
					ca.Timestamps = map[int32]*timestamppb.Timestamp{}
				}
				ca.Timestamps[k] = &timestamppb.Timestamp{Seconds: int64(v) << 40, Nanos: v << 24}
			case 5:
				if ca.Durations == nil {
					ca.Durations = map[int32]*durationpb.Duration{}
				}
				ca.Durations[k] = &durationpb.Duration{Seconds: int64(v) << 30, Nanos: v << 23}
			case 6:
				if ca.Bytes == nil {
					ca.Bytes = map[int32][]byte{}
				}
				ca.Bytes[k] = ops[i : i+3]
			case 7:
				if ca.StringMaps == nil {
					ca.StringMaps = map[int32]*mixerpb.StringMap{}
				}
				ca.StringMaps[k] = &mixerpb.StringMap{Entries: map[int32]int32{v: k}}
			}
		}
		raw, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if injective(req) {
			compareWithReference(t, req, raw)
		}
		out := plog.NewLogRecordSlice()
		res, err := NewDefaultDecoder().DecodeWire(raw, out, observed)
		if err != nil {
			t.Fatal(err)
		}
		sameAsLongLived(t, raw, res, err, out)
		if out.Len()+len(res.Errors) != len(req.Attributes) {
			t.Fatalf("%d elements, %d records, %d errors", len(req.Attributes), out.Len(), len(res.Errors))
		}
		for i := range out.Len() {
			seen := map[string]bool{}
			for k := range out.At(i).Attributes().All() {
				if seen[k] {
					t.Fatalf("record %d has %q twice", i, k)
				}
				seen[k] = true
			}
		}
	})
}

// FuzzFastChecks holds the structural check's shortcuts for an element and
// for a string_maps entry to the full check: what a shortcut passes, the
// full check must pass. Seeds are the elements and string map entries of a
// proxy batch; the fuzzer bends their tags, lengths and varints.
func FuzzFastChecks(f *testing.F) {
	req, err := NewDefaultEncoder().Encode([]Bag{bookinfoBag(0), bookinfoBag(1), bookinfoBag(2)}, ProxyLayout(221))
	require.NoError(f, err)
	raw, err := proto.Marshal(req)
	require.NoError(f, err)
	d := NewDefaultDecoder()
	d.readRequest(raw)
	for _, el := range d.elems {
		f.Add(append([]byte(nil), el...))
		d.splitElement(el)
		for _, e := range d.maps[wStringMaps] {
			f.Add(append([]byte(nil), e...))
		}
	}
	f.Add([]byte{0x12, 0x04, 0x08, 0x01, 0x10, 0x7f})
	f.Add([]byte{0x08, 0x81, 0x01, 0x12, 0x06, 0x0a, 0x04, 0x08, 0x02, 0x10, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		if attributesWellFormed(b) {
			if err := validateAttributes(b); err != nil {
				t.Fatalf("element: the shortcut passes what the full check refuses: %v", err)
			}
		}
		if stringMapEntryWellFormed(b) {
			if err := entryValidator[wStringMaps](b); err != nil {
				t.Fatalf("string_maps entry: the shortcut passes what the full check refuses: %v", err)
			}
		}
	})
}
