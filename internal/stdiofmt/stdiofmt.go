// Package stdiofmt writes instance records (internal/instancerecord) as the
// lines Mixer's stdio adapter printed, byte for byte (mixer-semantics.md §f).
//
// Mixer built those lines with zap's JSON and console encoders and a config
// of its own: keys `level`, `time`, `instance`, no message, no caller, a
// custom time format. Current zap no longer produces the same bytes (it
// leaves out a zero entry time, which Mixer printed as
// 0001-01-01T00:00:00.000000Z), so the encoder is written out here. It
// appends into a caller-owned buffer and allocates nothing per line once its
// scratch space has grown. It remembers the quoted keys of the last packed
// record of up to 8 instances, so that the next record with the same keys
// copies them.
//
// Layouts, with the variables sorted byte-wise by name (a metric instance
// puts `value` first and sorts only its dimensions):
//
//	JSON:    {"level":"info","time":"…","instance":"fqn","k":v,"k2":v2}\n
//	console: <time>\t<level>\t<fqn>\t{"k": v, "k2": v2}\n
//
// Records come in either form of internal/instancerecord: attributes, or the
// packed Body, which gives the same line. A Bytes Body that does not decode
// as a whole is not taken for a packed one: such a record is written from
// its attributes, as any record from another producer.
//
// Values follow zap's rules for the Go values Mixer handed it: Str is a JSON
// string with zap's escaping (see AppendString), Int a JSON integer, Double
// strconv 'f' formatting with NaN and ±Inf as the strings "NaN", "+Inf",
// "-Inf", Bool true/false, Bytes base64 (zap.Binary), an Empty value null
// (zap.Any(nil)). A Map or Slice is written as compact JSON, as zap's
// reflection encoder wrote a Go map in Mixer's own adapter tests; the rules
// engine never produces one (a STRING_MAP arrives as the string
// `stringmap[k:v …]`, which is what Mixer printed in production).
package stdiofmt // import "github.com/otelcol-istio/otelcol-istio/internal/stdiofmt"

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// Kind says which template a record was built from; it decides the level
// and where `value` goes.
type Kind uint8

const (
	// LogEntry records take their level from the severity and write every
	// attribute in sorted order.
	LogEntry Kind = iota
	// Metric records are written at the handler's metric level with `value`
	// first.
	Metric
)

// KindOf reads the kind from a scope built by the rules engine. Anything but
// the metric template (including a scope without the attribute) is written
// as a log entry.
func KindOf(scope pcommon.InstrumentationScope) Kind {
	if v, ok := scope.Attributes().Get(instancerecord.ScopeAttrTemplate); ok &&
		v.Type() == pcommon.ValueTypeStr && v.Str() == instancerecord.TemplateMetric {
		return Metric
	}
	return LogEntry
}

// Encoder appends stdio lines. The zero value is ready to use. An Encoder
// keeps scratch space between calls and must not be used concurrently.
type Encoder struct {
	// The record being written: its attributes in output order, or the
	// reader of its packed fields (which may need pairs to be put in order).
	fields  []field
	packed  bool
	from    kvpack.Reader
	pairs   []kvpack.Pair
	order   []int32 // of pairs
	scratch []byte

	// The quoted keys of recent packed records, per instance: the rules
	// engine writes the same keys in the same order for every record of an
	// instance, so a line usually copies its keys instead of escaping and
	// ordering them again.
	shapes    [maxShapes]shape
	nextShape int
	name      string // the record's instance
}

const (
	maxShapes      = 8
	maxShapeFields = 256
	maxShapeBytes  = 16 << 10
)

// shape holds the keys of the last packed record of one instance (and
// layout) whose fields were written straight from its Body, each with the
// bytes written before its value. A record whose first n keys are the same
// passed the same order checks for them, so they need not be made again.
type shape struct {
	name   string
	mode   uint8
	used   bool
	buf    []byte  // per field: its key, then the bytes written before its value
	fields []int32 // per field: where its key ends and where its bytes end in buf
}

func shapeMode(console, metric bool) uint8 {
	m := uint8(0)
	if console {
		m |= 1
	}
	if metric {
		m |= 2
	}
	return m
}

// shapeFor returns the shape of instance name in the given mode, taking
// over the oldest one when it has none.
func (e *Encoder) shapeFor(name string, mode uint8) *shape {
	for i := range e.shapes {
		if s := &e.shapes[i]; s.used && s.mode == mode && s.name == name {
			return s
		}
	}
	s := &e.shapes[e.nextShape]
	e.nextShape = (e.nextShape + 1) % maxShapes
	s.name, s.mode, s.used = strings.Clone(name), mode, true
	s.buf, s.fields = s.buf[:0], s.fields[:0]
	return s
}

// field returns the key of remembered field i and the bytes to write
// before its value; ok is false past the remembered fields.
func (s *shape) field(i int) (key, quoted []byte, ok bool) {
	if 2*i+1 >= len(s.fields) {
		return nil, nil, false
	}
	start := int32(0)
	if i > 0 {
		start = s.fields[2*i-1]
	}
	k, q := s.fields[2*i], s.fields[2*i+1]
	return s.buf[start:k], s.buf[k:q], true
}

// remember records key as field i, with the bytes written before its
// value. The fields from i on were another record's and are dropped; a field
// past the remembered ones, or past the bounds, is not kept.
func (s *shape) remember(i int, key string, quoted []byte) {
	if 2*i > len(s.fields) {
		return
	}
	s.fields = s.fields[:2*i]
	s.buf = s.buf[:0]
	if i > 0 {
		s.buf = s.buf[:s.fields[2*i-1]]
	}
	if i >= maxShapeFields || len(s.buf)+len(key)+len(quoted) > maxShapeBytes {
		return
	}
	s.buf = append(s.buf, key...)
	k := int32(len(s.buf))
	s.buf = append(s.buf, quoted...)
	s.fields = append(s.fields, k, int32(len(s.buf)))
}

type field struct {
	key string
	val pcommon.Value
}

func compareFields(a, b field) int { return strings.Compare(a.key, b.key) }

// AppendRecord appends the line for lr, a record of the given kind sent to a
// handler with params p, to dst and returns the extended buffer.
func (e *Encoder) AppendRecord(dst []byte, lr plog.LogRecord, kind Kind, p *istioconfig.StdioParams) []byte {
	var level istioconfig.StdioLevel
	metric := kind == Metric
	if metric {
		level = p.MetricLevel
	} else {
		level = p.Level(lr.SeverityText())
	}
	start := len(dst)
	e.from, e.packed = instancerecord.PackedFields(lr)
	e.name = lr.EventName()
	if !e.packed {
		e.collect(lr.Attributes(), metric)
	}
	dst, ok := e.appendLine(dst, lr, level, p.OutputAsJSON, metric)
	if !ok {
		// The Body looked packed but does not decode: the record is
		// written from its attributes, as one from another producer.
		e.packed = false
		e.collect(lr.Attributes(), metric)
		dst, _ = e.appendLine(dst[:start], lr, level, p.OutputAsJSON, metric)
	}
	// Drop the references into lr: a pooled Encoder must not keep a batch
	// alive after it has been written.
	clear(e.fields)
	clear(e.pairs)
	e.fields, e.pairs, e.from, e.name = e.fields[:0], e.pairs[:0], kvpack.Reader{}, ""
	return dst
}

func (e *Encoder) appendLine(dst []byte, lr plog.LogRecord, level istioconfig.StdioLevel, asJSON, metric bool) ([]byte, bool) {
	if asJSON {
		return e.appendJSON(dst, lr, level, metric)
	}
	return e.appendConsole(dst, lr, level, metric)
}

// collect gathers attrs into e.fields in output order: sorted by key, with
// `value` moved to the front for a metric.
func (e *Encoder) collect(attrs pcommon.Map, metric bool) {
	e.fields = e.fields[:0]
	valueAt := -1
	for k, v := range attrs.All() {
		if metric && valueAt < 0 && k == instancerecord.MetricValueKey {
			valueAt = len(e.fields)
		}
		e.fields = append(e.fields, field{key: k, val: v})
	}
	rest := e.fields
	if valueAt >= 0 {
		// Rotate `value` to the front; the dimensions keep their order
		// and are sorted below on their own.
		v := e.fields[valueAt]
		copy(e.fields[1:valueAt+1], e.fields[:valueAt])
		e.fields[0] = v
		rest = e.fields[1:]
	}
	// Producers add variables in a fixed order, usually the sorted one;
	// checking first makes that case a single linear pass.
	if !slices.IsSortedFunc(rest, compareFields) {
		slices.SortFunc(rest, compareFields)
	}
}

// collectPacked gathers the packed fields into e.pairs and their output
// order into e.order, as collect does for attributes. Repeated keys keep
// their order, as when the fields are written straight from the Body. It
// reports false for a Body that does not decode.
func (e *Encoder) collectPacked(metric bool) bool {
	e.pairs, e.order = e.pairs[:0], e.order[:0]
	valueAt := -1
	r := e.from
	var p kvpack.Pair
	for r.Next(&p) {
		if metric && valueAt < 0 && p.Key == instancerecord.MetricValueKey {
			valueAt = len(e.pairs)
		} else {
			e.order = append(e.order, int32(len(e.pairs)))
		}
		e.pairs = append(e.pairs, p)
	}
	// Positions, not pairs, are sorted: a pair is several times larger.
	slices.SortFunc(e.order, func(a, b int32) int {
		if c := strings.Compare(e.pairs[a].Key, e.pairs[b].Key); c != 0 {
			return c
		}
		return int(a - b)
	})
	if valueAt >= 0 {
		e.order = slices.Insert(e.order, 0, int32(valueAt))
	}
	return r.Err() == nil
}

// appendTime appends the record's time. A record written from its
// attributes although its Body looked packed gets Timestamp's time, as any
// record with a Bytes Body: a time pair in an undecodable Body is not taken.
func (e *Encoder) appendTime(dst []byte, lr plog.LogRecord) []byte {
	if !e.packed && lr.Body().Type() == pcommon.ValueTypeBytes && lr.Timestamp() == 0 {
		return instancerecord.AppendTimeText(dst, time.Time{})
	}
	return instancerecord.AppendTime(dst, lr)
}

// appendFields appends the fields: `,"k":v` each in JSON, `"k": v`
// separated by ", " in console. The loops are spelled out per form of the
// record: a call per field would cost several percent of a line. It reports
// false for a packed Body that does not decode.
func (e *Encoder) appendFields(dst []byte, console, metric bool) ([]byte, bool) {
	if !e.packed {
		for i := range e.fields {
			dst = appendFieldKey(dst, e.fields[i].key, i, console)
			dst = appendValue(dst, e.fields[i].val)
		}
		return dst, true
	}
	// Packed fields are written straight from the Body while they come in
	// output order, as the rules engine writes them; from the first one out
	// of order, the fields start over, gathered and sorted.
	at := len(dst)
	r := e.from
	var p kvpack.Pair
	prev := ""
	valueSeen := false
	sh := e.shapeFor(e.name, shapeMode(console, metric))
	same := true // the keys so far are the shape's
	for i := 0; r.Next(&p); i++ {
		if same {
			if key, quoted, ok := sh.field(i); ok && string(key) == p.Key {
				// Written this way before, after the same keys: the checks
				// below passed then and would pass now.
				if metric && !valueSeen && p.Key == instancerecord.MetricValueKey {
					valueSeen = true
				} else {
					prev = p.Key
				}
				dst = append(dst, quoted...)
				dst = appendPair(dst, &p)
				continue
			}
			same = false
		}
		switch {
		case metric && !valueSeen && p.Key == instancerecord.MetricValueKey:
			// A metric's first `value` goes in front; the rest is sorted
			// on its own.
			if i > 0 {
				return e.appendSortedPairs(dst[:at], console, metric)
			}
			valueSeen = true
		case p.Key < prev:
			return e.appendSortedPairs(dst[:at], console, metric)
		default:
			prev = p.Key
		}
		start := len(dst)
		dst = appendFieldKey(dst, p.Key, i, console)
		sh.remember(i, p.Key, dst[start:])
		dst = appendPair(dst, &p)
	}
	return dst, r.Err() == nil
}

// appendFieldKey appends the separator before field i and its quoted key:
// `,"k":` in JSON (the fields follow the instance name), `"k": ` after `, `
// in the console layout's object.
func appendFieldKey(dst []byte, key string, i int, console bool) []byte {
	if console {
		if i > 0 {
			dst = append(dst, ',', ' ')
		}
		dst = append(dst, '"')
		dst = appendEscaped(dst, key)
		return append(dst, '"', ':', ' ')
	}
	dst = append(dst, ',', '"')
	dst = appendEscaped(dst, key)
	return append(dst, '"', ':')
}

// appendSortedPairs appends the packed fields in output order, as
// appendFields does.
func (e *Encoder) appendSortedPairs(dst []byte, console, metric bool) ([]byte, bool) {
	if !e.collectPacked(metric) {
		return dst, false
	}
	for i, j := range e.order {
		p := &e.pairs[j]
		dst = appendFieldKey(dst, p.Key, i, console)
		dst = appendPair(dst, p)
	}
	return dst, true
}

func (e *Encoder) appendJSON(dst []byte, lr plog.LogRecord, level istioconfig.StdioLevel, metric bool) ([]byte, bool) {
	dst = append(dst, `{"level":"`...)
	dst = append(dst, level.String()...)
	dst = append(dst, `","time":"`...)
	// The time normally is a formatted timestamp, but a record from another
	// producer may carry any Body, which then has to be escaped. Checking the
	// appended bytes keeps the usual case free of copies.
	start := len(dst)
	dst = e.appendTime(dst, lr)
	if needsEscape(dst[start:]) {
		e.scratch = append(e.scratch[:0], dst[start:]...)
		dst = appendEscaped(dst[:start], string(e.scratch))
	}
	dst = append(dst, '"')
	// zap leaves the name key out when the logger name is empty.
	if name := lr.EventName(); name != "" {
		dst = append(dst, `,"instance":"`...)
		dst = appendEscaped(dst, name)
		dst = append(dst, '"')
	}
	dst, ok := e.appendFields(dst, false, metric)
	return append(dst, '}', '\n'), ok
}

// appendConsole follows zap's console encoder: time, level and name are
// printed raw (fmt.Print of the strings) and joined by tabs; the fields are a
// JSON object with ": " and ", " separators, left out entirely when empty.
func (e *Encoder) appendConsole(dst []byte, lr plog.LogRecord, level istioconfig.StdioLevel, metric bool) ([]byte, bool) {
	dst = e.appendTime(dst, lr)
	dst = append(dst, '\t')
	dst = append(dst, level.String()...)
	if name := lr.EventName(); name != "" {
		dst = append(dst, '\t')
		dst = append(dst, name...)
	}
	dst = append(dst, '\t', '{')
	at := len(dst)
	dst, ok := e.appendFields(dst, true, metric)
	if len(dst) == at {
		dst = dst[:at-2] // no fields
	} else {
		dst = append(dst, '}')
	}
	return append(dst, '\n'), ok
}

// appendValue appends v as zap wrote the Go value Mixer passed for it.
// Nested maps and slices are always compact, in both layouts, as zap's
// reflection encoder (encoding/json) wrote them.
func appendValue(dst []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return AppendString(dst, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return AppendFloat(dst, v.Double())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(dst, v.Bool())
	case pcommon.ValueTypeBytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v.Bytes().AsRaw())
		return append(dst, '"')
	case pcommon.ValueTypeMap:
		return appendMap(dst, v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		dst = append(dst, '[')
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, s.At(i))
		}
		return append(dst, ']')
	}
	return append(dst, "null"...)
}

// appendPair appends a packed value as appendValue does the same value in
// an attribute.
func appendPair(dst []byte, p *kvpack.Pair) []byte {
	switch p.Kind {
	case kvpack.Str:
		return AppendString(dst, p.Text)
	case kvpack.Int:
		return strconv.AppendInt(dst, p.Int(), 10)
	case kvpack.Double:
		return AppendFloat(dst, p.Double())
	case kvpack.Bool:
		return strconv.AppendBool(dst, p.Bool())
	case kvpack.Bytes:
		dst = append(dst, '"')
		// Read only: base64 does not keep or change its input.
		dst = base64.StdEncoding.AppendEncode(dst, unsafe.Slice(unsafe.StringData(p.Text), len(p.Text)))
		return append(dst, '"')
	case kvpack.Map:
		return appendPackedMap(dst, p)
	}
	return append(dst, "null"...)
}

// appendPackedMap writes a packed map of strings as appendMap writes the
// same map in an attribute. It may allocate, as appendMap does.
func appendPackedMap(dst []byte, p *kvpack.Pair) []byte {
	type entry struct{ k, v string }
	entries := make([]entry, 0, p.Len())
	it := p.Entries()
	for k, v, ok := it.Next(); ok; k, v, ok = it.Next() {
		entries = append(entries, entry{k, v})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.k, b.k) })
	dst = append(dst, '{')
	for i, en := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, en.k)
		dst = append(dst, ':')
		dst = AppendString(dst, en.v)
	}
	return append(dst, '}')
}

// appendMap writes m with its keys sorted, as encoding/json does for a Go
// map. Maps never come from the rules engine, so this path may allocate.
func appendMap(dst []byte, m pcommon.Map) []byte {
	fields := make([]field, 0, m.Len())
	for k, v := range m.All() {
		fields = append(fields, field{key: k, val: v})
	}
	slices.SortFunc(fields, compareFields)
	dst = append(dst, '{')
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, f.key)
		dst = append(dst, ':')
		dst = appendValue(dst, f.val)
	}
	return append(dst, '}')
}

// AppendFloat appends f as zap's JSON encoder did: the shortest 'f' form
// (never an exponent), and NaN and the infinities, which JSON cannot hold as
// numbers, as the strings "NaN", "+Inf" and "-Inf".
func AppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Inf"`...)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// AppendString appends s as a quoted JSON string with zap's escaping.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// needsEscape reports whether appendEscaped might change b (any byte
// outside printable ASCII is checked the slow way).
func needsEscape(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '\\' || c == '"' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// safeASCII marks the bytes zap copies unchanged without a closer look:
// printable ASCII and DEL, except the quote and the backslash.
var safeASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// unsafe8 reports whether any of the eight bytes in x is below 0x20, a
// quote, a backslash or not ASCII (SWAR zero-byte tests: (v-ones)&^v has a
// high bit set in the lowest byte of v that is zero).
func unsafe8(x uint64) bool {
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return ((x-ones*0x20)&^x|(q-ones)&^q|(b-ones)&^b|x)&high != 0
}

// plain reports whether s, of at least eight bytes, is printable ASCII
// without a quote or a backslash: text zap copies as it is. The last eight
// bytes are tested as one word, overlapping the ones before.
func plain(s string) bool {
	n := len(s)
	i := 0
	for ; i+8 <= n; i += 8 {
		if unsafe8(le64(s[i:])) {
			return false
		}
	}
	return i == n || !unsafe8(le64(s[n-8:]))
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// appendEscaped is zap's safeAddString: `"` and `\` get a backslash; \n, \r
// and \t their short escapes; every other byte below 0x20 (\b and \f
// included) becomes \u00XX with lower-case hex; each byte that is not part
// of valid UTF-8 becomes \ufffd. Everything else — DEL, `<>&`, U+2028,
// non-ASCII text — is copied as is, unlike encoding/json.
func appendEscaped(dst []byte, s string) []byte {
	if len(s) >= 8 && plain(s) {
		return append(dst, s...)
	}
	const hex = "0123456789abcdef"
	last := 0
	for i := 0; i < len(s); {
		// Most text is printable ASCII: eight bytes at a time.
		if i+8 <= len(s) && !unsafe8(le64(s[i:])) {
			i += 8
			continue
		}
		// Somewhere in the next eight bytes (or the short tail) is a byte
		// to look at: go byte by byte up to there.
		end := min(i+8, len(s))
		for i < end {
			c := s[i]
			if safeASCII[c] {
				i++
				continue
			}
			if c >= utf8.RuneSelf {
				r, size := utf8.DecodeRuneInString(s[i:])
				if r != utf8.RuneError || size != 1 {
					i += size
					continue
				}
				dst = append(dst, s[last:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				last = i
				continue
			}
			dst = append(dst, s[last:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			last = i
		}
	}
	return append(dst, s[last:]...)
}
