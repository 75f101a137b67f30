// Package mixerreport converts Mixer Report requests (compressed attribute
// bags, internal/mixerpb) to attribute-bag log records (DESIGN §3.1) and back.
//
// Decoding follows Mixer 1.7 (shared/reference/mixer-semantics.md §a.3–a.4):
//
//   - A word index >= 0 is a global dictionary word, an index < 0 the word
//     -index-1 of the message word list; an element without words uses the
//     request's default_words.
//   - INDEPENDENT_ENCODING: every element is a complete bag. DELTA_ENCODING:
//     element 0 is a complete bag and every later element is applied on top
//     of the bag accumulated so far; each element yields the accumulated bag.
//   - A complete bag is read the way Mixer's lazy bag read it: the typed maps
//     are probed in the order strings, string_maps, int64s, doubles, bools,
//     timestamps, durations, bytes and the first hit wins; an attribute whose
//     name index is undefined is invisible; one whose value index is
//     undefined is absent (Mixer logged it, the report went on); a name that
//     is also in the message word list is looked up only by its message index
//     (so an entry keyed by its global index is invisible), and a word listed
//     twice only by its last slot.
//   - A delta element fails (no report) on an undefined index or a name given
//     in two typed maps (duplicates inside the strings map are ignored); what
//     it applied before failing stays in the accumulated bag, as in Mixer.
//   - A global_word_count above our dictionary rejects the request.
//
// Where we differ: Mixer's protobuf codec refused a whole request holding a
// timestamp or duration out of range; here only that element fails. A failed
// delta element does not leave empty-named or empty-valued attributes behind
// (Mixer stored "" for an undefined word). A bag of more than MaxAttributes
// attributes or a string map of more than MaxStringMapEntries entries fails
// its element (Mixer had no bound). Where Mixer iterated Go maps in
// random order (which of several undefined indices or duplicates it named
// first, what a delta element applied before failing), the order here is
// fixed: typed map by typed map, last wire entry first.
//
// The decoder reads the wire bytes itself (see wire.go): it is the receive
// path's main cost, and like Mixer it accepts words that are not UTF-8.
package mixerreport // import "github.com/otelcol-istio/otelcol-istio/internal/mixerreport"

import (
	"fmt"
	"math"
	"slices"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// MaxWarnings bounds Result.Warnings; Result.Dropped still counts them all.
const MaxWarnings = 16

// Bounds on one bag, far above what Istio sends (a few dozen attributes,
// headers maps of tens of entries). pdata finds a key by scanning, so a bag
// of a hundred thousand attributes would cost minutes; Mixer, which looked
// attributes up lazily, had no such cost. An element beyond a bound fails.
const (
	MaxAttributes       = 1024
	MaxStringMapEntries = 1024
)

// Warning is an attribute left out of a report that was still produced,
// worded like Mixer's log line for it.
type Warning struct {
	Index   int // element
	Message string
}

// Result is what one Decode produced besides the records. It belongs to the
// Decoder and is valid until its next Decode.
type Result struct {
	Reports  int            // records appended
	Errors   []ElementError // elements that produced no record, in order
	Dropped  int            // attributes left out of produced records
	Warnings []Warning      // the first MaxWarnings of those
}

func (r *Result) reset() {
	r.Reports = 0
	r.Errors = r.Errors[:0]
	r.Dropped = 0
	r.Warnings = r.Warnings[:0]
}

// entry is one resolved attribute, kept small because a bag has dozens: str
// holds a STRING, the bytes of a BYTES value, or a TIMESTAMP outside the
// int64 nanosecond range as RFC 3339 text; num holds INT64, TIMESTAMP (Unix
// ns), DURATION (ns), BOOL (0/1), DOUBLE (IEEE bits), and for a STRING_MAP
// the offset<<32 | length of its key, value, key, value ... words in the
// owner's pair storage.
type entry struct {
	name string
	str  string
	num  int64
	kind Kind
	// word is the name's index in bagrecord.Dictionary() + 1, for packed
	// records to name it by; 0 when it has none (a message word).
	word int32
}

func pairsRef(off, n int) int64 { return int64(off)<<32 | int64(n) }

func pairsOf(e *entry, storage []string) []string {
	off, n := int(e.num>>32), int(e.num&0xffffffff)
	return storage[off : off+n : off+n]
}

// Decoder turns ReportRequests into bag records. It reuses its buffers from
// call to call, so it is not safe for concurrent use: give each goroutine its
// own (they are cheap once built) or pool them.
type Decoder struct {
	global      []string
	globalIndex map[string]int32

	// The request being decoded: its elements, default words, and the
	// current element's own words and typed-map entries.
	elems        [][]byte
	defaultWords []string
	elemWords    []string
	maps         [nMaps][][]byte

	// The message word list in use and, per index, the index Mixer's lazy
	// bag would look that word up by (its "canonical" index).
	words       []string
	canon       []int32 // per slot
	globalBase  []int32 // per global index, without message words
	globalCanon []int32 // per global index
	shadowed    []int32 // global indices whose globalCanon points into words
	lastSlot    map[string]int32

	seen      []uint64 // canonical indices already set in the current element
	mapSeen   []uint64 // keys already read in the current typed map
	undefKeys []int32  // the same for undefined keys
	entries   []entry
	pairs     []string
	undef     []int32
	smKeys    []int32
	smVals    []int32
	smSeen    map[int32]struct{}

	acc accumulator
	res Result

	// The current bag's request.time and context.time (Unix ns), for the
	// record time.
	reqTime, ctxTime int64

	// w writes the records; in the packed form a request's records share
	// one buffer, a new one per request.
	w *bagrecord.Writer
	// byWord: the global words agree with bagrecord.Dictionary(), so a
	// name given by global index is written as that index.
	byWord bool
}

// SetPacked, when on, makes the Decoder write bag records in the packed form
// (bagrecord.InitPacked) instead of one attribute per Istio attribute.
func (d *Decoder) SetPacked(on bool) { d.w = bagrecord.NewWriter(on) }

// NewDecoder returns a Decoder over the given global dictionary (word i has
// index i); it keeps the slice.
func NewDecoder(globalWords []string) *Decoder {
	d := &Decoder{
		global:      globalWords,
		globalIndex: make(map[string]int32, len(globalWords)),
		globalBase:  make([]int32, len(globalWords)),
		globalCanon: make([]int32, len(globalWords)),
		lastSlot:    make(map[string]int32),
		smSeen:      make(map[int32]struct{}),
		acc:         accumulator{index: make(map[string]int)},
		w:           bagrecord.NewWriter(false),
	}
	for i, w := range globalWords {
		d.globalIndex[w] = int32(i)
	}
	for i, w := range globalWords {
		d.globalBase[i] = d.globalIndex[w]
	}
	copy(d.globalCanon, d.globalBase)
	dict := bagrecord.Dictionary()
	d.byWord = len(globalWords) <= len(dict) && slices.Equal(globalWords, dict[:len(globalWords)])
	return d
}

// NewDefaultDecoder returns a Decoder over Mixer's newest global dictionary
// (222 words).
func NewDefaultDecoder() *Decoder { return NewDecoder(attribute.GlobalDictionary()) }

// CheckGlobalWordCount rejects a caller that knows more global words than the
// Decoder, as Mixer did for Check and Report alike.
func (d *Decoder) CheckGlobalWordCount(n uint32) error {
	if uint64(n) > uint64(len(d.global)) {
		return &DictionaryError{Known: len(d.global), Caller: int(n)}
	}
	return nil
}

// Decode appends one bag record per element of req to out, in order, with
// ObservedTimestamp = observed and Timestamp = request.time, else
// context.time, when the bag has one. Elements that fail produce no record
// and are listed in Result.Errors. The error is non-nil only when the whole
// request is refused (*DictionaryError); an empty request is never refused.
//
// It is DecodeWire on req's wire form.
func (d *Decoder) Decode(req *mixerpb.ReportRequest, out plog.LogRecordSlice, observed time.Time) (*Result, error) {
	raw, err := proto.Marshal(req)
	if err != nil {
		d.res.reset()
		return &d.res, &WireError{Err: err}
	}
	return d.DecodeWire(raw, out, observed)
}

// DecodeWire is Decode on the wire bytes of a ReportRequest, as gRPC
// received them. It also refuses (*WireError) bytes that are not a
// ReportRequest; then out may hold records of earlier elements, to be
// discarded. Records share memory with raw, which must not change
// afterwards.
func (d *Decoder) DecodeWire(raw []byte, out plog.LogRecordSlice, observed time.Time) (*Result, error) {
	d.res.reset()
	defer d.forget()
	if err := validateReport(raw); err != nil {
		return &d.res, &WireError{Err: err}
	}
	globalCount, semantics := d.readRequest(raw)
	if len(d.elems) == 0 {
		return &d.res, nil
	}
	if err := d.CheckGlobalWordCount(globalCount); err != nil {
		return &d.res, err
	}
	out.EnsureCapacity(out.Len() + len(d.elems))
	d.w.Reset(len(d.elems))
	// Mixer took anything but INDEPENDENT_ENCODING for DELTA_ENCODING.
	delta := semantics != int32(mixerpb.ReportRequest_INDEPENDENT_ENCODING)
	onDefault := false
	for i, el := range d.elems {
		d.splitElement(el)
		if len(d.elemWords) > 0 {
			d.setWords(d.elemWords)
			onDefault = false
		} else if !onDefault {
			d.setWords(d.defaultWords)
			onDefault = true
		}

		if !delta && d.w.Packed() {
			// A complete bag goes straight into its record, which is only
			// appended to out once the bag has resolved without error.
			d.w.Open()
			err := d.resolveFull(i, true)
			if err != nil {
				d.w.Discard()
				d.res.Errors = append(d.res.Errors, ElementError{Index: i, Err: err})
				continue
			}
			d.res.Reports++
			d.w.Close(out.AppendEmpty(), d.bagTime(), observed)
			continue
		}
		if !delta || i == 0 {
			err := d.resolveFull(i, false)
			if delta {
				d.acc.load(d.entries, d.pairs)
			}
			if err != nil {
				d.res.Errors = append(d.res.Errors, ElementError{Index: i, Err: err})
				continue
			}
			if delta {
				d.write(out, d.acc.attrs, d.acc.pairs, observed)
			} else {
				d.write(out, d.entries, d.pairs, observed)
			}
			continue
		}
		if err := d.applyDelta(); err != nil {
			d.res.Errors = append(d.res.Errors, ElementError{Index: i, Err: err})
			continue
		}
		d.write(out, d.acc.attrs, d.acc.pairs, observed)
	}
	return &d.res, nil
}

// entryCount is the number of typed-map entries of the current element, an
// upper bound of its attributes.
func (d *Decoder) entryCount() int {
	n := 0
	for _, m := range d.maps {
		n += len(m)
	}
	return n
}

// readRequest collects the elements and default words of a validated
// request and returns its global word count and encoding.
func (d *Decoder) readRequest(raw []byte) (globalCount uint32, semantics int32) {
	d.elems = d.elems[:0]
	d.defaultWords = d.defaultWords[:0]
	for b := raw; len(b) > 0; {
		num, typ, rest := nextField(b)
		switch {
		case num == fReportAttributes && typ == protowire.BytesType:
			var v []byte
			v, b = lengthDelimited(rest)
			d.elems = append(d.elems, v)
		case num == fReportDefaultWords && typ == protowire.BytesType:
			var v []byte
			v, b = lengthDelimited(rest)
			d.defaultWords = append(d.defaultWords, wireString(v))
		case num == fReportGlobalCount && typ == protowire.VarintType:
			var v uint64
			v, b = varint(rest)
			globalCount = uint32(v)
		case num == fReportSemantics && typ == protowire.VarintType:
			var v uint64
			v, b = varint(rest)
			semantics = int32(v)
		default:
			b = skip(num, typ, rest)
		}
	}
	return globalCount, semantics
}

// forget drops the decoder's references into the request's bytes, so that
// an idle pooled decoder does not keep a request alive.
func (d *Decoder) forget() {
	clear(d.elems)
	clear(d.defaultWords)
	clear(d.elemWords)
	for w := range d.maps {
		clear(d.maps[w])
	}
	clear(d.entries)
	clear(d.pairs)
	d.words = nil
	d.restoreGlobal()
	clear(d.lastSlot)
	clear(d.acc.attrs)
	clear(d.acc.pairs)
	clear(d.acc.index)
}

// splitElement collects an element's words and, per typed map, its entries.
func (d *Decoder) splitElement(b []byte) {
	d.elemWords = d.elemWords[:0]
	for w := range d.maps {
		d.maps[w] = d.maps[w][:0]
	}
	for len(b) > 0 {
		num, typ, rest := nextField(b)
		switch {
		case typ != protowire.BytesType:
			b = skip(num, typ, rest)
		case num == fAttrWords:
			var v []byte
			v, b = lengthDelimited(rest)
			d.elemWords = append(d.elemWords, wireString(v))
		case num >= fAttrFirstMap && num <= fAttrLastMap:
			var v []byte
			v, b = lengthDelimited(rest)
			w := num - fAttrFirstMap
			d.maps[w] = append(d.maps[w], v)
		default:
			b = skip(num, typ, rest)
		}
	}
}

// restoreGlobal undoes the shadowing of global words by message words.
func (d *Decoder) restoreGlobal() {
	for _, g := range d.shadowed {
		d.globalCanon[g] = d.globalBase[g]
	}
	d.shadowed = d.shadowed[:0]
}

// setWords makes words the message word list and works out which index
// Mixer's lazy bag would look each word up by: the last slot of a word in
// words, else its global index.
func (d *Decoder) setWords(words []string) {
	d.restoreGlobal()
	d.words = words
	d.canon = d.canon[:0]
	if len(words) > 0 {
		// From the last slot back, so that a word's first sighting is its
		// last slot.
		clear(d.lastSlot)
		d.canon = slices.Grow(d.canon, len(words))[:len(words)]
		for i := len(words) - 1; i >= 0; i-- {
			w := words[i]
			if last, ok := d.lastSlot[w]; ok {
				d.canon[i] = slotToIndex(last)
				continue
			}
			d.lastSlot[w] = int32(i)
			d.canon[i] = slotToIndex(int32(i))
			if g, ok := d.globalIndex[w]; ok {
				d.globalCanon[g] = slotToIndex(int32(i))
				d.shadowed = append(d.shadowed, g)
			}
		}
	}
	n := (len(d.global) + len(words) + 63) / 64
	if cap(d.seen) < n {
		d.seen = make([]uint64, n)
		d.mapSeen = make([]uint64, n)
	}
	d.seen, d.mapSeen = d.seen[:n], d.mapSeen[:n]
}

func slotToIndex(slot int32) int32 { return -slot - 1 }

// word resolves a word index.
func (d *Decoder) word(idx int32) (string, bool) {
	if idx >= 0 {
		if int64(idx) < int64(len(d.global)) {
			return d.global[idx], true
		}
		return "", false
	}
	slot := -int64(idx) - 1
	if slot < int64(len(d.words)) {
		return d.words[slot], true
	}
	return "", false
}

// canonical returns the index Mixer would look idx's word up by.
func (d *Decoder) canonical(idx int32) (int32, bool) {
	if idx >= 0 {
		if int64(idx) < int64(len(d.global)) {
			return d.globalCanon[idx], true
		}
		return 0, false
	}
	slot := -int64(idx) - 1
	if slot < int64(len(d.words)) {
		return d.canon[slot], true
	}
	return 0, false
}

// bit is the position of a defined word index in the seen bitsets.
func (d *Decoder) bit(idx int32) int {
	if idx < 0 {
		return len(d.global) + int(-idx-1)
	}
	return int(idx)
}

// testAndSet marks canonical index c as set in this element and reports
// whether it already was.
func (d *Decoder) testAndSet(c int32) bool { return testAndSet(d.seen, d.bit(c)) }

func testAndSet(set []uint64, bit int) bool {
	w, m := bit>>6, uint64(1)<<(bit&63)
	was := set[w]&m != 0
	set[w] |= m
	return was
}

// beginMap starts a typed map: its keys have not been seen yet.
func (d *Decoder) beginMap() {
	clear(d.mapSeen)
	d.undefKeys = d.undefKeys[:0]
}

// repeatedKey reports whether a key already came up in the current typed
// map. Entries are read last to first, so this is an earlier entry of the
// same key, which protobuf map semantics overwrite.
func (d *Decoder) repeatedKey(k int32) bool {
	if _, ok := d.word(k); ok {
		return testAndSet(d.mapSeen, d.bit(k))
	}
	if slices.Contains(d.undefKeys, k) {
		return true
	}
	d.undefKeys = append(d.undefKeys, k)
	return false
}

func (d *Decoder) warn(elem int, format string, args ...any) {
	d.res.Dropped++
	if len(d.res.Warnings) < MaxWarnings {
		d.res.Warnings = append(d.res.Warnings, Warning{Index: elem, Message: fmt.Sprintf(format, args...)})
	}
}

// lazyName returns the name of a lazily read attribute keyed by k in the
// current typed map, false when Mixer's lazy bag would never find it: a
// repeated key (protobuf keeps the last entry, which came first), a word
// shadowed by another index of the same word, or a name a higher-priority
// map already had. An undefined index is warned about once per map.
func (d *Decoder) lazyName(elem int, k int32) (string, bool) {
	var name string
	var c int32
	switch {
	case k >= 0 && int64(k) < int64(len(d.global)):
		name, c = d.global[k], d.globalCanon[k]
	case k < 0 && -int64(k)-1 < int64(len(d.words)):
		slot := -k - 1
		name, c = d.words[slot], d.canon[slot]
	default:
		if !d.repeatedKey(k) {
			d.warn(elem, "attribute index %d is not defined in the available dictionaries", k)
		}
		return "", false
	}
	bit := d.bit(k)
	if testAndSet(d.mapSeen, bit) || c != k || testAndSet(d.seen, bit) {
		return "", false
	}
	return name, true
}

// lazyOrder is the order Mixer's lazy bag probed the typed maps in.
var lazyOrder = [nMaps]int{wStrings, wStringMaps, wInt64s, wDoubles, wBools, wTimestamps, wDurations, wBytes}

// deltaOrder is the order Mixer's delta update applied the typed maps in.
var deltaOrder = [nMaps]int{wStrings, wInt64s, wDoubles, wBools, wTimestamps, wDurations, wBytes, wStringMaps}

// resolveFull reads the current element as a complete bag: into d.entries,
// or, when direct, straight into the packed record the Writer has open.
// A value error (timestamp or duration out of range) leaves that attribute
// out and is returned; the other attributes are still resolved.
func (d *Decoder) resolveFull(elem int, direct bool) error {
	clear(d.seen)
	d.entries = d.entries[:0]
	d.pairs = d.pairs[:0]
	d.reqTime, d.ctxTime = 0, 0
	var verr error
	if n := d.entryCount(); n > MaxAttributes {
		return &limitError{what: "bag", n: n, max: MaxAttributes, unit: "attributes"}
	}
	for _, w := range lazyOrder {
		spans := d.maps[w]
		if len(spans) == 0 {
			continue
		}
		d.beginMap()
		for i := len(spans) - 1; i >= 0; i-- {
			body := spans[i]
			key, num, raw := readEntry(body, valueType[w])
			name, ok := d.lazyName(elem, key)
			if !ok {
				continue
			}
			e := entry{name: name}
			if key >= 0 && d.byWord {
				e.word = key + 1
			}
			switch w {
			case wStrings:
				v := sint32(num)
				s, ok := d.word(v)
				if !ok {
					d.warn(elem, "string attribute %s: string index %d is not defined in the available dictionaries", name, v)
					continue
				}
				e.kind, e.str = KindString, s
			case wStringMaps:
				off := len(d.pairs)
				if bad, ok := d.stringMapPairs(body); !ok {
					d.pairs = d.pairs[:off]
					d.warn(elem, "string map %s: string index %d is not defined in the available dictionaries", name, bad)
					continue
				}
				if n := (len(d.pairs) - off) / 2; n > MaxStringMapEntries {
					d.pairs = d.pairs[:off]
					verr = firstErr(verr, &limitError{what: "string map " + name, n: n, max: MaxStringMapEntries, unit: "entries"})
					continue
				}
				e.kind, e.num = KindStringMap, pairsRef(off, len(d.pairs)-off)
			case wInt64s:
				e.kind, e.num = KindInt64, int64(num)
			case wDoubles:
				e.kind, e.num = KindDouble, int64(num)
			case wBools:
				e.kind, e.num = KindBool, b2i(num != 0)
			case wTimestamps:
				ns, text, problem := timestampNanos(timeValue(body))
				if problem != "" {
					verr = firstErr(verr, &valueError{name: name, kind: KindTimestamp, msg: problem})
					continue
				}
				e.kind, e.num, e.str = KindTimestamp, ns, text
			case wDurations:
				ns, problem := durationNanos(timeValue(body))
				if problem != "" {
					verr = firstErr(verr, &valueError{name: name, kind: KindDuration, msg: problem})
					continue
				}
				e.kind, e.num = KindDuration, ns
			case wBytes:
				e.kind, e.str = KindBytes, wireString(raw)
			}
			if !direct {
				d.entries = append(d.entries, e)
				continue
			}
			if e.kind == KindTimestamp {
				d.noteTime(&e)
			}
			d.writeEntry(&e, d.pairs)
		}
	}
	return verr
}

// stringMapPairs appends the resolved pairs of a string_maps entry to
// d.pairs, the last value of a repeated key winning; it stops at the first
// undefined word index and returns it.
func (d *Decoder) stringMapPairs(body []byte) (int32, bool) {
	d.smKeys, d.smVals = stringMapEntries(body, d.smKeys[:0], d.smVals[:0])
	useSet := len(d.smKeys) > 16
	if useSet {
		clear(d.smSeen)
	}
	for i := len(d.smKeys) - 1; i >= 0; i-- {
		k, v := d.smKeys[i], d.smVals[i]
		if useSet {
			if _, dup := d.smSeen[k]; dup {
				continue
			}
			d.smSeen[k] = struct{}{}
		} else if slices.Contains(d.smKeys[i+1:], k) {
			continue
		}
		ks, ok := d.word(k)
		if !ok {
			return k, false
		}
		vs, ok := d.word(v)
		if !ok {
			return v, false
		}
		d.pairs = append(d.pairs, ks, vs)
	}
	return 0, true
}

// applyDelta applies the current element to the accumulated bag, in the
// order Mixer's update did: strings, int64s, doubles, bools, timestamps,
// durations, bytes, string maps.
func (d *Decoder) applyDelta() error {
	clear(d.seen)
	d.undef = d.undef[:0]
	if n := d.entryCount(); n > MaxAttributes {
		return &limitError{what: "element", n: n, max: MaxAttributes, unit: "attributes"}
	}
	// name resolves idx for a delta update; an undefined index is
	// collected for the element's error.
	name := func(idx int32) (string, int32, bool) {
		s, ok := d.word(idx)
		if !ok {
			d.undef = append(d.undef, idx)
			return "", 0, false
		}
		c, _ := d.canonical(idx)
		return s, c, true
	}
	for _, w := range deltaOrder {
		spans := d.maps[w]
		if len(spans) == 0 {
			continue
		}
		d.beginMap()
		kind := Kind(w + 1)
		for i := len(spans) - 1; i >= 0; i-- {
			body := spans[i]
			key, num, raw := readEntry(body, valueType[w])
			if d.repeatedKey(key) {
				continue
			}
			n, c, okN := name(key)
			switch w {
			case wStrings:
				v := sint32(num)
				s, okV := d.word(v)
				if !okV {
					d.undef = append(d.undef, v)
				}
				if !okN || !okV || d.testAndSet(c) {
					continue // Mixer ignored a duplicate within the strings map
				}
				d.acc.set(entry{name: n, kind: KindString, str: s})
				continue
			case wStringMaps:
				ref, complete := d.deltaStringMap(body)
				if !okN {
					continue
				}
				if d.testAndSet(c) {
					return &duplicateError{name: n, kind: kind}
				}
				if size := int(ref & 0xffffffff / 2); size > MaxStringMapEntries {
					return &limitError{what: "string map " + n, n: size, max: MaxStringMapEntries, unit: "entries"}
				}
				if complete {
					// A later map replaces the earlier one whole (observed on
					// mixs 1.7.8).
					d.acc.set(entry{name: n, kind: KindStringMap, num: ref})
				}
				continue
			}
			if !okN {
				continue
			}
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: kind}
			}
			switch w {
			case wInt64s:
				d.acc.set(entry{name: n, kind: KindInt64, num: int64(num)})
			case wDoubles:
				d.acc.set(entry{name: n, kind: KindDouble, num: int64(num)})
			case wBools:
				d.acc.set(entry{name: n, kind: KindBool, num: b2i(num != 0)})
			case wTimestamps:
				ns, text, problem := timestampNanos(timeValue(body))
				if problem != "" {
					return &valueError{name: n, kind: KindTimestamp, msg: problem}
				}
				d.acc.set(entry{name: n, kind: KindTimestamp, num: ns, str: text})
			case wDurations:
				ns, problem := durationNanos(timeValue(body))
				if problem != "" {
					return &valueError{name: n, kind: KindDuration, msg: problem}
				}
				d.acc.set(entry{name: n, kind: KindDuration, num: ns})
			case wBytes:
				d.acc.set(entry{name: n, kind: KindBytes, str: wireString(raw)})
			}
		}
	}
	if len(d.undef) > 0 {
		return &undefinedIndexError{indices: slices.Clone(d.undef)}
	}
	if n := len(d.acc.attrs); n > MaxAttributes {
		return &limitError{what: "bag", n: n, max: MaxAttributes, unit: "attributes"}
	}
	return nil
}

// deltaStringMap resolves a string map of a delta element into the
// accumulated bag's pair storage; undefined words are collected, and then
// the map is incomplete.
func (d *Decoder) deltaStringMap(body []byte) (int64, bool) {
	d.smKeys, d.smVals = stringMapEntries(body, d.smKeys[:0], d.smVals[:0])
	off := len(d.acc.pairs)
	complete := true
	for i := len(d.smKeys) - 1; i >= 0; i-- {
		k, v := d.smKeys[i], d.smVals[i]
		if slices.Contains(d.smKeys[i+1:], k) {
			continue // delta maps come from mixc: small, a scan is fine
		}
		ks, ok1 := d.word(k)
		vs, ok2 := d.word(v)
		if !ok1 {
			d.undef = append(d.undef, k)
		}
		if !ok2 {
			d.undef = append(d.undef, v)
		}
		if ok1 && ok2 {
			d.acc.pairs = append(d.acc.pairs, ks, vs)
		} else {
			complete = false
		}
	}
	if !complete {
		d.acc.pairs = d.acc.pairs[:off]
	}
	return pairsRef(off, len(d.acc.pairs)-off), complete
}

// write appends a record for the bag in entries, whose string maps are in
// pairs.
func (d *Decoder) write(out plog.LogRecordSlice, entries []entry, pairs []string, observed time.Time) {
	d.res.Reports++
	d.reqTime, d.ctxTime = 0, 0
	for i := range entries {
		if entries[i].kind == KindTimestamp {
			d.noteTime(&entries[i])
		}
	}
	d.w.Begin(out.AppendEmpty(), d.bagTime(), observed, len(entries))
	for i := range entries {
		d.writeEntry(&entries[i], pairs)
	}
	d.w.End()
}

// writeEntry writes one attribute of the record being written.
func (d *Decoder) writeEntry(e *entry, pairs []string) {
	w := d.w
	ref := int(e.word) - 1
	switch e.kind {
	case KindString:
		w.StringRef(ref, e.name, e.str)
	case KindInt64:
		w.Int64Ref(ref, e.name, e.num)
	case KindDouble:
		w.DoubleRef(ref, e.name, math.Float64frombits(uint64(e.num)))
	case KindBool:
		w.BoolRef(ref, e.name, e.num != 0)
	case KindTimestamp:
		if e.str != "" { // outside the int64 nanosecond range: RFC 3339
			w.StringRef(ref, e.name, e.str)
		} else {
			w.TimestampNanosRef(ref, e.name, e.num)
		}
	case KindDuration:
		w.DurationRef(ref, e.name, time.Duration(e.num))
	case KindBytes:
		// IP copies, so the bytes may alias the request.
		w.IPRef(ref, e.name, unsafe.Slice(unsafe.StringData(e.str), len(e.str)))
	case KindStringMap:
		p := pairsOf(e, pairs)
		w.BeginStringMapRef(ref, e.name, len(p)/2)
		for j := 0; j+1 < len(p); j += 2 {
			w.StringMapEntry(p[j], p[j+1])
		}
		w.EndStringMap()
	}
}

// noteTime remembers a TIMESTAMP attribute that can set the record time.
func (d *Decoder) noteTime(e *entry) {
	switch e.name {
	case "request.time":
		d.reqTime = e.num
	case "context.time":
		d.ctxTime = e.num
	}
}

// bagTime is the record time of the bag whose times noteTime saw:
// request.time, else context.time.
func (d *Decoder) bagTime() time.Time {
	ts := recordTime(d.reqTime)
	if ts.IsZero() {
		ts = recordTime(d.ctxTime)
	}
	return ts
}

// recordTime turns a bag timestamp into a record time; times a record
// cannot carry (at or before the epoch, or clamped) leave it unset.
func recordTime(ns int64) time.Time {
	if ns <= 0 || ns == math.MaxInt64 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Bounds of google.protobuf.Timestamp and Duration (years 0001 to 9999, and
// ±10000 years).
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
	maxDurationSeconds  = 315576000000
)

// timestampNanos validates a Timestamp and returns it as Unix nanoseconds;
// a time that int64 nanoseconds cannot hold (before 1678, after 2262, such as
// Mixer's zero time) comes back as RFC 3339 text instead, the form
// bagrecord.PutTimestamp uses for it. problem says what is wrong.
func timestampNanos(sec int64, nanos int32) (ns int64, text, problem string) {
	if nanos < 0 || nanos >= 1e9 {
		return 0, "", fmt.Sprintf("nanos %d out of range [0, 999999999]", nanos)
	}
	if sec < minTimestampSeconds || sec > maxTimestampSeconds {
		return 0, "", fmt.Sprintf("seconds %d outside years 0001 to 9999", sec)
	}
	t := time.Unix(sec, int64(nanos))
	if n := bagrecord.TimeToNanos(t); n != math.MinInt64 && n != math.MaxInt64 {
		return n, "", ""
	}
	return 0, t.UTC().Format(time.RFC3339Nano), ""
}

// durationNanos validates a Duration and returns it in nanoseconds.
func durationNanos(sec int64, nanos int32) (int64, string) {
	switch {
	case nanos <= -1e9 || nanos >= 1e9:
		return 0, fmt.Sprintf("nanos %d out of range", nanos)
	case sec < -maxDurationSeconds || sec > maxDurationSeconds:
		return 0, fmt.Sprintf("seconds %d out of range", sec)
	case (sec < 0 && nanos > 0) || (sec > 0 && nanos < 0):
		return 0, fmt.Sprintf("seconds %d and nanos %d have different signs", sec, nanos)
	}
	const maxSec, minSec = math.MaxInt64 / int64(time.Second), math.MinInt64 / int64(time.Second)
	ns := sec*1e9 + int64(nanos)
	if sec > maxSec || sec < minSec || (sec > 0 && ns < 0) || (sec < 0 && ns > 0) {
		return 0, fmt.Sprintf("%ds%dns is out of range for a duration in int64 nanoseconds", sec, nanos)
	}
	return ns, ""
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func firstErr(have, next error) error {
	if have != nil {
		return have
	}
	return next
}

// accumulator is the bag a DELTA request builds up, in first-set order;
// its string maps live in pairs (a replaced map's words stay there until
// the next request).
type accumulator struct {
	attrs []entry
	pairs []string
	index map[string]int
}

// load replaces the bag with entries, copying their string maps out of
// pairs (the decoder's storage, reused per element).
func (a *accumulator) load(entries []entry, pairs []string) {
	a.attrs = a.attrs[:0]
	a.pairs = a.pairs[:0]
	clear(a.index)
	for _, e := range entries {
		if e.kind == KindStringMap {
			p := pairsOf(&e, pairs)
			e.num = pairsRef(len(a.pairs), len(p))
			a.pairs = append(a.pairs, p...)
		}
		a.set(e)
	}
}

func (a *accumulator) set(e entry) {
	if i, ok := a.index[e.name]; ok {
		a.attrs[i] = e
		return
	}
	a.index[e.name] = len(a.attrs)
	a.attrs = append(a.attrs, e)
}
