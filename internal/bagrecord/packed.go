package bagrecord

import (
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// The packed form of a bag record carries the same canonical values, in the
// same order, as one Bytes Body encoded with internal/kvpack instead of one
// pdata attribute per Istio attribute. Storing ~50 attributes in pdata costs
// an allocation and a scan of the keys already present for each; the packed
// form costs an append to a buffer the source reuses for the whole request,
// and the rules engine reads it back without pdata in between.
//
// A record is packed when its Body is Bytes starting with kvpack.Version.
// Attributes a processor adds to a packed record (transform's `set`) are
// read after the packed ones and win over them; processors cannot read the
// packed attributes themselves, which is why sources pack only on request.

// A packed bag may name an attribute by its index in Mixer's global
// dictionary (kvpack's dictionary keys), which holds every name of Istio's
// vocabulary: the Mixer receiver has that index at hand, and the engine then
// finds the attribute's slot by index instead of by its name.
var dictionary = attribute.GlobalDictionary()

// Dictionary returns the words a packed bag's dictionary keys index (a
// copy): Mixer's global dictionary.
func Dictionary() []string { return attribute.GlobalDictionary() }

// IsPacked reports whether lr is a bag record in the packed form.
func IsPacked(lr plog.LogRecord) bool {
	return kvpack.IsPacked(kvpack.BytesOf(lr.Body()))
}

// InitPacked marks lr as a bag record with the given times, like InitRecord,
// and sets its packed Body to buf, which lr then references: buf must not
// change afterwards. Sources append a request's bags to one buffer and hand
// each record its part.
func InitPacked(lr plog.LogRecord, ts, observed time.Time, buf []byte) {
	lr.SetEventName(EventName)
	if !ts.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	}
	if !observed.IsZero() {
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(observed))
	}
	kvpack.SetBytes(lr.Body(), buf)
}

// BeginPacked starts a packed bag at the end of dst.
func BeginPacked(dst []byte) []byte { return kvpack.Begin(dst) }

// AppendString appends a STRING, DNS_NAME, EMAIL_ADDRESS or URI attribute.
func AppendString(dst []byte, name, v string) []byte { return kvpack.AppendStr(dst, name, v) }

// AppendInt64 appends an INT64 attribute.
func AppendInt64(dst []byte, name string, v int64) []byte { return kvpack.AppendInt(dst, name, v) }

// AppendDouble appends a DOUBLE attribute.
func AppendDouble(dst []byte, name string, v float64) []byte {
	return kvpack.AppendDouble(dst, name, v)
}

// AppendBool appends a BOOL attribute.
func AppendBool(dst []byte, name string, v bool) []byte { return kvpack.AppendBool(dst, name, v) }

// AppendTimestampNanos appends a TIMESTAMP attribute in Unix nanoseconds.
func AppendTimestampNanos(dst []byte, name string, ns int64) []byte {
	return kvpack.AppendInt(dst, name, ns)
}

// AppendTimestampText appends a TIMESTAMP attribute that int64 nanoseconds
// cannot hold, as its RFC 3339 text (see PutTimestamp).
func AppendTimestampText(dst []byte, name, rfc3339 string) []byte {
	return kvpack.AppendStr(dst, name, rfc3339)
}

// AppendDuration appends a DURATION attribute in nanoseconds.
func AppendDuration(dst []byte, name string, d time.Duration) []byte {
	return kvpack.AppendInt(dst, name, int64(d))
}

// AppendIP appends an IP_ADDRESS attribute as its raw bytes.
func AppendIP(dst []byte, name string, ip []byte) []byte { return kvpack.AppendBytes(dst, name, ip) }

// AppendStringMap appends the head of a STRING_MAP attribute of n entries;
// n calls of AppendStringMapEntry follow.
func AppendStringMap(dst []byte, name string, n int) []byte { return kvpack.AppendMap(dst, name, n) }

// AppendStringMapEntry appends one entry of the STRING_MAP begun last.
func AppendStringMapEntry(dst []byte, k, v string) []byte { return kvpack.AppendMapEntry(dst, k, v) }

// Unpack rewrites a packed bag record into the attribute form (for OTTL
// expressions, which read attributes, and for tools that show records).
// Attributes already on the record win over packed ones of the same name.
// A record that is not packed is left alone.
func Unpack(lr plog.LogRecord) error {
	if !IsPacked(lr) {
		return nil
	}
	raw := kvpack.BytesOf(lr.Body())
	attrs := lr.Attributes()
	existing := attrs.Len()
	r := kvpack.NewDictReader(raw, dictionary)
	var p kvpack.Pair
	for r.Next(&p) {
		if existing > 0 {
			if _, ok := attrs.Get(p.Key); ok {
				continue
			}
		}
		switch p.Kind {
		case kvpack.Str:
			attrs.PutStr(p.Key, p.Text)
		case kvpack.Int:
			attrs.PutInt(p.Key, p.Int())
		case kvpack.Double:
			attrs.PutDouble(p.Key, p.Double())
		case kvpack.Bool:
			attrs.PutBool(p.Key, p.Bool())
		case kvpack.Bytes:
			attrs.PutEmptyBytes(p.Key).FromRaw([]byte(p.Text))
		case kvpack.Map:
			m := attrs.PutEmptyMap(p.Key)
			m.EnsureCapacity(p.Len())
			it := p.Entries()
			for k, v, ok := it.Next(); ok; k, v, ok = it.Next() {
				m.PutStr(k, v)
			}
		default:
			attrs.PutEmpty(p.Key)
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	lr.Body().SetStr("")
	return nil
}

// DecodeRecord fills b (after resetting it) from a bag record in either
// form: the packed Body first, then the attributes, so that attributes a
// processor set on a packed record win. A packed Body that is corrupt
// yields the attributes read before the damage and err.
func (d *Decoder) DecodeRecord(lr plog.LogRecord, b *attribute.Bag) (unconvertible int, err error) {
	raw := kvpack.BytesOf(lr.Body())
	if !kvpack.IsPacked(raw) {
		return d.Decode(lr.Attributes(), b), nil
	}
	b.Reset()
	d.setVocabulary(b.Vocabulary())
	unconvertible, err = d.decodePacked(raw, b)
	if attrs := lr.Attributes(); attrs.Len() > 0 {
		unconvertible += d.decodeAttrs(attrs, b)
	}
	return unconvertible, err
}

func (d *Decoder) decodePacked(raw []byte, b *attribute.Bag) (unconvertible int, err error) {
	r := kvpack.NewDictReader(raw, dictionary)
	var p kvpack.Pair
	i := 0
	for r.Next(&p) {
		var s *decodeSlot
		if p.Ref >= 0 {
			s = d.lookupRef(p.Ref)
		} else {
			// i counts the text keys only: their positions are what the
			// positional cache remembers.
			s = d.lookupAt(&d.packed, i, p.Key)
			i++
		}
		if s.ok && !decodePair(b, s.id, s.typ, &p) {
			unconvertible++
		}
	}
	return unconvertible, r.Err()
}

// decodePair is decodeValue for a packed pair.
func decodePair(b *attribute.Bag, id int, t attribute.Type, p *kvpack.Pair) bool {
	switch p.Kind {
	case kvpack.Str:
		return decodeStr(b, id, t, p.Text)
	case kvpack.Int:
		decodeInt(b, id, t, p.Int())
	case kvpack.Double:
		b.SetDouble(id, p.Double())
	case kvpack.Bool:
		b.SetBool(id, p.Bool())
	case kvpack.Bytes:
		// SetBytes copies into the slot's own buffer.
		b.SetBytes(id, unsafe.Slice(unsafe.StringData(p.Text), len(p.Text)))
	case kvpack.Map:
		m := b.MapFor(id)
		if m == nil {
			return false
		}
		it := p.Entries()
		for k, v, ok := it.Next(); ok; k, v, ok = it.Next() {
			m.Set(k, v)
		}
	default:
		return false
	}
	return true
}

// AppendValue appends a typed attribute value in the canonical encoding (the
// packed PutValue).
func AppendValue(dst []byte, name string, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.TypeString, attribute.TypeDNSName, attribute.TypeEmailAddress, attribute.TypeURI:
		return AppendString(dst, name, v.Str())
	case attribute.TypeInt64:
		return AppendInt64(dst, name, v.Int64())
	case attribute.TypeDouble:
		return AppendDouble(dst, name, v.Double())
	case attribute.TypeBool:
		return AppendBool(dst, name, v.Bool())
	case attribute.TypeTimestamp:
		if t := v.Time(); t.Before(minTime) || t.After(maxTime) {
			return AppendTimestampText(dst, name, t.UTC().Format(time.RFC3339Nano))
		}
		return AppendTimestampNanos(dst, name, v.Time().UnixNano())
	case attribute.TypeDuration:
		return AppendDuration(dst, name, v.Duration())
	case attribute.TypeIPAddress:
		return AppendIP(dst, name, v.IP())
	case attribute.TypeStringMap:
		sm := v.StringMap()
		dst = AppendStringMap(dst, name, sm.Len())
		sm.Range(func(k, val string) bool {
			dst = AppendStringMapEntry(dst, k, val)
			return true
		})
	}
	return dst
}
