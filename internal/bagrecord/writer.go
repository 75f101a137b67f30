package bagrecord

import (
	"net/netip"
	"slices"
	"strings"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// Writer writes bag records in either form for a source that builds them
// attribute by attribute (the ALS mapper). In the packed form the records
// of one batch share one buffer; Reset starts a new one for the next batch
// (the records of earlier batches keep theirs).
type Writer struct {
	packed bool

	// The record being written.
	lr           plog.LogRecord
	ts, observed time.Time   // packed form: set with the body by End
	m            pcommon.Map // attribute form
	sm           pcommon.Map // attribute form: the string map being filled
	start        int         // packed form: where the bag starts in buf
	countAt      int         // packed form: where the string map's count goes
	mapCount     int

	refs *refCache // packed form: made on first use

	buf     []byte
	hint    int // records expected in this batch
	perBag  int // bytes a packed bag took in the last batch
	written int // bags in this batch
}

// NewWriter returns a Writer of the packed form when packed is true, of the
// attribute form otherwise.
func NewWriter(packed bool) *Writer { return &Writer{packed: packed} }

// Packed reports whether w writes the packed form.
func (w *Writer) Packed() bool { return w.packed }

// Mark returns the end of the packed record being written, for Since.
func (w *Writer) Mark() int { return len(w.buf) }

// Since returns the packed pairs written since mark, in the Writer's own
// buffer: copy them to keep them. A caller that writes the same attributes
// for many records (a peer's workload) keeps them and hands them to Pairs.
// The attribute form has no pairs: nil.
func (w *Writer) Since(mark int) []byte {
	if !w.packed {
		return nil
	}
	return w.buf[mark:]
}

// Pairs appends packed pairs that Since returned for an earlier record of
// this Writer (packed form only).
func (w *Writer) Pairs(b []byte) { w.buf = append(w.buf, b...) }

// Reset starts a new batch of n records (n is a hint for the buffer size).
// The records of the previous batch keep their bytes; the new buffer is
// made when the batch's first record is.
func (w *Writer) Reset(n int) {
	if w.written > 0 {
		w.perBag = len(w.buf)/w.written + 64
	}
	w.buf, w.written, w.hint = nil, 0, n
}

// Begin starts the bag record lr, like InitRecord; n is the number of
// attributes expected.
func (w *Writer) Begin(lr plog.LogRecord, ts, observed time.Time, n int) {
	w.lr = lr
	if !w.packed {
		w.m = InitRecord(lr, ts, observed, n)
		return
	}
	w.ts, w.observed = ts, observed
	w.Open()
}

// End finishes the record begun last.
func (w *Writer) End() {
	if w.packed {
		w.Close(w.lr, w.ts, w.observed)
	}
}

// Open starts a packed bag whose record is only named by Close, so that
// a bag found bad halfway costs no record: Discard drops it. Packed form
// only.
func (w *Writer) Open() {
	if w.buf == nil {
		per := w.perBag
		if per == 0 {
			per = 1024
		}
		w.buf = make([]byte, 0, per*max(w.hint, 1))
	}
	w.start = len(w.buf)
	w.buf = kvpack.Begin(w.buf)
}

// Discard drops the bag opened last.
func (w *Writer) Discard() { w.buf = w.buf[:w.start] }

// Close makes lr the bag record of the bag opened last.
func (w *Writer) Close(lr plog.LogRecord, ts, observed time.Time) {
	InitPacked(lr, ts, observed, w.buf[w.start:])
	w.written++
}

// String stores a STRING, DNS_NAME, EMAIL_ADDRESS or URI attribute.
func (w *Writer) String(name, v string) { w.StringRef(w.refOf(name), name, v) }

// StringRef is String for a name that is dictionary word ref (see
// Dictionary; -1 for none): the packed form stores the index. String finds
// ref itself; a caller that already knows it saves that lookup.
func (w *Writer) StringRef(ref int, name, v string) {
	if w.packed {
		w.buf = kvpack.AppendStrRef(w.buf, ref, name, v)
		return
	}
	PutString(w.m, name, v)
}

// Int64 stores an INT64 attribute.
func (w *Writer) Int64(name string, v int64) { w.Int64Ref(w.refOf(name), name, v) }

// Int64Ref is Int64 for dictionary word ref (see StringRef).
func (w *Writer) Int64Ref(ref int, name string, v int64) {
	if w.packed {
		w.buf = kvpack.AppendIntRef(w.buf, ref, name, v)
		return
	}
	PutInt64(w.m, name, v)
}

// Double stores a DOUBLE attribute.
func (w *Writer) Double(name string, v float64) { w.DoubleRef(w.refOf(name), name, v) }

// DoubleRef is Double for dictionary word ref (see StringRef).
func (w *Writer) DoubleRef(ref int, name string, v float64) {
	if w.packed {
		w.buf = kvpack.AppendDoubleRef(w.buf, ref, name, v)
		return
	}
	PutDouble(w.m, name, v)
}

// Bool stores a BOOL attribute.
func (w *Writer) Bool(name string, v bool) { w.BoolRef(w.refOf(name), name, v) }

// BoolRef is Bool for dictionary word ref (see StringRef).
func (w *Writer) BoolRef(ref int, name string, v bool) {
	if w.packed {
		w.buf = kvpack.AppendBoolRef(w.buf, ref, name, v)
		return
	}
	PutBool(w.m, name, v)
}

// Timestamp stores a TIMESTAMP attribute (see PutTimestamp).
func (w *Writer) Timestamp(name string, t time.Time) {
	if !w.packed {
		PutTimestamp(w.m, name, t)
		return
	}
	if t.Before(minTime) || t.After(maxTime) {
		w.buf = AppendTimestampText(w.buf, name, t.UTC().Format(time.RFC3339Nano))
		return
	}
	w.TimestampNanosRef(w.refOf(name), name, t.UnixNano())
}

// Duration stores a DURATION attribute.
func (w *Writer) Duration(name string, d time.Duration) { w.DurationRef(w.refOf(name), name, d) }

// DurationRef is Duration for dictionary word ref (see StringRef).
func (w *Writer) DurationRef(ref int, name string, d time.Duration) {
	if w.packed {
		w.buf = kvpack.AppendIntRef(w.buf, ref, name, int64(d))
		return
	}
	PutDuration(w.m, name, d)
}

// IP stores an IP_ADDRESS attribute (the bytes are copied).
func (w *Writer) IP(name string, ip []byte) { w.IPRef(w.refOf(name), name, ip) }

// IPRef is IP for dictionary word ref (see StringRef).
func (w *Writer) IPRef(ref int, name string, ip []byte) {
	if w.packed {
		w.buf = kvpack.AppendBytesRef(w.buf, ref, name, ip)
		return
	}
	PutIP(w.m, name, ip)
}

// BeginStringMap starts a STRING_MAP attribute with room for n entries;
// StringMapEntry calls and one EndStringMap follow.
func (w *Writer) BeginStringMap(name string, n int) { w.BeginStringMapRef(w.refOf(name), name, n) }

// BeginStringMapRef is BeginStringMap for dictionary word ref (see
// StringRef).
func (w *Writer) BeginStringMapRef(ref int, name string, n int) {
	if !w.packed {
		w.sm = PutStringMap(w.m, name, n)
		return
	}
	w.buf, w.countAt = kvpack.BeginMapRef(w.buf, ref, name)
	w.mapCount = 0
}

// StringMapEntry adds an entry to the STRING_MAP begun last. Keys must not
// repeat.
func (w *Writer) StringMapEntry(k, v string) {
	if w.packed {
		w.buf = AppendStringMapEntry(w.buf, k, v)
		w.mapCount++
		return
	}
	w.sm.PutStr(k, v)
}

// EndStringMap finishes the STRING_MAP begun last.
func (w *Writer) EndStringMap() {
	if w.packed {
		kvpack.EndMap(w.buf, w.countAt, w.mapCount)
	}
}

// TimestampNanos stores a TIMESTAMP attribute already in Unix nanoseconds.
func (w *Writer) TimestampNanos(name string, ns int64) { w.TimestampNanosRef(w.refOf(name), name, ns) }

// TimestampNanosRef is TimestampNanos for dictionary word ref (see
// StringRef).
func (w *Writer) TimestampNanosRef(ref int, name string, ns int64) {
	if w.packed {
		w.buf = kvpack.AppendIntRef(w.buf, ref, name, ns)
		return
	}
	PutTimestampNanos(w.m, name, ns)
}

// StringIfSet stores a STRING attribute unless v is empty: sources leave
// out what the proxy did not know.
func (w *Writer) StringIfSet(name, v string) {
	if v != "" {
		w.String(name, v)
	}
}

// Addr stores an IP_ADDRESS attribute as 4 bytes for an IPv4 address and 16
// otherwise.
func (w *Writer) Addr(name string, ip netip.Addr) {
	if ip.Is4() {
		b := ip.As4()
		w.IP(name, b[:])
		return
	}
	b := ip.As16()
	w.IP(name, b[:])
}

// QueryParams stores a query string as a STRING_MAP the way the Istio 1.1
// proxy filled request.query_params: the first value of a repeated key
// wins and nothing is unescaped.
func (w *Writer) QueryParams(name, query string) {
	w.BeginStringMap(name, strings.Count(query, "&")+1)
	var seenBuf [8]string
	seen := seenBuf[:0]
	for part := range strings.SplitSeq(query, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if !slices.Contains(seen, k) {
			seen = append(seen, k)
			w.StringMapEntry(k, v)
		}
	}
	w.EndStringMap()
}

// refCache remembers the dictionary index of the names a Writer was given
// last, by where their bytes are: sources name attributes with constants,
// whose bytes stay put, so a lookup is a pointer hash and a comparison that
// the equal pointers decide. The comparison keeps a reused address from
// returning another name's index; the names kept are bounded. Each name
// may sit in either of two neighbouring entries, so that two names whose
// hashes collide do not evict each other on every bag.
type refCache [refCacheSize]struct {
	name string
	ref  int32
	set  bool
}

const refCacheSize = 512 // a power of two

// refOf returns name's dictionary index for the packed form, -1 for a name
// outside the dictionary (and for the attribute form, which has no use for it).
func (w *Writer) refOf(name string) int {
	if !w.packed {
		return -1
	}
	if w.refs == nil {
		w.refs = new(refCache)
	}
	p := uint64(uintptr(unsafe.Pointer(unsafe.StringData(name)))) ^ uint64(len(name))
	i := (p * 0x9e3779b97f4a7c15 >> 55) &^ 1 // the first of two entries
	a, b := &w.refs[i], &w.refs[i+1]
	if a.set && a.name == name {
		return int(a.ref)
	}
	if b.set && b.name == name {
		return int(b.ref)
	}
	ref, ok := attribute.GlobalIndex(name)
	if !ok {
		ref = -1
	}
	// The newer name goes first; the older one moves to the second entry.
	*b = *a
	a.name, a.ref, a.set = name, int32(ref), true
	return ref
}
