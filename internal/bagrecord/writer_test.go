package bagrecord

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
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
