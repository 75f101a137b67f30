package bagrecord

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// Both forms of a Writer write the same bags, and packed records of one
// batch survive the next batch.
func TestWriterForms(t *testing.T) {
	write := func(w *Writer, lrs plog.LogRecordSlice, i int) {
		w.Begin(lrs.AppendEmpty(), time.Unix(int64(i), 0), time.Unix(9, 0), 8)
		w.String("s", "x")
		w.Int64("i", int64(i))
		w.Bool("b", i%2 == 0)
		w.Timestamp("ts", time.Date(2020, 7, 1, 10, 0, 0, i, time.UTC))
		w.Timestamp("year1", time.Time{})
		w.Duration("dur", time.Duration(i)*time.Millisecond)
		w.IP("ip", net.ParseIP("10.0.0.1").To4())
		w.BeginStringMap("m", 2)
		w.StringMapEntry("app", "reviews")
		w.StringMapEntry("n", string(rune('a'+i%26)))
		w.EndStringMap()
		w.BeginStringMap("empty", 0)
		w.EndStringMap()
		w.End()
	}
	plain, packed := NewWriter(false), NewWriter(true)
	assert.False(t, plain.Packed())
	assert.True(t, packed.Packed())
	want, got := plog.NewLogRecordSlice(), plog.NewLogRecordSlice()
	for batch := range 3 {
		plain.Reset(10)
		packed.Reset(10)
		for i := range 10 + batch*50 { // later batches outgrow the first
			write(plain, want, i)
			write(packed, got, i)
		}
	}
	require.Equal(t, want.Len(), got.Len())
	for i := range got.Len() {
		lr := got.At(i)
		require.True(t, IsPacked(lr))
		require.NoError(t, Unpack(lr))
		assert.Equal(t, want.At(i).Attributes().AsRaw(), lr.Attributes().AsRaw(), "record %d", i)
		assert.Equal(t, want.At(i).Timestamp(), lr.Timestamp())
		assert.Equal(t, EventName, lr.EventName())
	}
}

// A bag opened and discarded leaves neither a record nor bytes; the bags
// around it are whole.
func TestWriterDiscard(t *testing.T) {
	w := NewWriter(true)
	w.Reset(3)
	lrs := plog.NewLogRecordSlice()
	bag := func(v string) {
		w.Open()
		w.String("s", v)
		w.BeginStringMap("m", 1)
		w.StringMapEntry("k", v)
		w.EndStringMap()
	}
	bag("one")
	w.Close(lrs.AppendEmpty(), time.Unix(1, 0), time.Unix(9, 0))
	end := w.Mark()
	bag("dropped")
	w.Discard()
	assert.Equal(t, end, w.Mark(), "no bytes of the discarded bag kept")
	bag("two")
	w.Close(lrs.AppendEmpty(), time.Unix(2, 0), time.Unix(9, 0))
	require.Equal(t, 2, lrs.Len())
	for i, v := range []string{"one", "two"} {
		lr := lrs.At(i)
		require.NoError(t, Unpack(lr))
		assert.Equal(t, map[string]any{"s": v, "m": map[string]any{"k": v}}, lr.Attributes().AsRaw())
		assert.Equal(t, time.Unix(int64(i+1), 0).UTC(), lr.Timestamp().AsTime())
	}
}

// Names written as dictionary keys decode (and unpack) to the bag their
// text decodes to, alone or mixed with text keys.
func TestWriterRefs(t *testing.T) {
	ref := func(name string) int {
		i := slices.Index(Dictionary(), name)
		require.GreaterOrEqual(t, i, 0, name)
		return i
	}
	write := func(w *Writer, lrs plog.LogRecordSlice, byRef bool) {
		r := func(name string) int {
			if byRef {
				return ref(name)
			}
			return -1
		}
		w.Begin(lrs.AppendEmpty(), time.Unix(1, 0), time.Unix(2, 0), 9)
		w.StringRef(r("source.uid"), "source.uid", "kubernetes://productpage-v1-1.default")
		w.Int64Ref(r("response.code"), "response.code", 503)
		w.Int64Ref(r("request.size"), "request.size", 1234)
		w.BoolRef(r("connection.mtls"), "connection.mtls", true)
		w.TimestampNanosRef(r("request.time"), "request.time", 1593597600_000000123)
		w.DurationRef(r("response.duration"), "response.duration", 3*time.Millisecond)
		w.IPRef(r("source.ip"), "source.ip", []byte{10, 0, 0, 7})
		w.BeginStringMapRef(r("request.headers"), "request.headers", 2)
		w.StringMapEntry(":path", "/reviews/0")
		w.StringMapEntry(":method", "GET")
		w.EndStringMap()
		w.String("destination.service.host", "reviews.default.svc.cluster.local") // text either way
		w.End()
	}
	w := NewWriter(true)
	text, refs := plog.NewLogRecordSlice(), plog.NewLogRecordSlice()
	write(w, text, false)
	write(w, refs, true)
	require.Less(t, len(kvpack.BytesOf(refs.At(0).Body())), len(kvpack.BytesOf(text.At(0).Body())))

	// refs first, on a fresh decoder: a text key after dictionary keys.
	var d, dText Decoder
	want, got := attribute.NewBag(attribute.DefaultVocabulary()), attribute.NewBag(attribute.DefaultVocabulary())
	_, err := dText.DecodeRecord(text.At(0), want)
	require.NoError(t, err)
	for range 2 { // the second time from the decoder's table
		bad, err := d.DecodeRecord(refs.At(0), got)
		require.NoError(t, err)
		assert.Zero(t, bad)
		require.Equal(t, 9, want.Len())
		require.Equal(t, want.Len(), got.Len())
		for _, n := range []string{"source.uid", "response.code", "request.size", "connection.mtls", "request.time",
			"response.duration", "source.ip", "request.headers", "destination.service.host"} {
			wv, _ := want.GetByName(n)
			gv, ok := got.GetByName(n)
			require.True(t, ok, n)
			assert.True(t, wv.Equal(gv), "%s: %v, want %v", n, gv, wv)
		}
	}
	require.NoError(t, Unpack(text.At(0)))
	require.NoError(t, Unpack(refs.At(0)))
	assert.Equal(t, text.At(0).Attributes().AsRaw(), refs.At(0).Attributes().AsRaw())
}

// The plain methods find a dictionary name's index themselves, for names
// in constants and names built at run time alike.
func TestWriterFindsRefs(t *testing.T) {
	w := NewWriter(true)
	lrs := plog.NewLogRecordSlice()
	w.Reset(300)
	for i := range 300 {
		w.Begin(lrs.AppendEmpty(), time.Unix(1, 0), time.Unix(2, 0), 4)
		w.String("source.uid", "a")
		w.String(strings.Clone("destination.uid"), "b") // a new address each time
		w.Int64("custom.attribute", int64(i))           // not a dictionary word
		w.String(strings.Repeat("x", i%7+1), "c")       // neither, many addresses
		w.End()
	}
	for i := range lrs.Len() {
		r := kvpack.NewDictReader(kvpack.BytesOf(lrs.At(i).Body()), Dictionary())
		var p kvpack.Pair
		var keys []string
		for r.Next(&p) {
			wantRef := slices.Index(Dictionary(), p.Key)
			require.Equal(t, wantRef, p.Ref, "record %d key %s", i, p.Key)
			keys = append(keys, p.Key)
		}
		require.NoError(t, r.Err())
		require.Equal(t, []string{"source.uid", "destination.uid", "custom.attribute", strings.Repeat("x", i%7+1)}, keys)
	}
}
