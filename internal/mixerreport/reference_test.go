package mixerreport

import (
	"fmt"
	"math"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// refDecoder is the first, map-based implementation of the decoder: it
// reads mixerpb structs as protobuf-go unmarshals them (Go maps, random
// iteration order). Kept as an independent reference for the wire decoder.
type refDecoder struct {
	global      []string
	globalIndex map[string]int32

	words       []string
	wordsValid  bool
	canon       []int32
	globalCanon []int32
	shadowed    []int32
	lastSlot    map[string]int32

	seen    []uint64
	entries []refEntry
	pairs   []string
	undef   []int32

	acc refAccumulator
	res Result
}

func newRefDecoder(globalWords []string) *refDecoder {
	d := &refDecoder{
		global:      globalWords,
		globalIndex: make(map[string]int32, len(globalWords)),
		globalCanon: make([]int32, len(globalWords)),
		lastSlot:    make(map[string]int32),
		acc:         refAccumulator{index: make(map[string]int)},
	}
	for i, w := range globalWords {
		d.globalIndex[w] = int32(i)
	}
	for i, w := range globalWords {
		d.globalCanon[i] = d.globalIndex[w]
	}
	return d
}

func (d *refDecoder) decode(req *mixerpb.ReportRequest, out plog.LogRecordSlice, observed time.Time) (*Result, error) {
	d.res.reset()
	d.wordsValid = false
	elems := req.GetAttributes()
	if len(elems) == 0 {
		return &d.res, nil
	}
	if n := req.GetGlobalWordCount(); uint64(n) > uint64(len(d.global)) {
		err := &DictionaryError{Known: len(d.global), Caller: int(n)}
		return &d.res, err
	}
	out.EnsureCapacity(out.Len() + len(elems))
	delta := req.GetRepeatedAttributesSemantics() != mixerpb.ReportRequest_INDEPENDENT_ENCODING
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
func (d *refDecoder) useWords(words []string) {
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

// word resolves a word index.
func (d *refDecoder) word(idx int32) (string, bool) {
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
func (d *refDecoder) canonical(idx int32) (int32, bool) {
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
func (d *refDecoder) testAndSet(c int32) bool {
	bit := int(c)
	if c < 0 {
		bit = len(d.global) + int(-c-1)
	}
	w, m := bit>>6, uint64(1)<<(bit&63)
	was := d.seen[w]&m != 0
	d.seen[w] |= m
	return was
}

func (d *refDecoder) warn(elem int, format string, args ...any) {
	d.res.Dropped++
	if len(d.res.Warnings) < MaxWarnings {
		d.res.Warnings = append(d.res.Warnings, Warning{Index: elem, Message: fmt.Sprintf(format, args...)})
	}
}

// visibleName returns the name of a lazily read attribute keyed by idx,
// false when Mixer's lazy bag would never find it.
func (d *refDecoder) visibleName(elem int, idx int32) (string, bool) {
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
func (d *refDecoder) resolveFull(elem int, ca *mixerpb.CompressedAttributes) error {
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
		d.entries = append(d.entries, refEntry{name: name, kind: KindString, str: s})
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
		d.entries = append(d.entries, refEntry{name: name, kind: KindStringMap, num: int64(off)<<32 | int64(len(d.pairs)-off)})
		nMaps++
	}
	for k, v := range ca.GetInt64S() {
		if name, ok := d.visibleName(elem, k); ok {
			d.entries = append(d.entries, refEntry{name: name, kind: KindInt64, num: v})
		}
	}
	for k, v := range ca.GetDoubles() {
		if name, ok := d.visibleName(elem, k); ok {
			d.entries = append(d.entries, refEntry{name: name, kind: KindDouble, num: int64(math.Float64bits(v))})
		}
	}
	for k, v := range ca.GetBools() {
		if name, ok := d.visibleName(elem, k); ok {
			d.entries = append(d.entries, refEntry{name: name, kind: KindBool, num: b2i(v)})
		}
	}
	for k, v := range ca.GetTimestamps() {
		if name, ok := d.visibleName(elem, k); ok {
			ns, text, err := timestampNanos(v.GetSeconds(), v.GetNanos())
			if err != "" {
				verr = firstErr(verr, &valueError{name: name, kind: KindTimestamp, msg: err})
				continue
			}
			d.entries = append(d.entries, refEntry{name: name, kind: KindTimestamp, num: ns, str: text})
		}
	}
	for k, v := range ca.GetDurations() {
		if name, ok := d.visibleName(elem, k); ok {
			ns, err := durationNanos(v.GetSeconds(), v.GetNanos())
			if err != "" {
				verr = firstErr(verr, &valueError{name: name, kind: KindDuration, msg: err})
				continue
			}
			d.entries = append(d.entries, refEntry{name: name, kind: KindDuration, num: ns})
		}
	}
	for k, v := range ca.GetBytes() {
		if name, ok := d.visibleName(elem, k); ok {
			d.entries = append(d.entries, refEntry{name: name, kind: KindBytes, raw: v})
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
func (d *refDecoder) applyDelta(ca *mixerpb.CompressedAttributes) error {
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
		d.acc.set(refEntry{name: n, kind: KindString, str: s})
	}
	for k, v := range ca.GetInt64S() {
		if n, c, ok := name(k); ok {
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: KindInt64}
			}
			d.acc.set(refEntry{name: n, kind: KindInt64, num: v})
		}
	}
	for k, v := range ca.GetDoubles() {
		if n, c, ok := name(k); ok {
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: KindDouble}
			}
			d.acc.set(refEntry{name: n, kind: KindDouble, num: int64(math.Float64bits(v))})
		}
	}
	for k, v := range ca.GetBools() {
		if n, c, ok := name(k); ok {
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: KindBool}
			}
			d.acc.set(refEntry{name: n, kind: KindBool, num: b2i(v)})
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
			d.acc.set(refEntry{name: n, kind: KindTimestamp, num: ns, str: text})
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
			d.acc.set(refEntry{name: n, kind: KindDuration, num: ns})
		}
	}
	for k, v := range ca.GetBytes() {
		if n, c, ok := name(k); ok {
			if d.testAndSet(c) {
				return &duplicateError{name: n, kind: KindBytes}
			}
			d.acc.set(refEntry{name: n, kind: KindBytes, raw: v})
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
			d.acc.set(refEntry{name: n, kind: KindStringMap, pairs: pairs})
		}
	}
	if len(d.undef) > 0 {
		return &undefinedIndexError{indices: slices.Clone(d.undef)}
	}
	return nil
}

// write appends a record for the bag in entries.
func (d *refDecoder) write(out plog.LogRecordSlice, entries []refEntry, observed time.Time) {
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

type refEntry struct {
	name  string
	kind  Kind
	str   string
	num   int64
	raw   []byte
	pairs []string
}

type refAccumulator struct {
	attrs []refEntry
	index map[string]int
}

func (a *refAccumulator) load(entries []refEntry) {
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

func (a *refAccumulator) set(e refEntry) {
	if i, ok := a.index[e.name]; ok {
		a.attrs[i] = e
		return
	}
	a.index[e.name] = len(a.attrs)
	a.attrs = append(a.attrs, e)
}
