package mixerreport

import (
	"encoding/binary"
	"errors"
	"math"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// The decoder reads ReportRequest wire bytes itself instead of unmarshalling
// into mixerpb structs: protobuf-go builds eight Go maps per element, which
// cost more than everything else on the receive path, and it refuses words
// that are not valid UTF-8, which Mixer's gogo codec accepted (an HTTP
// header is any bytes). Otherwise the bytes are read as protobuf-go reads
// them: fields in any order, unknown fields and fields of an unexpected wire
// type skipped, the last of a repeated scalar and of a repeated map key
// winning, repeated message values merged.

// Field numbers (mixer-semantics.md §a.2).
const (
	fReportAttributes   = 1
	fReportDefaultWords = 2
	fReportGlobalCount  = 3
	fReportSemantics    = 4

	fAttrWords      = 1
	fAttrFirstMap   = 2 // strings; the eight typed maps are fields 2..9
	fAttrLastMap    = 9 // string_maps
	fEntryKey       = 1
	fEntryValue     = 2
	fTimeSeconds    = 1
	fTimeNanos      = 2
	fStringMapEntry = 1
)

// The typed maps by wire field (field = index + fAttrFirstMap); Kind is
// index + 1.
const (
	wStrings = iota
	wInt64s
	wDoubles
	wBools
	wTimestamps
	wDurations
	wBytes
	wStringMaps
	nMaps
)

// valueType is the wire type of each typed map's values.
var valueType = [nMaps]protowire.Type{
	wStrings:    protowire.VarintType,
	wInt64s:     protowire.VarintType,
	wDoubles:    protowire.Fixed64Type,
	wBools:      protowire.VarintType,
	wTimestamps: protowire.BytesType,
	wDurations:  protowire.BytesType,
	wBytes:      protowire.BytesType,
	wStringMaps: protowire.BytesType,
}

// WireError is a request whose bytes are not a ReportRequest.
type WireError struct{ Err error }

func (e *WireError) Error() string { return "invalid ReportRequest: " + e.Err.Error() }
func (e *WireError) Unwrap() error { return e.Err }

var errFieldNumber = errors.New("invalid field number")

// The readers below assume validated bytes; their one-byte fast paths
// cover almost every tag, index and length of a real report.

// nextField reads one field header.
func nextField(b []byte) (protowire.Number, protowire.Type, []byte) {
	if b[0] < 0x80 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), b[1:]
	}
	num, typ, n := protowire.ConsumeTag(b)
	return num, typ, b[n:]
}

// varint reads a varint.
func varint(b []byte) (uint64, []byte) {
	if b[0] < 0x80 {
		return uint64(b[0]), b[1:]
	}
	v, n := protowire.ConsumeVarint(b)
	return v, b[n:]
}

// lengthDelimited reads a length-prefixed value.
func lengthDelimited(b []byte) ([]byte, []byte) {
	if l := int(b[0]); l < 0x80 {
		return b[1 : 1+l : 1+l], b[1+l:]
	}
	v, n := protowire.ConsumeBytes(b)
	return v, b[n:]
}

// skip passes over a field value of any type.
func skip(num protowire.Number, typ protowire.Type, b []byte) []byte {
	return b[protowire.ConsumeFieldValue(num, typ, b):]
}

// validateMessage checks that b is well-formed protobuf, descending into the
// fields for which known says which message they hold. It rejects what
// protobuf-go rejects, except invalid UTF-8 in strings.
func validateMessage(b []byte, known func(protowire.Number, protowire.Type) func([]byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber {
			return errFieldNumber
		}
		b = b[n:]
		if typ == protowire.BytesType && known != nil {
			if sub := known(num, typ); sub != nil {
				v, n := protowire.ConsumeBytes(b)
				if n < 0 {
					return protowire.ParseError(n)
				}
				if err := sub(v); err != nil {
					return err
				}
				b = b[n:]
				continue
			}
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil
}

func validateReport(b []byte) error {
	if wellFormed(b, msgReport) {
		return nil
	}
	return validateMessageSlow(b)
}

// The messages wellFormed descends into.
type msgKind uint8

const (
	msgOther msgKind = iota
	msgReport
	msgAttributes
	msgEntry          // a typed map's entry with a scalar or bytes value
	msgEntryMessage   // a timestamp or duration entry
	msgEntryStringMap // a string_maps entry
	msgStringMap
)

// inner says which message field num of a k holds, if any.
func inner(k msgKind, num protowire.Number) (msgKind, bool) {
	switch k {
	case msgReport:
		return msgAttributes, num == fReportAttributes
	case msgAttributes:
		if num < fAttrFirstMap || num > fAttrLastMap {
			return msgOther, false
		}
		switch num - fAttrFirstMap {
		case wTimestamps, wDurations:
			return msgEntryMessage, true
		case wStringMaps:
			return msgEntryStringMap, true
		}
		return msgEntry, true
	case msgEntry:
		return msgOther, false
	case msgEntryMessage:
		return msgOther, num == fEntryValue
	case msgEntryStringMap:
		return msgStringMap, num == fEntryValue
	case msgStringMap:
		return msgOther, num == fStringMapEntry
	}
	// Plain messages: their fields are only checked to be well-formed.
	return msgOther, false
}

// wellFormed is the fast check of validateMessage for the shapes Istio
// proxies send: one-byte tags and no groups. Anything else (or anything
// wrong) answers false, and the full check decides, with its error.
func wellFormed(b []byte, k msgKind) bool {
	for len(b) > 0 {
		tag := b[0]
		if tag >= 0x80 || tag < 8 { // a longer tag, or field number 0
			return false
		}
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		b = b[1:]
		switch typ {
		case protowire.VarintType:
			i := 0
			for i < len(b) && i < binary.MaxVarintLen64 && b[i] >= 0x80 {
				i++
			}
			if i == len(b) || i == binary.MaxVarintLen64 || (i == binary.MaxVarintLen64-1 && b[i] > 1) {
				return false
			}
			b = b[i+1:]
		case protowire.Fixed64Type:
			if len(b) < 8 {
				return false
			}
			b = b[8:]
		case protowire.Fixed32Type:
			if len(b) < 4 {
				return false
			}
			b = b[4:]
		case protowire.BytesType:
			var l uint64
			var n int
			if len(b) > 0 && b[0] < 0x80 {
				l, n = uint64(b[0]), 1
			} else if l, n = protowire.ConsumeVarint(b); n < 0 {
				return false
			}
			if l > uint64(len(b)-n) {
				return false
			}
			v := b[n : n+int(l)]
			b = b[n+int(l):]
			if sub, ok := inner(k, num); ok {
				switch {
				case sub == msgAttributes:
					if !attributesWellFormed(v) {
						return false
					}
				case !varintPairs(v) && !wellFormed(v, sub):
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// attributesWellFormed is wellFormed for a CompressedAttributes message. It
// takes the fields of the usual shape itself: a one-byte tag of a
// length-delimited field, a one-byte length, and for a typed map an entry
// of a one-byte key and value. From the first field of another shape on,
// wellFormed decides.
func attributesWellFormed(b []byte) bool {
	for len(b) >= 2 {
		tag, l := b[0], int(b[1])
		if tag >= 0x80 || tag < 8 || tag&7 != byte(protowire.BytesType) || l >= 0x80 {
			break
		}
		if l > len(b)-2 {
			return false
		}
		v := b[2 : 2+l]
		b = b[2+l:]
		num := protowire.Number(tag >> 3)
		if num < fAttrFirstMap || num > fAttrLastMap {
			continue // words and unknown fields: bytes with nothing inside to check
		}
		// An entry of a one-byte key and a one-byte varint value: 08 kk 10 vv.
		if len(v) == 4 && binary.LittleEndian.Uint32(v)&0x80ff80ff == 0x00100008 {
			continue
		}
		if varintPairs(v) || (num == fAttrFirstMap+wStringMaps && stringMapEntryWellFormed(v)) {
			continue
		}
		if sub, _ := inner(msgAttributes, num); !wellFormed(v, sub) {
			return false
		}
	}
	return wellFormed(b, msgAttributes)
}

// stringMapEntryWellFormed reports whether b is a string_maps entry of the
// usual shape, which is then well-formed: a key of one or two bytes, then
// the StringMap value as the rest of b, whose entries each take a one-byte
// tag and length and hold varint fields 1 and 2 only. false means another
// shape, for wellFormed to judge.
func stringMapEntryWellFormed(b []byte) bool {
	var i int
	switch {
	case len(b) < 4 || b[0] != byte(fEntryKey<<3|protowire.VarintType):
		return false
	case b[1] < 0x80:
		i = 2
	case b[2] < 0x80:
		i = 3
	default:
		return false
	}
	if i+2 > len(b) || b[i] != byte(fEntryValue<<3|protowire.BytesType) || b[i+1] >= 0x80 || int(b[i+1]) != len(b)-i-2 {
		return false
	}
	for m := b[i+2:]; len(m) > 0; {
		if len(m) < 2 || m[0] != byte(fStringMapEntry<<3|protowire.BytesType) || m[1] >= 0x80 || int(m[1]) > len(m)-2 {
			return false
		}
		e := m[2 : 2+m[1]]
		m = m[2+m[1]:]
		if !varintPairs(e) {
			return false
		}
	}
	return true
}

// varintPairs reports whether b is a message of varint fields 1 and 2
// only, the shape of nearly every typed-map entry (an index and a value),
// which is then well-formed whatever kind of message it is. It spares those
// entries a descent into wellFormed.
func varintPairs(b []byte) bool {
	for len(b) > 0 {
		if b[0] != 0x08 && b[0] != 0x10 {
			return false
		}
		i := 1
		for i < len(b) && i < 6 && b[i] >= 0x80 {
			i++
		}
		if i == len(b) || b[i] >= 0x80 || i == 6 {
			return false
		}
		b = b[i+1:]
	}
	return true
}

// validateMessageSlow checks a Report with protowire's general readers and
// says what is wrong.
func validateMessageSlow(b []byte) error {
	return validateMessage(b, func(num protowire.Number, _ protowire.Type) func([]byte) error {
		if num == fReportAttributes {
			return validateAttributes
		}
		return nil
	})
}

func validateAttributes(b []byte) error {
	return validateMessage(b, func(num protowire.Number, _ protowire.Type) func([]byte) error {
		if num >= fAttrFirstMap && num <= fAttrLastMap {
			return entryValidator[num-fAttrFirstMap]
		}
		return nil
	})
}

// entryValidator checks a map entry of each typed map: the key is a varint,
// the value of the map's type; message values are checked inside.
var entryValidator [nMaps]func([]byte) error

func init() {
	plain := func(b []byte) error { return validateMessage(b, nil) }
	withValue := func(v func([]byte) error) func([]byte) error {
		return func(b []byte) error {
			return validateMessage(b, func(num protowire.Number, _ protowire.Type) func([]byte) error {
				if num == fEntryValue {
					return v
				}
				return nil
			})
		}
	}
	stringMap := func(b []byte) error {
		return validateMessage(b, func(num protowire.Number, _ protowire.Type) func([]byte) error {
			if num == fStringMapEntry {
				return plain
			}
			return nil
		})
	}
	for w := range nMaps {
		entryValidator[w] = plain
	}
	entryValidator[wTimestamps] = withValue(plain)
	entryValidator[wDurations] = withValue(plain)
	entryValidator[wStringMaps] = withValue(stringMap)
}

// readEntry parses a validated map entry whose values have wire type want:
// its last key and its last scalar (varint or fixed64) or bytes value.
// Message values are merged over all occurrences by timeValue and
// stringMapEntries, from the entry itself.
func readEntry(b []byte, want protowire.Type) (key int32, num uint64, raw []byte) {
	// Most entries are the key and a varint value, each in a byte or two:
	// read those without the general loop, which gives the same result.
	if want == protowire.VarintType && len(b) >= 4 && b[0] == byte(fEntryKey<<3|protowire.VarintType) {
		if k, kn := smallVarint(b[1:]); kn > 0 && len(b) > 1+kn && b[1+kn] == byte(fEntryValue<<3|protowire.VarintType) {
			if v, vn := smallVarint(b[2+kn:]); vn > 0 && 2+kn+vn == len(b) {
				return sint32(k), v, nil
			}
		}
	}
	return readEntrySlow(b, want)
}

// readEntrySlow is readEntry for any entry.
func readEntrySlow(b []byte, want protowire.Type) (key int32, num uint64, raw []byte) {
	for len(b) > 0 {
		n, typ, rest := nextField(b)
		switch {
		case n == fEntryKey && typ == protowire.VarintType:
			var v uint64
			v, b = varint(rest)
			key = sint32(v)
			continue
		case n == fEntryValue && typ == want:
			switch typ {
			case protowire.VarintType:
				num, b = varint(rest)
			case protowire.Fixed64Type:
				v, n := protowire.ConsumeFixed64(rest)
				num, b = v, rest[n:]
			default:
				raw, b = lengthDelimited(rest)
			}
			continue
		}
		b = skip(n, typ, rest)
	}
	return key, num, raw
}

// smallVarint reads a varint of one or two bytes; n is 0 for anything else.
func smallVarint(b []byte) (v uint64, n int) {
	switch {
	case len(b) >= 1 && b[0] < 0x80:
		return uint64(b[0]), 1
	case len(b) >= 2 && b[1] < 0x80:
		return uint64(b[0]&0x7f) | uint64(b[1])<<7, 2
	}
	return 0, 0
}

// timeValue merges the Timestamp or Duration values of an entry.
func timeValue(entry []byte) (sec int64, nanos int32) {
	for b := entry; len(b) > 0; {
		num, typ, rest := nextField(b)
		if num != fEntryValue || typ != protowire.BytesType {
			b = skip(num, typ, rest)
			continue
		}
		var v []byte
		v, b = lengthDelimited(rest)
		for len(v) > 0 {
			num, typ, r := nextField(v)
			if typ == protowire.VarintType && (num == fTimeSeconds || num == fTimeNanos) {
				var x uint64
				x, v = varint(r)
				if num == fTimeSeconds {
					sec = int64(x)
				} else {
					nanos = int32(x)
				}
				continue
			}
			v = skip(num, typ, r)
		}
	}
	return sec, nanos
}

// stringMapEntries appends the (key, value) word indices of a string_maps
// entry's value, merged over all its occurrences, in wire order.
func stringMapEntries(entry []byte, keys, vals []int32) ([]int32, []int32) {
	for b := entry; len(b) > 0; {
		num, typ, rest := nextField(b)
		if num != fEntryValue || typ != protowire.BytesType {
			b = skip(num, typ, rest)
			continue
		}
		var sm []byte
		sm, b = lengthDelimited(rest)
		for len(sm) > 0 {
			num, typ, r := nextField(sm)
			if num != fStringMapEntry || typ != protowire.BytesType {
				sm = skip(num, typ, r)
				continue
			}
			var pair []byte
			pair, sm = lengthDelimited(r)
			k, v, _ := readEntry(pair, protowire.VarintType)
			keys, vals = append(keys, k), append(vals, sint32(v))
		}
	}
	return keys, vals
}

// sint32 decodes a zig-zag varint as protobuf-go does for sint32 fields.
func sint32(v uint64) int32 { return int32(protowire.DecodeZigZag(v & math.MaxUint32)) }

// wireString returns the bytes as a string without copying: the request's
// bytes are never changed after decoding, and records share them.
func wireString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
