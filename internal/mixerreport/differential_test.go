package mixerreport

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// injective reports whether every word list of req names distinct words
// none of which is a global word: then no two indices name the same
// attribute, and the map-based reference is deterministic (it iterates Go
// maps in random order, which only matters when names collide).
func injective(req *mixerpb.ReportRequest) bool {
	check := func(words []string) bool {
		for i, w := range words {
			if slices.Contains(globals, w) || slices.Contains(words[:i], w) {
				return false
			}
		}
		return true
	}
	if !check(req.GetDefaultWords()) {
		return false
	}
	for _, ca := range req.GetAttributes() {
		if !check(ca.GetWords()) {
			return false
		}
	}
	return true
}

// compareWithReference decodes req with the map-based reference and its
// wire bytes with the Decoder and fails on any difference Mixer's own
// (random) map order cannot explain.
func compareWithReference(t *testing.T, req *mixerpb.ReportRequest, raw []byte) {
	t.Helper()
	at := observed
	outR, outW := plog.NewLogRecordSlice(), plog.NewLogRecordSlice()
	resR, errR := newRefDecoder(globals).decode(req, outR, at)
	resW, errW := NewDefaultDecoder().DecodeWire(raw, outW, at)
	if (errR == nil) != (errW == nil) || (errR != nil && errR.Error() != errW.Error()) {
		t.Fatalf("request errors differ: reference %v, wire %v", errR, errW)
	}
	sameAsLongLived(t, raw, resW, errW, outW)
	if errR != nil {
		return
	}
	delta := req.GetRepeatedAttributesSemantics() != mixerpb.ReportRequest_INDEPENDENT_ENCODING
	failed := func(res *Result, i int) error {
		for _, e := range res.Errors {
			if e.Index == i {
				return e.Err
			}
		}
		return nil
	}
	ri, wi := 0, 0
	for i := range req.GetAttributes() {
		er, ew := failed(resR, i), failed(resW, i)
		if le := (*limitError)(nil); errors.As(ew, &le) {
			return // the reference has no bounds
		}
		if (er == nil) != (ew == nil) {
			t.Fatalf("element %d: reference error %v, wire error %v", i, er, ew)
		}
		if er != nil {
			var ur, uw *undefinedIndexError
			if errors.As(er, &ur) != errors.As(ew, &uw) {
				t.Fatalf("element %d: reference error %v, wire error %v", i, er, ew)
			}
			if ur != nil {
				a, b := slices.Clone(ur.indices), slices.Clone(uw.indices)
				slices.Sort(a)
				slices.Sort(b)
				if !slices.Equal(a, b) {
					t.Fatalf("element %d: undefined indices %v, wire %v", i, a, b)
				}
			} else if delta && i > 0 {
				// Mixer stopped a delta element at a duplicate or a bad value
				// somewhere in Go map order: what it applied before differs.
				return
			}
			continue
		}
		r, w := outR.At(ri), outW.At(wi)
		ri, wi = ri+1, wi+1
		if !r.Attributes().Equal(w.Attributes()) {
			t.Fatalf("element %d:\nreference %v\nwire      %v", i, r.Attributes().AsRaw(), w.Attributes().AsRaw())
		}
		if r.Timestamp() != w.Timestamp() || r.ObservedTimestamp() != w.ObservedTimestamp() {
			t.Fatalf("element %d: times differ", i)
		}
	}
	if resR.Dropped != resW.Dropped {
		t.Fatalf("dropped: reference %d, wire %d", resR.Dropped, resW.Dropped)
	}
}

// The recorded bags and the Bookinfo batch, in every layout, decode the
// same both ways.
func TestWireMatchesReference(t *testing.T) {
	var sets [][]Bag
	for _, c := range loadOracle(t) {
		sets = append(sets, c.Reports)
	}
	batch := make([]Bag, 30)
	for i := range batch {
		batch[i] = bookinfoBag(i)
	}
	sets = append(sets, batch)
	enc := NewDefaultEncoder()
	for _, bags := range sets {
		for _, l := range []Layout{ProxyLayout(221), ProxyLayout(0), MixcLayout, {GlobalWordCount: 222, SharedWords: true}} {
			req, err := enc.Encode(bags, l)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := proto.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			compareWithReference(t, req, raw)
		}
	}
}

// longLived holds Decoders, one per record form, that have decoded every
// request compared so far.
var longLived = struct {
	sync.Mutex
	d, packed *Decoder
}{d: NewDefaultDecoder(), packed: newPackedDecoder()}

func newPackedDecoder() *Decoder {
	d := NewDefaultDecoder()
	d.SetPacked(true)
	return d
}

// sameAsLongLived decodes raw twice with the long-lived Decoder and fails
// unless both come to what a new Decoder came to (res, err, out): what a
// Decoder keeps from one request to the next, such as the shadowing of
// global words by the last request's words, must not change the outcome.
func sameAsLongLived(t *testing.T, raw []byte, res *Result, err error, out plog.LogRecordSlice) {
	t.Helper()
	longLived.Lock()
	defer longLived.Unlock()
	for pass := range 2 {
		got := plog.NewLogRecordSlice()
		gotRes, gotErr := longLived.d.DecodeWire(raw, got, observed)
		if fmt.Sprint(gotErr) != fmt.Sprint(err) {
			t.Fatalf("pass %d: long-lived decoder error %v, new decoder %v", pass, gotErr, err)
		}
		if err != nil {
			continue
		}
		if a, b := fmt.Sprintf("%+v", *gotRes), fmt.Sprintf("%+v", *res); a != b {
			t.Fatalf("pass %d: long-lived decoder result\n%s\nnew decoder\n%s", pass, a, b)
		}
		if got.Len() != out.Len() {
			t.Fatalf("pass %d: long-lived decoder wrote %d records, new decoder %d", pass, got.Len(), out.Len())
		}
		for i := range got.Len() {
			a, b := got.At(i), out.At(i)
			if !a.Attributes().Equal(b.Attributes()) || a.Timestamp() != b.Timestamp() {
				t.Fatalf("pass %d, record %d:\nlong-lived %v\nnew        %v", pass, i, a.Attributes().AsRaw(), b.Attributes().AsRaw())
			}
		}
	}
	// The packed form writes complete bags by another path.
	for pass := range 2 {
		if err := samePackedWith(longLived.packed, raw, out, res, err); err != nil {
			t.Fatalf("pass %d: long-lived packed decoder: %v", pass, err)
		}
	}
}
