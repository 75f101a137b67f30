package bagrecord

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

func TestNameTable(t *testing.T) {
	var tab nameTable
	assert.Nil(t, tab.find("source.name"))
	names := []string{"", "a", "source.name", "source.namespace", "destination.service.host", "destination.service.name"}
	for _, n := range names {
		tab.add(&decodeSlot{name: n})
	}
	for _, n := range names {
		s := tab.find(n)
		require.NotNil(t, s, n)
		assert.Equal(t, n, s.name)
	}
	assert.Nil(t, tab.find("source.nam"))

	// Full: it starts over rather than grow.
	for i := range maxNames + 10 {
		tab.add(&decodeSlot{name: fmt.Sprintf("attr.%d", i)})
	}
	assert.LessOrEqual(t, tab.n, maxNames)
	assert.NotNil(t, tab.find(fmt.Sprintf("attr.%d", maxNames+9)))
}

// Names that hash alike (same length, same first and last eight bytes)
// fill at most maxProbe places; the rest are still decoded, through the
// vocabulary.
func TestNameTableCollisions(t *testing.T) {
	vocab := map[string]attribute.Type{}
	m := pcommon.NewMap()
	for i := range 3 * maxProbe {
		n := fmt.Sprintf("aaaaaaaa%02dzzzzzzzz", i)
		vocab[n] = attribute.TypeInt64
		m.PutInt(n, int64(i))
	}
	var tab nameTable
	h := nameHash("aaaaaaaa00zzzzzzzz")
	for n := range m.All() {
		require.Equal(t, h, nameHash(n))
		tab.add(&decodeSlot{name: n})
	}
	assert.Equal(t, maxProbe, tab.n)

	b := attribute.NewBag(attribute.NewVocabulary(vocab))
	var d Decoder
	for range 2 {
		require.Zero(t, d.Decode(m, b))
		assert.Equal(t, 3*maxProbe, b.Len())
	}
}

// A bag longer than maxPositions decodes whole; the Decoder remembers
// positions up to the bound only.
func TestDecoderPositionsBounded(t *testing.T) {
	vocab := map[string]attribute.Type{}
	m := pcommon.NewMap()
	buf := BeginPacked(nil)
	for i := range maxPositions + 100 {
		n := fmt.Sprintf("attr.%d", i)
		vocab[n] = attribute.TypeInt64
		m.PutInt(n, int64(i))
		buf = AppendInt64(buf, n, int64(i))
	}
	b := attribute.NewBag(attribute.NewVocabulary(vocab))
	var d Decoder
	require.Zero(t, d.Decode(m, b))
	assert.Equal(t, maxPositions+100, b.Len())
	lr := plog.NewLogRecord()
	InitPacked(lr, time.Time{}, time.Time{}, buf)
	_, err := d.DecodeRecord(lr, b)
	require.NoError(t, err)
	assert.Equal(t, maxPositions+100, b.Len())
	assert.Len(t, d.slots, maxPositions)
	assert.Len(t, d.packed, maxPositions)
}
