// Package kvpack is a compact byte encoding of a flat list of typed
// key/value pairs. The rules engine's two record contracts use it as their
// packed form (internal/bagrecord for attribute bags, internal/instancerecord
// for evaluated instances): one pdata Bytes value in place of one pdata
// attribute per pair, because pdata allocates a wrapper and scans the keys
// already present for every attribute it stores, and those costs dominated
// the path from a report to its outputs.
//
// Layout: a version byte (1), then the pairs in order:
//
//	kind (1 byte) | uvarint key length | key bytes | payload
//	kind | 0x80 (1 byte) | uvarint index into a dictionary | payload
//
// The second form names the key by its index in a word list that writer and
// reader agree on (the *Ref functions, NewDictReader): a few bytes instead of
// the name, and the reader learns which name it is without comparing text.
//
// Payloads by kind: Str and Bytes a uvarint length and the bytes; Int and
// Double 8 bytes little-endian (Double as its IEEE-754 bits); Bool one byte;
// Empty nothing; Map a 4-byte little-endian entry count (fixed, so that a
// writer can set it once the entries are written), then per entry a uvarint
// key length, the key, a uvarint value length and the value (a map of
// strings).
//
// The kinds mirror pdata's value types, so a packed record converts to and
// from its attribute form without loss. Keys may repeat; readers take pairs
// in order, as they do for pdata attributes.
package kvpack // import "github.com/otelcol-istio/otelcol-istio/internal/kvpack"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// The values of the record_encoding setting of the components that write
// records in either form.
const (
	EncodingAttributes = "attributes"
	EncodingPacked     = "packed"
)

// CheckEncoding validates a record_encoding setting.
func CheckEncoding(v string) error {
	if v != EncodingAttributes && v != EncodingPacked {
		return fmt.Errorf("record_encoding: %q is not one of %q, %q", v, EncodingAttributes, EncodingPacked)
	}
	return nil
}

// Version is the first byte of every packed buffer.
const Version byte = 1

// Kind is the type of a value.
type Kind uint8

// The kinds of values, as pdata's value types.
const (
	Empty Kind = iota
	Str
	Int
	Double
	Bool
	Bytes
	Map
	maxKind = Map
)

func (k Kind) String() string {
	switch k {
	case Empty:
		return "Empty"
	case Str:
		return "Str"
	case Int:
		return "Int"
	case Double:
		return "Double"
	case Bool:
		return "Bool"
	case Bytes:
		return "Bytes"
	case Map:
		return "Map"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Begin starts a packed buffer at the end of dst.
func Begin(dst []byte) []byte { return append(dst, Version) }

// refFlag marks a kind byte whose key is a dictionary index.
const refFlag = 0x80

// appendHead appends a pair's kind and key: dictionary word ref when ref
// is at least 0, else key as text.
func appendHead(dst []byte, k Kind, ref int, key string) []byte {
	if ref >= 0 {
		return binary.AppendUvarint(append(dst, byte(k)|refFlag), uint64(ref))
	}
	dst = binary.AppendUvarint(append(dst, byte(k)), uint64(len(key)))
	return append(dst, key...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendStr appends a Str pair.
func AppendStr(dst []byte, key, v string) []byte { return AppendStrRef(dst, -1, key, v) }

// AppendStrRef appends a Str pair keyed by dictionary word ref, or by key
// when ref is negative. The other *Ref functions do the same.
func AppendStrRef(dst []byte, ref int, key, v string) []byte {
	return appendString(appendHead(dst, Str, ref, key), v)
}

// AppendInt appends an Int pair.
func AppendInt(dst []byte, key string, v int64) []byte { return AppendIntRef(dst, -1, key, v) }

// AppendIntRef appends an Int pair (see AppendStrRef).
func AppendIntRef(dst []byte, ref int, key string, v int64) []byte {
	return binary.LittleEndian.AppendUint64(appendHead(dst, Int, ref, key), uint64(v))
}

// AppendDouble appends a Double pair.
func AppendDouble(dst []byte, key string, v float64) []byte { return AppendDoubleRef(dst, -1, key, v) }

// AppendDoubleRef appends a Double pair (see AppendStrRef).
func AppendDoubleRef(dst []byte, ref int, key string, v float64) []byte {
	return binary.LittleEndian.AppendUint64(appendHead(dst, Double, ref, key), math.Float64bits(v))
}

// AppendBool appends a Bool pair.
func AppendBool(dst []byte, key string, v bool) []byte { return AppendBoolRef(dst, -1, key, v) }

// AppendBoolRef appends a Bool pair (see AppendStrRef).
func AppendBoolRef(dst []byte, ref int, key string, v bool) []byte {
	b := byte(0)
	if v {
		b = 1
	}
	return append(appendHead(dst, Bool, ref, key), b)
}

// AppendBytes appends a Bytes pair.
func AppendBytes(dst []byte, key string, v []byte) []byte { return AppendBytesRef(dst, -1, key, v) }

// AppendBytesRef appends a Bytes pair (see AppendStrRef).
func AppendBytesRef(dst []byte, ref int, key string, v []byte) []byte {
	dst = binary.AppendUvarint(appendHead(dst, Bytes, ref, key), uint64(len(v)))
	return append(dst, v...)
}

// AppendEmpty appends an Empty pair (a key without a value).
func AppendEmpty(dst []byte, key string) []byte { return appendHead(dst, Empty, -1, key) }

// AppendMap appends the head of a Map pair of n entries; exactly n calls of
// AppendMapEntry must follow.
func AppendMap(dst []byte, key string, n int) []byte {
	return binary.LittleEndian.AppendUint32(appendHead(dst, Map, -1, key), uint32(n))
}

// BeginMap appends the head of a Map pair whose entries are not counted yet
// and returns where the count goes, for EndMap.
func BeginMap(dst []byte, key string) ([]byte, int) { return BeginMapRef(dst, -1, key) }

// BeginMapRef is BeginMap keyed as AppendStrRef keys.
func BeginMapRef(dst []byte, ref int, key string) ([]byte, int) {
	dst = appendHead(dst, Map, ref, key)
	return binary.LittleEndian.AppendUint32(dst, 0), len(dst)
}

// EndMap sets the count of the Map begun at countAt to n.
func EndMap(dst []byte, countAt, n int) {
	binary.LittleEndian.PutUint32(dst[countAt:], uint32(n))
}

// AppendMapEntry appends one entry of the Map begun by AppendMap.
func AppendMapEntry(dst []byte, k, v string) []byte {
	return appendString(appendString(dst, k), v)
}

// ErrCorrupt is returned for bytes that are not a packed buffer.
var ErrCorrupt = errors.New("kvpack: corrupt buffer")

// Pair is one decoded pair. Its strings point into the buffer being read
// (no copy), so they live as long as the buffer and must not outlive a
// change to it.
type Pair struct {
	Key  string
	Kind Kind
	// Ref is the dictionary index the key was written as, -1 for a key
	// written as text.
	Ref int
	// Text is the value of a Str or the bytes of a Bytes.
	Text string
	// Num holds an Int, the bits of a Double, or a Bool as 0 or 1.
	Num uint64
	// entries is a Map's encoded entries, count its length.
	entries string
	count   int
}

// Int returns an Int value.
func (p *Pair) Int() int64 { return int64(p.Num) }

// Double returns a Double value.
func (p *Pair) Double() float64 { return math.Float64frombits(p.Num) }

// Bool returns a Bool value.
func (p *Pair) Bool() bool { return p.Num != 0 }

// Len returns the number of entries of a Map value.
func (p *Pair) Len() int { return p.count }

// Entries returns an iterator over a Map value's entries; the Reader that
// produced p has already checked them.
func (p *Pair) Entries() MapIter { return MapIter{rest: p.entries, left: p.count} }

// MapIter walks the entries of a Map value.
type MapIter struct {
	rest string
	left int
}

// Next returns the next entry, or ok == false at the end.
func (it *MapIter) Next() (k, v string, ok bool) {
	if it.left == 0 {
		return "", "", false
	}
	it.left--
	k, it.rest, _ = readString(it.rest)
	v, it.rest, _ = readString(it.rest)
	return k, v, true
}

// Reader reads the pairs of a packed buffer.
type Reader struct {
	rest string
	dict []string
	err  error
}

// NewReader starts reading buf. The strings of the pairs it returns point
// into buf. A key written as a dictionary index makes the buffer corrupt.
func NewReader(buf []byte) Reader { return NewDictReader(buf, nil) }

// NewDictReader starts reading buf, whose keys may be indices into dict.
func NewDictReader(buf []byte, dict []string) Reader {
	if len(buf) == 0 || buf[0] != Version {
		return Reader{err: ErrCorrupt}
	}
	return Reader{rest: unsafe.String(unsafe.SliceData(buf[1:]), len(buf)-1), dict: dict}
}

// IsPacked reports whether buf starts like a packed buffer.
func IsPacked(buf []byte) bool { return len(buf) > 0 && buf[0] == Version }

// Err returns the error that ended reading early, if any.
func (r *Reader) Err() error { return r.err }

// Next decodes the next pair into p. It returns false at the end of the
// buffer or at the first malformed byte (then Err says so).
func (r *Reader) Next(p *Pair) bool {
	if r.err != nil || len(r.rest) == 0 {
		return false
	}
	s := r.rest
	k := Kind(s[0] &^ refFlag)
	if k > maxKind {
		return r.fail()
	}
	var ok bool
	if s[0]&refFlag != 0 {
		ref, w := uvarint(s[1:])
		if w <= 0 || ref >= uint64(len(r.dict)) {
			return r.fail()
		}
		p.Key, p.Ref = r.dict[ref], int(ref)
		s = s[1+w:]
	} else {
		if p.Key, s, ok = readString(s[1:]); !ok {
			return r.fail()
		}
		p.Ref = -1
	}
	p.Kind = k
	switch k {
	case Empty:
		p.Text, p.Num = "", 0
	case Str, Bytes:
		if p.Text, s, ok = readString(s); !ok {
			return r.fail()
		}
		p.Num = 0
	case Int, Double:
		if len(s) < 8 {
			return r.fail()
		}
		p.Num = binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), 8))
		p.Text = ""
		s = s[8:]
	case Bool:
		if len(s) < 1 || s[0] > 1 {
			return r.fail()
		}
		p.Num, p.Text = uint64(s[0]), ""
		s = s[1:]
	case Map:
		if len(s) < 4 {
			return r.fail()
		}
		n := uint64(binary.LittleEndian.Uint32(unsafe.Slice(unsafe.StringData(s), 4)))
		// Every entry takes at least two bytes: a bound that also keeps a
		// huge count from being believed.
		if n > uint64(len(s)-4)/2 {
			return r.fail()
		}
		s = s[4:]
		start := s
		for range n {
			if _, s, ok = readString(s); !ok {
				return r.fail()
			}
			if _, s, ok = readString(s); !ok {
				return r.fail()
			}
		}
		p.entries = start[:len(start)-len(s)]
		p.count = int(n)
		p.Text, p.Num = "", 0
	}
	r.rest = s
	return true
}

func (r *Reader) fail() bool {
	r.err, r.rest = ErrCorrupt, ""
	return false
}

func uvarint(s string) (uint64, int) {
	var x uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -1
			}
			return x | uint64(b)<<(7*i), i + 1
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return 0, -1
}

func readString(s string) (v, rest string, ok bool) {
	if len(s) > 0 && s[0] < 0x80 { // lengths under 128: nearly all
		n := int(s[0])
		if n >= len(s) {
			return "", "", false
		}
		return s[1 : 1+n], s[1+n:], true
	}
	n, w := uvarint(s)
	if w <= 0 || n > uint64(len(s)-w) {
		return "", "", false
	}
	s = s[w:]
	return s[:n], s[n:], true
}
