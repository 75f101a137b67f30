package mixerreport

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// Layout says how Encoder.Encode lays a ReportRequest out.
type Layout struct {
	// Semantics of the elements. With DELTA_ENCODING the bags given to
	// Encode are the elements as sent, i.e. changes on top of the previous
	// element (see DeltaElements).
	Semantics mixerpb.ReportRequest_RepeatedAttributesSemantics
	// GlobalWordCount is how many global dictionary words the client knows:
	// only words among those travel as global indices, and the request
	// announces the number. 0 puts every word into message word lists.
	GlobalWordCount int
	// SharedWords puts the message words of all elements into default_words,
	// leaving the elements' own lists empty, instead of giving every element
	// its own words.
	SharedWords bool
}

// ProxyLayout is how Istio proxies batch reports: INDEPENDENT_ENCODING, one
// default_words list for the batch, global indices for the first
// globalWordCount words (221 for Istio 1.1 and 1.2, 222 from 1.3 on).
func ProxyLayout(globalWordCount int) Layout {
	return Layout{
		Semantics:       mixerpb.ReportRequest_INDEPENDENT_ENCODING,
		GlobalWordCount: globalWordCount,
		SharedWords:     true,
	}
}

// MixcLayout is how mixc (Mixer's command-line client) sends reports:
// DELTA_ENCODING, words in each element, global_word_count 0.
var MixcLayout = Layout{Semantics: mixerpb.ReportRequest_DELTA_ENCODING}

// Encoder turns typed bags into compressed attributes the way Istio's
// clients did. It is immutable and safe for concurrent use.
type Encoder struct {
	global      []string
	globalIndex map[string]int32
}

// NewEncoder returns an Encoder over the given global dictionary (word i has
// index i); it keeps the slice.
func NewEncoder(globalWords []string) *Encoder {
	e := &Encoder{global: globalWords, globalIndex: make(map[string]int32, len(globalWords))}
	for i, w := range globalWords {
		if _, dup := e.globalIndex[w]; !dup {
			e.globalIndex[w] = int32(i)
		}
	}
	return e
}

// NewDefaultEncoder returns an Encoder over Mixer's newest global
// dictionary (222 words).
func NewDefaultEncoder() *Encoder { return NewEncoder(attribute.GlobalDictionary()) }

// Encode builds one ReportRequest holding one element per bag.
func (e *Encoder) Encode(bags []Bag, l Layout) (*mixerpb.ReportRequest, error) {
	if l.GlobalWordCount < 0 || l.GlobalWordCount > len(e.global) {
		return nil, fmt.Errorf("global word count %d: the encoder knows %d global words", l.GlobalWordCount, len(e.global))
	}
	req := &mixerpb.ReportRequest{
		Attributes:                  make([]*mixerpb.CompressedAttributes, 0, len(bags)),
		GlobalWordCount:             uint32(l.GlobalWordCount),
		RepeatedAttributesSemantics: l.Semantics,
	}
	shared := e.newDict(l.GlobalWordCount)
	for i, b := range bags {
		d := shared
		if !l.SharedWords {
			d = e.newDict(l.GlobalWordCount)
		}
		ca, err := compress(b, d)
		if err != nil {
			return nil, fmt.Errorf("bag %d: %w", i, err)
		}
		if !l.SharedWords {
			ca.Words = d.words
		}
		req.Attributes = append(req.Attributes, ca)
	}
	if l.SharedWords {
		req.DefaultWords = shared.words
	}
	return req, nil
}

// Compress encodes one bag with its own message word list, using global
// indices for the first globalWordCount global words (a Check request's
// attributes, or a single report).
func (e *Encoder) Compress(b Bag, globalWordCount int) (*mixerpb.CompressedAttributes, error) {
	if globalWordCount < 0 || globalWordCount > len(e.global) {
		return nil, fmt.Errorf("global word count %d: the encoder knows %d global words", globalWordCount, len(e.global))
	}
	d := e.newDict(globalWordCount)
	ca, err := compress(b, d)
	if err != nil {
		return nil, err
	}
	ca.Words = d.words
	return ca, nil
}

// dict assigns word indices: a known global word gets its global index,
// any other word a slot in the message list (index -slot-1), as the proxy's
// encoder does.
type dict struct {
	global map[string]int32
	limit  int32
	words  []string
	index  map[string]int32
}

func (e *Encoder) newDict(globalWordCount int) *dict {
	return &dict{global: e.globalIndex, limit: int32(globalWordCount), index: make(map[string]int32)}
}

func (d *dict) idx(w string) int32 {
	if g, ok := d.global[w]; ok && g < d.limit {
		return g
	}
	if i, ok := d.index[w]; ok {
		return i
	}
	i := slotToIndex(int32(len(d.words)))
	d.words = append(d.words, w)
	d.index[w] = i
	return i
}

func compress(b Bag, d *dict) (*mixerpb.CompressedAttributes, error) {
	ca := &mixerpb.CompressedAttributes{}
	for _, a := range b {
		k := d.idx(a.Name)
		switch a.Kind {
		case KindString:
			if ca.Strings == nil {
				ca.Strings = make(map[int32]int32)
			}
			ca.Strings[k] = d.idx(a.Str)
		case KindInt64:
			if ca.Int64S == nil {
				ca.Int64S = make(map[int32]int64)
			}
			ca.Int64S[k] = a.Int
		case KindDouble:
			if ca.Doubles == nil {
				ca.Doubles = make(map[int32]float64)
			}
			ca.Doubles[k] = a.Float
		case KindBool:
			if ca.Bools == nil {
				ca.Bools = make(map[int32]bool)
			}
			ca.Bools[k] = a.Bool
		case KindTimestamp:
			if ca.Timestamps == nil {
				ca.Timestamps = make(map[int32]*timestamppb.Timestamp)
			}
			ca.Timestamps[k] = timestamppb.New(a.Time)
		case KindDuration:
			if ca.Durations == nil {
				ca.Durations = make(map[int32]*durationpb.Duration)
			}
			ca.Durations[k] = durationpb.New(a.Dur)
		case KindBytes:
			if ca.Bytes == nil {
				ca.Bytes = make(map[int32][]byte)
			}
			ca.Bytes[k] = a.Bytes
		case KindStringMap:
			if ca.StringMaps == nil {
				ca.StringMaps = make(map[int32]*mixerpb.StringMap)
			}
			entries := make(map[int32]int32, len(a.Map))
			// Sorted, so that the word list does not depend on map order.
			for _, mk := range slices.Sorted(maps.Keys(a.Map)) {
				entries[d.idx(mk)] = d.idx(a.Map[mk])
			}
			ca.StringMaps[k] = &mixerpb.StringMap{Entries: entries}
		default:
			return nil, fmt.Errorf("attribute %q has no valid kind (%v)", a.Name, a.Kind)
		}
	}
	return ca, nil
}

// DeltaElements turns complete bags into the elements of a DELTA request:
// the first bag whole, then for every later bag the attributes that are new
// or changed since the bag before. DELTA encoding cannot remove an
// attribute, so a bag that lacks an attribute of its predecessor is an
// error.
func DeltaElements(bags []Bag) ([]Bag, error) {
	out := make([]Bag, len(bags))
	for i, b := range bags {
		if i == 0 {
			out[0] = b
			continue
		}
		prev := make(map[string]Attr, len(bags[i-1]))
		for _, a := range bags[i-1] {
			prev[a.Name] = a
		}
		cur := make(map[string]bool, len(b))
		delta := Bag{}
		for _, a := range b {
			cur[a.Name] = true
			if p, ok := prev[a.Name]; !ok || !sameValue(p, a) {
				delta = append(delta, a)
			}
		}
		for _, a := range bags[i-1] {
			if !cur[a.Name] {
				return nil, fmt.Errorf("bag %d lacks attribute %q of bag %d: DELTA encoding cannot remove attributes", i, a.Name, i-1)
			}
		}
		out[i] = delta
	}
	return out, nil
}

func sameValue(a, b Attr) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case KindString:
		return a.Str == b.Str
	case KindInt64:
		return a.Int == b.Int
	case KindDouble:
		return a.Float == b.Float
	case KindBool:
		return a.Bool == b.Bool
	case KindTimestamp:
		return a.Time.Equal(b.Time)
	case KindDuration:
		return a.Dur == b.Dur
	case KindBytes:
		return bytes.Equal(a.Bytes, b.Bytes)
	case KindStringMap:
		return maps.Equal(a.Map, b.Map)
	}
	return false
}
