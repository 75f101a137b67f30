package attribute

import (
	"slices"
	"strings"
)

// StringMap is a small string→string map kept as a slice of entries in
// insertion order. Attribute maps (request headers, pod labels) are small and
// rebuilt for every request, so a linear scan beats hashing and Reset can keep
// the backing array. The zero value is an empty map ready to use; a nil
// *StringMap reads as empty.
type StringMap struct {
	entries []mapEntry
}

type mapEntry struct {
	key, value string
}

// NewStringMap builds a map from alternating keys and values; a trailing key
// without value gets "".
func NewStringMap(kv ...string) *StringMap {
	m := &StringMap{entries: make([]mapEntry, 0, (len(kv)+1)/2)}
	for i := 0; i < len(kv); i += 2 {
		v := ""
		if i+1 < len(kv) {
			v = kv[i+1]
		}
		m.Set(kv[i], v)
	}
	return m
}

// StringMapOf copies a Go map.
func StringMapOf(src map[string]string) *StringMap {
	m := &StringMap{entries: make([]mapEntry, 0, len(src))}
	for k, v := range src {
		m.entries = append(m.entries, mapEntry{k, v})
	}
	return m
}

// Get returns the value stored under k.
func (m *StringMap) Get(k string) (string, bool) {
	if m == nil {
		return "", false
	}
	for i := range m.entries {
		if m.entries[i].key == k {
			return m.entries[i].value, true
		}
	}
	return "", false
}

// Len returns the number of entries.
func (m *StringMap) Len() int {
	if m == nil {
		return 0
	}
	return len(m.entries)
}

// At returns the i-th entry in insertion order (0 <= i < Len()); it lets hot
// loops iterate without a callback.
func (m *StringMap) At(i int) (key, value string) {
	e := m.entries[i]
	return e.key, e.value
}

// Range calls fn for each entry in insertion order until fn returns false.
func (m *StringMap) Range(fn func(key, value string) bool) {
	if m == nil {
		return
	}
	for _, e := range m.entries {
		if !fn(e.key, e.value) {
			return
		}
	}
}

// Set stores v under k, replacing an existing entry in place.
func (m *StringMap) Set(k, v string) {
	for i := range m.entries {
		if m.entries[i].key == k {
			m.entries[i].value = v
			return
		}
	}
	m.entries = append(m.entries, mapEntry{k, v})
}

// Delete removes k, keeping the order of the other entries.
func (m *StringMap) Delete(k string) {
	if m == nil {
		return
	}
	for i := range m.entries {
		if m.entries[i].key == k {
			m.entries = slices.Delete(m.entries, i, i+1)
			return
		}
	}
}

// Reset empties the map but keeps its capacity for reuse.
func (m *StringMap) Reset() {
	if m == nil {
		return
	}
	clear(m.entries) // drop string references so they can be collected
	m.entries = m.entries[:0]
}

// CopyFrom makes m hold exactly the entries of src, reusing m's capacity.
func (m *StringMap) CopyFrom(src *StringMap) {
	m.Reset()
	if src != nil {
		m.entries = append(m.entries, src.entries...)
	}
}

// Clone returns an independent copy (never nil).
func (m *StringMap) Clone() *StringMap {
	c := &StringMap{}
	if m != nil {
		c.entries = slices.Clone(m.entries)
	}
	return c
}

// Equal reports whether both maps hold the same key/value pairs, in any order.
func (m *StringMap) Equal(o *StringMap) bool {
	if m.Len() != o.Len() {
		return false
	}
	for i := 0; i < m.Len(); i++ {
		k, v := m.At(i)
		if ov, ok := o.Get(k); !ok || ov != v {
			return false
		}
	}
	return true
}

// Map returns the entries as a Go map.
func (m *StringMap) Map() map[string]string {
	out := make(map[string]string, m.Len())
	m.Range(func(k, v string) bool { out[k] = v; return true })
	return out
}

// Keys returns the keys in sorted order.
func (m *StringMap) Keys() []string {
	keys := make([]string, 0, m.Len())
	m.Range(func(k, _ string) bool { keys = append(keys, k); return true })
	slices.Sort(keys)
	return keys
}

// String renders the map the way Mixer printed attribute.StringMap values:
// "stringmap[a:1 b:2]", keys sorted, nothing escaped, "stringmap[]" when
// empty. The rendering shows up in stdio output and error texts.
func (m *StringMap) String() string {
	var buf [128]byte
	return string(m.AppendString(buf[:0]))
}

// AppendString appends what String returns to dst. It allocates nothing for
// maps of up to 16 entries.
func (m *StringMap) AppendString(dst []byte) []byte {
	dst = append(dst, "stringmap["...)
	// Sort positions, not entries: keys are unique (Set replaces), so the
	// order is the sorted keys'.
	var stack [16]int
	order := stack[:0]
	for i := range m.Len() {
		order = append(order, i)
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(m.entries[a].key, m.entries[b].key) })
	for n, i := range order {
		if n > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, m.entries[i].key...)
		dst = append(dst, ':')
		dst = append(dst, m.entries[i].value...)
	}
	return append(dst, ']')
}
