package bagrecord

import (
	"net"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// Decode fills b (after resetting it) from the attributes of a bag record.
// Attributes outside b's vocabulary are skipped: no expression can use them.
//
// Sources of this distribution write the canonical encoding, which maps
// directly. Other producers (the transform processor, OTLP from elsewhere) may
// send a Str holding a decimal, an RFC 3339 time, a Go duration or a textual
// IP, or an Int where a DOUBLE is declared: those are converted to the
// declared type. A Str that does not convert counts as absent and is reported
// in the returned count. A value of another pdata type is stored as the type
// it has, so that expressions fail on it exactly as Mixer did on a wrong-typed
// wire value ("error converting value to string: '20'").
func Decode(attrs pcommon.Map, b *attribute.Bag) (unconvertible int) {
	b.Reset()
	vocab := b.Vocabulary()
	for name, v := range attrs.All() {
		if id, t, ok := vocab.Lookup(name); ok && !decodeValue(b, id, t, v) {
			unconvertible++
		}
	}
	return unconvertible
}

// Decoder is Decode with memory. Bags of one source usually list their
// attributes in the same order, so it first checks whether a name is the one
// it saw at the same position last time; otherwise it finds the name in a
// table of the names it has seen, which is cheaper than the vocabulary's
// map. It can also skip attributes nobody reads (Want). A Decoder is not
// safe for concurrent use.
type Decoder struct {
	// Want, when set before the first Decode, limits decoding to the
	// attributes whose slot it marks; the others are left absent.
	Want []bool

	vocab  *attribute.Vocabulary
	slots  []*decodeSlot // by position among a record's attributes
	packed []*decodeSlot // by position in a packed Body
	refs   []*decodeSlot // by dictionary index
	names  nameTable
}

type decodeSlot struct {
	name string
	id   int
	typ  attribute.Type
	ok   bool // in the vocabulary and wanted
}

// Decode is the package's Decode, faster for bags shaped like earlier ones.
func (d *Decoder) Decode(attrs pcommon.Map, b *attribute.Bag) (unconvertible int) {
	b.Reset()
	d.setVocabulary(b.Vocabulary())
	return d.decodeAttrs(attrs, b)
}

func (d *Decoder) setVocabulary(vocab *attribute.Vocabulary) {
	if d.vocab != vocab {
		d.vocab, d.slots, d.packed = vocab, d.slots[:0], d.packed[:0]
		clear(d.refs)
		d.names.reset()
	}
}

// decodeAttrs adds attrs to b.
func (d *Decoder) decodeAttrs(attrs pcommon.Map, b *attribute.Bag) (unconvertible int) {
	i := 0
	for name, v := range attrs.All() {
		s := d.lookupAt(&d.slots, i, name)
		i++
		if s.ok && !decodeValue(b, s.id, s.typ, v) {
			unconvertible++
		}
	}
	return unconvertible
}

// maxPositions bounds the positions a Decoder remembers per form: bags
// longer than that (a producer's mistake, or an attack) are read through the
// name table alone.
const maxPositions = 1024

// lookupAt is lookup for position i of a bag.
func (d *Decoder) lookupAt(slots *[]*decodeSlot, i int, name string) *decodeSlot {
	if i >= maxPositions {
		var none *decodeSlot
		return d.lookup(&none, name)
	}
	if i == len(*slots) {
		*slots = append(*slots, nil)
	}
	return d.lookup(&(*slots)[i], name)
}

// lookupRef returns what dictionary word ref (valid) resolves to.
func (d *Decoder) lookupRef(ref int) *decodeSlot {
	if d.refs == nil {
		d.refs = make([]*decodeSlot, len(dictionary))
	}
	if s := d.refs[ref]; s != nil {
		return s
	}
	return d.lookup(&d.refs[ref], dictionary[ref])
}

// lookup returns what name resolves to, remembering it for this position.
func (d *Decoder) lookup(at **decodeSlot, name string) *decodeSlot {
	if s := *at; s != nil && s.name == name {
		return s
	}
	s := d.names.find(name)
	if s == nil {
		// A copy: name may point into a record's buffer, which the
		// table would otherwise keep alive.
		s = &decodeSlot{name: strings.Clone(name)}
		s.id, s.typ, s.ok = d.vocab.Lookup(name)
		if s.ok && d.Want != nil && (s.id >= len(d.Want) || !d.Want[s.id]) {
			s.ok = false
		}
		// Names come from the data: the table keeps a bounded number.
		d.names.add(s)
	}
	*at = s
	return s
}

func decodeValue(b *attribute.Bag, id int, t attribute.Type, v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return decodeStr(b, id, t, v.Str())
	case pcommon.ValueTypeInt:
		decodeInt(b, id, t, v.Int())
	case pcommon.ValueTypeDouble:
		b.SetDouble(id, v.Double())
	case pcommon.ValueTypeBool:
		b.SetBool(id, v.Bool())
	case pcommon.ValueTypeBytes:
		// IP_ADDRESS travels as raw bytes; Mixer kept any length (a 3-byte
		// value prints as "?010203"). Copy through an array: AsRaw allocates.
		bs := v.Bytes()
		if bs.Len() > net.IPv6len {
			b.SetBytes(id, bs.AsRaw())
			break
		}
		var ip [net.IPv6len]byte
		for i := range bs.Len() {
			ip[i] = bs.At(i)
		}
		b.SetBytes(id, ip[:bs.Len()])
	case pcommon.ValueTypeMap:
		m := b.MapFor(id)
		if m == nil {
			return false
		}
		for k, e := range v.Map().All() {
			if e.Type() == pcommon.ValueTypeStr {
				m.Set(k, e.Str())
			} else {
				m.Set(k, e.AsString())
			}
		}
	default:
		return false
	}
	return true
}

func decodeInt(b *attribute.Bag, id int, t attribute.Type, n int64) {
	switch t {
	case attribute.TypeTimestamp:
		b.SetTimeNanos(id, n)
	case attribute.TypeDuration:
		b.SetDuration(id, time.Duration(n))
	case attribute.TypeDouble:
		b.SetDouble(id, float64(n))
	default:
		b.SetInt64(id, n)
	}
}

func decodeStr(b *attribute.Bag, id int, t attribute.Type, s string) bool {
	switch t {
	case attribute.TypeString:
		b.SetString(id, s)
	case attribute.TypeDNSName:
		b.Set(id, attribute.DNSNameValue(s))
	case attribute.TypeEmailAddress:
		b.Set(id, attribute.EmailValue(s))
	case attribute.TypeURI:
		b.Set(id, attribute.URIValue(s))
	case attribute.TypeInt64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return false
		}
		b.SetInt64(id, n)
	case attribute.TypeDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return false
		}
		b.SetDouble(id, f)
	case attribute.TypeBool:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return false
		}
		b.SetBool(id, v)
	case attribute.TypeTimestamp:
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return false
		}
		b.SetTime(id, ts)
	case attribute.TypeDuration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return false
		}
		b.SetDuration(id, d)
	case attribute.TypeIPAddress:
		ip := net.ParseIP(s)
		if ip == nil {
			return false
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		b.SetBytes(id, ip)
	default:
		// A STRING_MAP sent as a string: keep it as what it is.
		b.SetString(id, s)
	}
	return true
}
