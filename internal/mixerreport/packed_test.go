package mixerreport

import (
	"fmt"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// samePacked decodes raw again into packed records and reports how they
// differ from want, the records, result and error of the attribute form:
// both forms must carry the same bags. The tests' decode helpers call it,
// so every decoding test covers the packed form too.
func samePacked(raw []byte, want plog.LogRecordSlice, wantRes *Result, wantErr error) error {
	d := NewDefaultDecoder()
	d.SetPacked(true)
	return samePackedWith(d, raw, want, wantRes, wantErr)
}

// samePackedWith is samePacked with a given packed Decoder.
func samePackedWith(d *Decoder, raw []byte, want plog.LogRecordSlice, wantRes *Result, wantErr error) error {
	got := plog.NewLogRecordSlice()
	res, err := d.DecodeWire(raw, got, observed)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		return fmt.Errorf("packed: error %v, attribute form %v", err, wantErr)
	}
	if res.Reports != wantRes.Reports || res.Dropped != wantRes.Dropped ||
		fmt.Sprint(res.Errors) != fmt.Sprint(wantRes.Errors) || fmt.Sprint(res.Warnings) != fmt.Sprint(wantRes.Warnings) {
		return fmt.Errorf("packed: result %+v, attribute form %+v", *res, *wantRes)
	}
	if got.Len() != want.Len() {
		return fmt.Errorf("packed: %d records, attribute form %d", got.Len(), want.Len())
	}
	for i := range got.Len() {
		g, w := got.At(i), want.At(i)
		if !bagrecord.IsPacked(g) {
			return fmt.Errorf("record %d is not packed", i)
		}
		if err := bagrecord.Unpack(g); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if g.EventName() != w.EventName() || g.Timestamp() != w.Timestamp() || g.ObservedTimestamp() != w.ObservedTimestamp() {
			return fmt.Errorf("record %d: packed %s %v %v, attribute form %s %v %v", i,
				g.EventName(), g.Timestamp(), g.ObservedTimestamp(), w.EventName(), w.Timestamp(), w.ObservedTimestamp())
		}
		if ga, wa := fmt.Sprint(g.Attributes().AsRaw()), fmt.Sprint(w.Attributes().AsRaw()); ga != wa {
			return fmt.Errorf("record %d: packed %s, attribute form %s", i, ga, wa)
		}
		if fmt.Sprint(orderOf(g)) != fmt.Sprint(orderOf(w)) {
			return fmt.Errorf("record %d: attribute order %v, attribute form %v", i, orderOf(g), orderOf(w))
		}
	}
	return nil
}

func orderOf(lr plog.LogRecord) []string {
	var keys []string
	for k := range lr.Attributes().All() {
		keys = append(keys, k)
	}
	return keys
}

// A request's packed records share one buffer; records of an earlier
// request survive the decoder's next one.
func TestPackedRecordsOutliveTheRequest(t *testing.T) {
	enc := NewDefaultEncoder()
	d := NewDefaultDecoder()
	d.SetPacked(true)
	var batches []plog.LogRecordSlice
	var want [][]Bag
	for r := range 3 {
		bags := make([]Bag, 20+r*40) // the second and third outgrow the first's size
		for i := range bags {
			bags[i] = bookinfoBag(r*1000 + i)
		}
		req, err := enc.Encode(bags, ProxyLayout(221))
		if err != nil {
			t.Fatal(err)
		}
		out := plog.NewLogRecordSlice()
		if _, err := d.Decode(req, out, observed); err != nil {
			t.Fatal(err)
		}
		batches, want = append(batches, out), append(want, bags)
	}
	for r, out := range batches {
		for i := range out.Len() {
			lr := out.At(i)
			if err := bagrecord.Unpack(lr); err != nil {
				t.Fatal(err)
			}
			if g, w := fmt.Sprint(lr.Attributes().AsRaw()), fmt.Sprint(want[r][i].RecordRaw()); g != w {
				t.Fatalf("request %d record %d:\n got %s\nwant %s", r, i, g, w)
			}
		}
	}
}

// Names given by global index are written as dictionary keys, names from
// message words as text; a decoder over other global words writes text.
func TestPackedNamesByWord(t *testing.T) {
	req, err := NewDefaultEncoder().Encode([]Bag{bookinfoBag(1)}, ProxyLayout(221))
	if err != nil {
		t.Fatal(err)
	}
	keyForms := func(d *Decoder) (refs, texts int) {
		d.SetPacked(true)
		out := plog.NewLogRecordSlice()
		if _, err := d.Decode(req, out, observed); err != nil || out.Len() != 1 {
			t.Fatalf("%v, %d records", err, out.Len())
		}
		r := kvpack.NewDictReader(kvpack.BytesOf(out.At(0).Body()), bagrecord.Dictionary())
		var p kvpack.Pair
		for r.Next(&p) {
			if p.Ref >= 0 {
				refs++
			} else if slices.Contains(bagrecord.Dictionary()[:221], p.Key) {
				texts++ // a global word the request named by index
			}
		}
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		return refs, texts
	}
	refs, texts := keyForms(NewDefaultDecoder())
	if refs < 30 || texts != 0 {
		t.Errorf("default decoder: %d dictionary keys, %d global words as text; want them all by index", refs, texts)
	}
	other := NewDefaultDecoder().global
	other = append([]string{}, other...)
	other[0], other[1] = other[1], other[0]
	if refs, _ := keyForms(NewDecoder(other)); refs != 0 {
		t.Errorf("decoder over other words: %d dictionary keys, want 0", refs)
	}
}
