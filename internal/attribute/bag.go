package attribute

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Bag holds the attribute values of one request, one slot per attribute of
// its Vocabulary. It is meant to be reused: Reset clears the presence bits
// and keeps every buffer, so resetting and refilling a Bag allocates nothing
// once it has seen a request of the same shape.
//
// A slot records the type of what was actually set, which may differ from the
// declared type (clients can send a wrong-typed value; expressions then fail
// with Mixer's conversion error). Attributes outside the vocabulary cannot be
// stored: no expression can refer to them.
//
// A Bag is not safe for concurrent mutation; concurrent reads are fine.
type Bag struct {
	vocab   *Vocabulary
	slots   []Value
	ipBuf   [][]byte     // per-slot IP storage, reused
	maps    []*StringMap // per-slot map storage, allocated on first use
	present []uint64
}

// NewBag returns an empty Bag for vocabulary v.
func NewBag(v *Vocabulary) *Bag {
	n := v.Len()
	return &Bag{
		vocab:   v,
		slots:   make([]Value, n),
		ipBuf:   make([][]byte, n),
		maps:    make([]*StringMap, n),
		present: make([]uint64, (n+63)/64),
	}
}

// Vocabulary returns the vocabulary the bag is bound to.
func (b *Bag) Vocabulary() *Vocabulary { return b.vocab }

// Reset removes every value but keeps the storage for reuse.
func (b *Bag) Reset() { clear(b.present) }

func (b *Bag) inRange(id int) bool { return uint(id) < uint(len(b.slots)) }

// Has reports whether attribute id is present.
func (b *Bag) Has(id int) bool {
	return b.inRange(id) && b.present[id>>6]&(1<<(uint(id)&63)) != 0
}

// Len returns the number of present attributes.
func (b *Bag) Len() int {
	n := 0
	for _, w := range b.present {
		n += bits.OnesCount64(w)
	}
	return n
}

// Peek returns a pointer to the value of attribute id, or nil when it is
// absent. The pointee must not be modified and is valid until the slot is
// next set or the bag reset. In hot loops prefer the typed getters: calling
// Value's methods through the pointer copies the whole Value.
func (b *Bag) Peek(id int) *Value {
	if !b.Has(id) {
		return nil
	}
	return &b.slots[id]
}

// Get returns the value of attribute id.
func (b *Bag) Get(id int) (Value, bool) {
	if !b.Has(id) {
		return Value{}, false
	}
	return b.slots[id], true
}

// GetByName returns the value of the named attribute.
func (b *Bag) GetByName(name string) (Value, bool) {
	id, _, ok := b.vocab.Lookup(name)
	if !ok {
		return Value{}, false
	}
	return b.Get(id)
}

// The typed getters below are the fast read path: they report false both
// when the attribute is absent and when it holds another type (use Has or
// Peek to tell the two apart). They read the slot in place; calling Value's
// methods through Peek would copy the whole Value.

// GetString returns a present value carried as a string (STRING, DNS_NAME,
// EMAIL_ADDRESS, URI).
func (b *Bag) GetString(id int) (string, bool) {
	if v := b.Peek(id); v != nil && v.typ.StringBacked() {
		return v.s, true
	}
	return "", false
}

// GetInt64 returns a present INT64 value.
func (b *Bag) GetInt64(id int) (int64, bool) {
	if v := b.Peek(id); v != nil && v.typ == TypeInt64 {
		return v.n, true
	}
	return 0, false
}

// GetDouble returns a present DOUBLE value.
func (b *Bag) GetDouble(id int) (float64, bool) {
	if v := b.Peek(id); v != nil && v.typ == TypeDouble {
		return math.Float64frombits(uint64(v.n)), true
	}
	return 0, false
}

// GetBool returns a present BOOL value.
func (b *Bag) GetBool(id int) (bool, bool) {
	if v := b.Peek(id); v != nil && v.typ == TypeBool {
		return v.n != 0, true
	}
	return false, false
}

// GetTime returns a present TIMESTAMP value.
func (b *Bag) GetTime(id int) (time.Time, bool) {
	if v := b.Peek(id); v != nil && v.typ == TypeTimestamp {
		return v.time(), true
	}
	return time.Time{}, false
}

// GetDuration returns a present DURATION value.
func (b *Bag) GetDuration(id int) (time.Duration, bool) {
	if v := b.Peek(id); v != nil && v.typ == TypeDuration {
		return time.Duration(v.n), true
	}
	return 0, false
}

// GetBytes returns a present IP_ADDRESS value (shared with the bag).
func (b *Bag) GetBytes(id int) ([]byte, bool) {
	if v := b.Peek(id); v != nil && v.typ == TypeIPAddress {
		return v.ip(), true
	}
	return nil, false
}

// GetStringMap returns a present STRING_MAP value (shared with the bag).
func (b *Bag) GetStringMap(id int) (*StringMap, bool) {
	if v := b.Peek(id); v != nil && v.typ == TypeStringMap {
		return (*StringMap)(v.p), true
	}
	return nil, false
}

// mark flags slot id present and returns it for writing; nil when id is not
// in the vocabulary.
func (b *Bag) mark(id int) *Value {
	if !b.inRange(id) {
		return nil
	}
	b.present[id>>6] |= 1 << (uint(id) & 63)
	return &b.slots[id]
}

// setScalar stores a value that owns no bag memory.
func (b *Bag) setScalar(id int, v Value) {
	if p := b.mark(id); p != nil {
		*p = v
	}
}

// SetString stores a STRING value.
func (b *Bag) SetString(id int, s string) { b.setScalar(id, Value{typ: TypeString, s: s}) }

// SetInt64 stores an INT64 value.
func (b *Bag) SetInt64(id int, i int64) { b.setScalar(id, Value{typ: TypeInt64, n: i}) }

// SetDouble stores a DOUBLE value.
func (b *Bag) SetDouble(id int, f float64) { b.setScalar(id, DoubleValue(f)) }

// SetBool stores a BOOL value.
func (b *Bag) SetBool(id int, v bool) { b.setScalar(id, BoolValue(v)) }

// SetTime stores a TIMESTAMP value.
func (b *Bag) SetTime(id int, t time.Time) { b.setScalar(id, TimestampValue(t)) }

// SetTimeNanos stores a TIMESTAMP value in UTC from Unix nanoseconds.
func (b *Bag) SetTimeNanos(id int, ns int64) { b.setScalar(id, TimestampNanos(ns)) }

// SetDuration stores a DURATION value.
func (b *Bag) SetDuration(id int, d time.Duration) {
	b.setScalar(id, Value{typ: TypeDuration, n: int64(d)})
}

// SetBytes stores an IP_ADDRESS value. The bytes are copied into storage the
// slot keeps across resets, so the caller may reuse ip.
func (b *Bag) SetBytes(id int, ip []byte) {
	p := b.mark(id)
	if p == nil {
		return
	}
	buf := append(b.ipBuf[id][:0], ip...)
	b.ipBuf[id] = buf
	*p = IPValue(buf)
}

// MapFor marks attribute id present with an empty STRING_MAP value and
// returns that map for the caller to fill. The map belongs to the slot and is
// reused after Reset. It returns nil when id is not in the vocabulary.
func (b *Bag) MapFor(id int) *StringMap {
	p := b.mark(id)
	if p == nil {
		return nil
	}
	m := b.maps[id]
	if m == nil {
		m = &StringMap{}
		b.maps[id] = m
	}
	m.Reset()
	*p = StringMapValue(m)
	return m
}

// Set stores v in slot id, whatever its type. IP bytes and map entries are
// copied into the slot's own storage. Setting the zero Value removes the
// attribute.
func (b *Bag) Set(id int, v Value) {
	switch v.typ {
	case TypeUnspecified:
		b.Delete(id)
	case TypeIPAddress:
		b.SetBytes(id, v.ip())
	case TypeStringMap:
		if m := (*StringMap)(v.p); b.inRange(id) && m != nil && m == b.maps[id] {
			*b.mark(id) = v // the slot's own map: copying would wipe it
			return
		}
		if m := b.MapFor(id); m != nil {
			m.CopyFrom((*StringMap)(v.p))
		}
	default:
		b.setScalar(id, v)
	}
}

// SetByName stores v under the named attribute. Attributes outside the
// vocabulary are not stored and reported as an error, which callers that
// accept arbitrary input may ignore.
func (b *Bag) SetByName(name string, v Value) error {
	id, _, ok := b.vocab.Lookup(name)
	if !ok {
		return fmt.Errorf("attribute %q is not in the vocabulary", name)
	}
	b.Set(id, v)
	return nil
}

// Delete removes attribute id.
func (b *Bag) Delete(id int) {
	if b.inRange(id) {
		b.present[id>>6] &^= 1 << (uint(id) & 63)
	}
}

// Range calls fn for each present attribute in id order until fn returns
// false. The *Value follows the rules of Peek.
func (b *Bag) Range(fn func(id int, v *Value) bool) {
	for w, word := range b.present {
		for word != 0 {
			i := bits.TrailingZeros64(word)
			word &^= 1 << uint(i)
			id := w<<6 | i
			if !fn(id, &b.slots[id]) {
				return
			}
		}
	}
}
