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
// (Mixer stored "" for an undefined word).
package mixerreport // import "github.com/otelcol-istio/otelcol-istio/internal/mixerreport"

import (
	"fmt"
	"math"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// MaxWarnings bounds Result.Warnings; Result.Dropped still counts them all.
const MaxWarnings = 16

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

// entry is one resolved attribute. num holds INT64, TIMESTAMP (Unix ns),
// DURATION (ns), BOOL (0/1) and DOUBLE (IEEE bits); pairs holds a string
// map as key, value, key, value ...
type entry struct {
	name  string
	kind  Kind
	str   string
	num   int64
	raw   []byte
	pairs []string
}

// Decoder turns ReportRequests into bag records. It reuses its buffers from
// call to call, so it is not safe for concurrent use: give each goroutine its
// own (they are cheap once built) or pool them.
type Decoder struct {
	global      []string
	globalIndex map[string]int32

	// The message word list in use and, per index, the index Mixer's lazy
	// bag would look that word up by (its "canonical" index).
	words       []string
	wordsValid  bool
	canon       []int32 // per slot
	globalCanon []int32 // per global index
	shadowed    []int32 // global indices whose globalCanon points into words
	lastSlot    map[string]int32

	seen    []uint64 // canonical indices already set in the current element
	entries []entry
	pairs   []string
	undef   []int32

	acc accumulator
	res Result
}

// NewDecoder returns a Decoder over the given global dictionary (word i has
// index i); it keeps the slice.
func NewDecoder(globalWords []string) *Decoder {
	d := &Decoder{
		global:      globalWords,
		globalIndex: make(map[string]int32, len(globalWords)),
		globalCanon: make([]int32, len(globalWords)),
		lastSlot:    make(map[string]int32),
		acc:         accumulator{index: make(map[string]int)},
	}
	for i, w := range globalWords {
		d.globalIndex[w] = int32(i)
	}
	for i, w := range globalWords {
		d.globalCanon[i] = d.globalIndex[w]
	}
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
// Record strings share memory with req's words: req must not be changed
// afterwards.
func (d *Decoder) Decode(req *mixerpb.ReportRequest, out plog.LogRecordSlice, observed time.Time) (*Result, error) {
	d.res.reset()
	d.wordsValid = false
	elems := req.GetAttributes()
	if len(elems) == 0 {
		return &d.res, nil
	}
	if err := d.CheckGlobalWordCount(req.GetGlobalWordCount()); err != nil {
		return &d.res, err
	}
	out.EnsureCapacity(out.Len() + len(elems))
	delta := req.GetRepeatedAttributesSemantics() == mixerpb.ReportRequest_DELTA_ENCODING
	for i, ca := range elems {
		words := ca.GetWords()
		if len(words) == 0 {
			words = req.GetDefaultWords()
		}
		d.useWords(words)

		if !delta || i == 0 {
			err := d.resolveFull(i, ca)
			if delta {
				d.acc.load(d.entries)
			}
			if err != nil {
				d.res.Errors = append(d.res.Errors, ElementError{Index: i, Err: err})
				continue
			}
			if delta {
				d.write(out, d.acc.attrs, observed)
			} else {
				d.write(out, d.entries, observed)
			}
			continue
		}
		if err := d.applyDelta(ca); err != nil {
			d.res.Errors = append(d.res.Errors, ElementError{Index: i, Err: err})
			continue
		}
		d.write(out, d.acc.attrs, observed)
	}
	return &d.res, nil
}

// useWords makes words the message word list and works out which index
// Mixer's lazy bag would look each word up by: the last slot of a word in
// words, else its global index.
func (d *Decoder) useWords(words []string) {
	if d.wordsValid && len(words) == len(d.words) && (len(words) == 0 || &words[0] == &d.words[0]) {
		return
	}
	for _, g := range d.shadowed {
		d.globalCanon[g] = g
	}
	d.shadowed = d.shadowed[:0]
	d.words = words
	d.wordsValid = true
	d.canon = d.canon[:0]
	if len(words) > 0 {
		clear(d.lastSlot)
		for i, w := range words {
			d.lastSlot[w] = int32(i)
		}
		for _, w := range words {
			d.canon = append(d.canon, slotToIndex(d.lastSlot[w]))
		}
		for w, slot := range d.lastSlot {
			if g, ok := d.globalIndex[w]; ok {
				d.globalCanon[g] = slotToIndex(slot)
				d.shadowed = append(d.shadowed, g)
			}
		}
	}
	n := (len(d.global) + len(words) + 63) / 64
	if cap(d.seen) < n {
		d.seen = make([]uint64, n)
	}
	d.seen = d.seen[:n]
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

// testAndSet marks canonical index c as set in this element and reports
// whether it already was.
func (d *Decoder) testAndSet(c int32) bool {
	bit := int(c)
	if c < 0 {
		bit = len(d.global) + int(-c-1)
	}
	w, m := bit>>6, uint64(1)<<(bit&63)
	was := d.seen[w]&m != 0
	d.seen[w] |= m
	return was
}

func (d *Decoder) warn(elem int, format string, args ...any) {
	d.res.Dropped++
	if len(d.res.Warnings) < MaxWarnings {
		d.res.Warnings = append(d.res.Warnings, Warning{Index: elem, Message: fmt.Sprintf(format, args...)})
	}
}

// visibleName returns the name of a lazily read attribute keyed by idx,
// false when Mixer's lazy bag would never find it.
func (d *Decoder) visibleName(elem int, idx int32) (string, bool) {
	c, ok := d.canonical(idx)
	if !ok {
		d.warn(elem, "attribute index %d is not defined in the available dictionaries", idx)
		return "", false
	}
	if c != idx || d.testAndSet(c) {
		// Shadowed by another index of the same word, or a lower-priority
		// map than one that already had the name.
		return "", false
	}
	name, _ := d.word(idx)
	return name, true
}

// resolveFull reads ca as a complete bag into d.entries. A value error
// (timestamp or duration out of range) leaves that attribute out and is
// returned; the other attributes are still resolved.
func (d *Decoder) resolveFull(elem int, ca *mixerpb.CompressedAttributes) error {
	clear(d.seen)
	d.entries = d.entries[:0]
	d.pairs = d.pairs[:0]
	var verr error

	for k, v := range ca.GetStrings() {
		name, ok := d.visibleName(elem, k)
		if !ok {
			continue
		}
		s, ok := d.word(v)
		if !ok {
			d.warn(elem, "string attribute %s: string index %d is not defined in the available dictionaries", name, v)
			continue
		}
		d.entries = append(d.entries, entry{name: name, kind: KindString, str: s})
	}
	nMaps := 0
	for k, sm := range ca.GetStringMaps() {
		name, ok := d.visibleName(elem, k)
		if !ok {
			continue
		}
		off := len(d.pairs)
		bad, undefined := int32(0), false
		for kk, vv := range sm.GetEntries() {
			ks, ok1 := d.word(kk)
			vs, ok2 := d.word(vv)
			if !ok1 || !ok2 {
				bad, undefined = kk, true
				if ok1 {
					bad = vv
				}
				break
			}
			d.pairs = append(d.pairs, ks, vs)
		}
		if undefined {
			d.pairs = d.pairs[:off]
			d.warn(elem, "string map %s: string index %d is not defined in the available dictionaries", name, bad)
			continue
		}
		// pairs is filled in below, once d.pairs no longer moves.
		d.entries = append(d.entries, entry{name: name, kind: KindStringMap, num: int64(off)<<32 | int64(len(d.pairs)-off)})
		nMaps++
	}
	for k, v := range ca.GetInt64S() {
		if name, ok := d.visibleName(elem, k); ok {
			d.entries = append(d.entries, entry{name: name, kind: KindInt64, num: v})
		}
	}
	for k, v := range ca.GetDoubles() {
		if name, ok := d.visibleName(elem, k); ok {
			d.entries = append(d.entries, entry{name: name, kind: KindDouble, num: int64(math.Float64bits(v))})
		}
	}
	for k, v := range ca.GetBools() {
		if name, ok := d.visibleName(elem, k); ok {
			d.entries = append(d.entries, entry{name: name, kind: KindBool, num: b2i(v)})
		}
	}
	for k, v := range ca.GetTimestamps() {
		if name, ok := d.visibleName(elem, k); ok {
			ns, text, err := timestampNanos(v.GetSeconds(), v.GetNanos())
			if err != "" {
				verr = firstErr(verr, &valueError{name: name, kind: KindTimestamp, msg: err})
				continue
			}
			d.entries = append(d.entries, entry{name: name, kind: KindTimestamp, num: ns, str: text})
		}
	}
	for k, v := range ca.GetDurations() {
		if name, ok := d.visibleName(elem, k); ok {
			ns, err := durationNanos(v.GetSeconds(), v.GetNanos())
			if err != "" {
				verr = firstErr(verr, &valueError{name: name, kind: KindDuration, msg: err})
				continue
			}
			d.entries = append(d.entries, entry{name: name, kind: KindDuration, num: ns})
		}
	}
	for k, v := range ca.GetBytes() {
		if name, ok := d.visibleName(elem, k); ok {
			d.entries = append(d.entries, entry{name: name, kind: KindBytes, raw: v})
		}
	}
	if nMaps > 0 {
		for i := range d.entries {
			if e := &d.entries[i]; e.kind == KindStringMap {
				off, n := int(e.num>>32), int(e.num&0xffffffff)
				e.pairs = d.pairs[off : off+n : off+n]
				e.num = 0
			}
		}
	}
	return verr
}

// applyDelta applies a delta element to the accumulated bag, in the order
// Mixer's update did: strings, int64s, doubles, bools, timestamps,
// durations, bytes, string maps.
func (d *Decoder) applyDelta(ca *mixerpb.CompressedAttributes) error {
	clear(d.seen)
	d.undef = d.undef[:0]
	// name resolves idx for a delta update and reports whether it was
	// already set by this element; an undefined index is collected.
	name := func(idx int32) (string, int32, bool) {
		s, ok := d.word(idx)
		if !ok {
			d.undef = append(d.undef, idx)
			return "", 0, false
		}
		c, _ := d.canonical(idx)
		return s, c, true
	}

	for k, v := range ca.GetStrings() {
		n, c, okN := name(k)
		s, okV := d.word(v)
		if !okV {
			d.undef = append(d.undef, v)
		}
		if !okN || !okV || d.testAndSet(c) {
			continue // Mixer ignored a duplicate within the strings map
		}
		d.acc.set(entry{name: n, kind: KindString, str: s})
	}
	for k, v := range ca.GetInt64S() {
		if n, c, ok := name(k); ok {
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: KindInt64}
			}
			d.acc.set(entry{name: n, kind: KindInt64, num: v})
		}
	}
	for k, v := range ca.GetDoubles() {
		if n, c, ok := name(k); ok {
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: KindDouble}
			}
			d.acc.set(entry{name: n, kind: KindDouble, num: int64(math.Float64bits(v))})
		}
	}
	for k, v := range ca.GetBools() {
		if n, c, ok := name(k); ok {
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: KindBool}
			}
			d.acc.set(entry{name: n, kind: KindBool, num: b2i(v)})
		}
	}
	for k, v := range ca.GetTimestamps() {
		if n, c, ok := name(k); ok {
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: KindTimestamp}
			}
			ns, text, err := timestampNanos(v.GetSeconds(), v.GetNanos())
			if err != "" {
				return &valueError{name: n, kind: KindTimestamp, msg: err}
			}
			d.acc.set(entry{name: n, kind: KindTimestamp, num: ns, str: text})
		}
	}
	for k, v := range ca.GetDurations() {
		if n, c, ok := name(k); ok {
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: KindDuration}
			}
			ns, err := durationNanos(v.GetSeconds(), v.GetNanos())
			if err != "" {
				return &valueError{name: n, kind: KindDuration, msg: err}
			}
			d.acc.set(entry{name: n, kind: KindDuration, num: ns})
		}
	}
	for k, v := range ca.GetBytes() {
		if n, c, ok := name(k); ok {
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: KindBytes}
			}
			d.acc.set(entry{name: n, kind: KindBytes, raw: v})
		}
	}
	for k, sm := range ca.GetStringMaps() {
		n, c, okN := name(k)
		var pairs []string
		complete := true
		for kk, vv := range sm.GetEntries() {
			ks, ok1 := d.word(kk)
			vs, ok2 := d.word(vv)
			if !ok1 {
				d.undef = append(d.undef, kk)
			}
			if !ok2 {
				d.undef = append(d.undef, vv)
			}
			if ok1 && ok2 {
				pairs = append(pairs, ks, vs)
			} else {
				complete = false
			}
		}
		if !okN {
			continue
		}
		if d.testAndSet(c) {
			return &duplicateError{name: n, kind: KindStringMap}
		}
		if complete {
			// A later map replaces the earlier one whole (observed on mixs
			// 1.7.8); an empty one stays an empty map.
			if pairs == nil {
				pairs = []string{}
			}
			d.acc.set(entry{name: n, kind: KindStringMap, pairs: pairs})
		}
	}
	if len(d.undef) > 0 {
		return &undefinedIndexError{indices: slices.Clone(d.undef)}
	}
	return nil
}

// write appends a record for the bag in entries.
func (d *Decoder) write(out plog.LogRecordSlice, entries []entry, observed time.Time) {
	var reqTime, ctxTime int64
	for i := range entries {
		if e := &entries[i]; e.kind == KindTimestamp {
			switch e.name {
			case "request.time":
				reqTime = e.num
			case "context.time":
				ctxTime = e.num
			}
		}
	}
	ts := recordTime(reqTime)
	if ts.IsZero() {
		ts = recordTime(ctxTime)
	}
	m := bagrecord.InitRecord(out.AppendEmpty(), ts, observed, len(entries))
	for i := range entries {
		e := &entries[i]
		switch e.kind {
		case KindString:
			bagrecord.PutString(m, e.name, e.str)
		case KindInt64:
			bagrecord.PutInt64(m, e.name, e.num)
		case KindDouble:
			bagrecord.PutDouble(m, e.name, math.Float64frombits(uint64(e.num)))
		case KindBool:
			bagrecord.PutBool(m, e.name, e.num != 0)
		case KindTimestamp:
			if e.str != "" { // outside the int64 nanosecond range
				bagrecord.PutString(m, e.name, e.str)
			} else {
				bagrecord.PutTimestampNanos(m, e.name, e.num)
			}
		case KindDuration:
			bagrecord.PutDuration(m, e.name, time.Duration(e.num))
		case KindBytes:
			bagrecord.PutIP(m, e.name, e.raw)
		case KindStringMap:
			sm := bagrecord.PutStringMap(m, e.name, len(e.pairs)/2)
			for j := 0; j+1 < len(e.pairs); j += 2 {
				sm.PutStr(e.pairs[j], e.pairs[j+1])
			}
		}
	}
	d.res.Reports++
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

// accumulator is the bag a DELTA request builds up, in first-set order.
type accumulator struct {
	attrs []entry
	index map[string]int
}

// load replaces the bag with a copy of entries (their string maps are
// copied too: the decoder's pair buffer is reused per element).
func (a *accumulator) load(entries []entry) {
	a.attrs = a.attrs[:0]
	clear(a.index)
	for _, e := range entries {
		if e.kind == KindStringMap {
			e.pairs = slices.Clone(e.pairs)
			if e.pairs == nil {
				e.pairs = []string{}
			}
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
