package bagrecord

import (
	"encoding/binary"
	"math/bits"
)

// nameTable maps attribute names to what they resolve to, for a Decoder. It
// is an open-addressing table with a hash of the name's length and its
// first and last eight bytes: attribute names differ there, and hashing
// them costs a few nanoseconds, where Go's map hashes the whole name. It
// holds at most maxNames names and starts over when full, and probes at
// most maxProbe places, so names chosen to collide cost a vocabulary lookup,
// never a long scan.
type nameTable struct {
	slots []*decodeSlot
	n     int
}

const (
	maxNames  = 1024
	tableSize = 2 * maxNames // a power of two
	maxProbe  = 8
)

func (t *nameTable) reset() {
	clear(t.slots)
	t.n = 0
}

func nameHash(s string) uint64 {
	var a, b uint64
	if n := len(s); n >= 8 {
		a = binary.LittleEndian.Uint64([]byte(s[:8]))
		b = binary.LittleEndian.Uint64([]byte(s[n-8:]))
	} else {
		for i := 0; i < n; i++ {
			a = a<<8 | uint64(s[i])
		}
	}
	hi, lo := bits.Mul64(a^0x9e3779b97f4a7c15, b^uint64(len(s))^0xc2b2ae3d27d4eb4f)
	return hi ^ lo
}

func (t *nameTable) find(name string) *decodeSlot {
	if t.slots == nil {
		return nil
	}
	h := nameHash(name)
	for i := range maxProbe {
		s := t.slots[(h+uint64(i))&(tableSize-1)]
		if s == nil {
			return nil
		}
		if s.name == name {
			return s
		}
	}
	return nil
}

func (t *nameTable) add(s *decodeSlot) {
	if t.slots == nil {
		t.slots = make([]*decodeSlot, tableSize)
	}
	if t.n == maxNames {
		t.reset()
	}
	h := nameHash(s.name)
	for i := range maxProbe {
		at := &t.slots[(h+uint64(i))&(tableSize-1)]
		if *at == nil {
			*at = s
			t.n++
			return
		}
	}
	// Every place it may go is taken: it stays out, and is looked up in
	// the vocabulary each time.
}
