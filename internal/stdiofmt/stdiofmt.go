// Package stdiofmt writes instance records (internal/instancerecord) as the
// lines Mixer's stdio adapter printed, byte for byte (mixer-semantics.md §f).
//
// Mixer built those lines with zap's JSON and console encoders and a config
// of its own: keys `level`, `time`, `instance`, no message, no caller, a
// custom time format. Current zap no longer produces the same bytes (it
// leaves out a zero entry time, which Mixer printed as
// 0001-01-01T00:00:00.000000Z), so the encoder is written out here. It
// appends into a caller-owned buffer and allocates nothing per line once its
// scratch space has grown.
//
// Layouts, with the variables sorted byte-wise by name (a metric instance
// puts `value` first and sorts only its dimensions):
//
//	JSON:    {"level":"info","time":"…","instance":"fqn","k":v,"k2":v2}\n
//	console: <time>\t<level>\t<fqn>\t{"k": v, "k2": v2}\n
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
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
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
	fields  []field
	scratch []byte
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
	if kind == Metric {
		level = p.MetricLevel
	} else {
		level = p.Level(lr.SeverityText())
	}
	e.collect(lr.Attributes(), kind == Metric)
	if p.OutputAsJSON {
		dst = e.appendJSON(dst, lr, level)
	} else {
		dst = e.appendConsole(dst, lr, level)
	}
	// Drop the references into lr: a pooled Encoder must not keep a batch
	// alive after it has been written.
	clear(e.fields)
	return dst
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

func (e *Encoder) appendJSON(dst []byte, lr plog.LogRecord, level istioconfig.StdioLevel) []byte {
	dst = append(dst, `{"level":"`...)
	dst = append(dst, level.String()...)
	dst = append(dst, `","time":"`...)
	// The time normally is a formatted timestamp, but a record from another
	// producer may carry any Body, which then has to be escaped. Checking the
	// appended bytes keeps the usual case free of copies.
	start := len(dst)
	dst = instancerecord.AppendTime(dst, lr)
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
	for i := range e.fields {
		dst = append(dst, ',', '"')
		dst = appendEscaped(dst, e.fields[i].key)
		dst = append(dst, '"', ':')
		dst = appendValue(dst, e.fields[i].val)
	}
	return append(dst, '}', '\n')
}

// appendConsole follows zap's console encoder: time, level and name are
// printed raw (fmt.Print of the strings) and joined by tabs; the fields are a
// JSON object with ": " and ", " separators, left out entirely when empty.
func (e *Encoder) appendConsole(dst []byte, lr plog.LogRecord, level istioconfig.StdioLevel) []byte {
	dst = instancerecord.AppendTime(dst, lr)
	dst = append(dst, '\t')
	dst = append(dst, level.String()...)
	if name := lr.EventName(); name != "" {
		dst = append(dst, '\t')
		dst = append(dst, name...)
	}
	if len(e.fields) > 0 {
		dst = append(dst, '\t', '{')
		for i := range e.fields {
			if i > 0 {
				dst = append(dst, ',', ' ')
			}
			dst = append(dst, '"')
			dst = appendEscaped(dst, e.fields[i].key)
			dst = append(dst, '"', ':', ' ')
			dst = appendValue(dst, e.fields[i].val)
		}
		dst = append(dst, '}')
	}
	return append(dst, '\n')
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

// appendEscaped is zap's safeAddString: `"` and `\` get a backslash; \n, \r
// and \t their short escapes; every other byte below 0x20 (\b and \f
// included) becomes \u00XX with lower-case hex; each byte that is not part
// of valid UTF-8 becomes \ufffd. Everything else — DEL, `<>&`, U+2028,
// non-ASCII text — is copied as is, unlike encoding/json.
func appendEscaped(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	last := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			// Most text is printable ASCII: test eight bytes at once for
			// one below 0x20, a quote, a backslash or a non-ASCII byte
			// (SWAR zero-byte tests: (v-ones)&^v has a high bit set in
			// the lowest byte of v that is zero).
			_ = s[i+7]
			x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			q := x ^ (ones * '"')
			b := x ^ (ones * '\\')
			if ((x-ones*0x20)&^x|(q-ones)&^q|(b-ones)&^b|x)&high == 0 {
				i += 8
				continue
			}
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
