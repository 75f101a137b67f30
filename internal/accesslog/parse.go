package accesslog

import (
	"errors"
	"strings"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"
)

// Why a line was not parsed.
var (
	// ErrNotAccessLog: the line does not start the way any of the formats
	// does, e.g. one of istio-agent's or Envoy's own log lines, which share
	// the container's stdout with the access log.
	ErrNotAccessLog = errors.New("not an access-log line")
	// ErrNoMatch: the line looks like an access-log line but matches none
	// of the formats.
	ErrNoMatch = errors.New("access-log line matches none of the formats")
)

// matchBudget bounds the work of matching one line against one format:
// the number of candidate values the matcher may try. Real lines need one
// per operator; hostile ones cannot make matching exponential.
const matchBudget = 512

// Parser splits lines into the values of their format's operators. It is
// safe for concurrent use.
type Parser struct {
	formats []*Format
	hint    atomic.Int32 // the format that matched last: lines of one mesh share one
}

// NewParser returns a Parser for lines of the given formats, tried in
// order (the one that matched the previous line first).
func NewParser(formats ...*Format) *Parser {
	return &Parser{formats: formats}
}

// NewAutoParser returns a Parser that detects the format among Istio's
// presets (every default TEXT format and the JSON encoding), trying the
// given custom formats first.
func NewAutoParser(custom ...*Format) *Parser {
	fs := append([]*Format{}, custom...)
	fs = append(fs, detectOrder...)
	fs = append(fs, jsonPreset)
	return NewParser(fs...)
}

// Entry is one parsed line. Its values are substrings of the line (JSON
// strings with escapes are the exception), so it must not outlive the
// line's use. An Entry is reused from line to line.
type Entry struct {
	format *Format
	vals   []string // by operator; "" when absent
}

// Format is the format the line matched.
func (e *Entry) Format() *Format { return e.format }

// Value returns the value of the first operator written as operator (e.g.
// "%RESPONSE_CODE%"); ok is false when the format has none or Envoy
// printed none ("-", null).
func (e *Entry) Value(operator string) (v string, ok bool) {
	if e.format == nil {
		return "", false
	}
	for i, o := range e.format.ops {
		if o.text == operator {
			v = e.vals[i]
			return v, v != "" && v != "-"
		}
	}
	return "", false
}

// Parse reads one line (a trailing newline is ignored) into e.
func (p *Parser) Parse(line string, e *Entry) error {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return ErrNotAccessLog
	}
	h := int(p.hint.Load())
	if h < len(p.formats) && p.try(p.formats[h], line, e) {
		return nil
	}
	looked := false
	for i, f := range p.formats {
		if f.lead != 0 && f.lead != line[0] {
			continue
		}
		looked = true
		if i != h && p.try(f, line, e) {
			p.hint.Store(int32(i))
			return nil
		}
	}
	e.format = nil
	if !looked {
		return ErrNotAccessLog
	}
	return ErrNoMatch
}

func (p *Parser) try(f *Format, line string, e *Entry) bool {
	if f.lead != 0 && f.lead != line[0] {
		return false
	}
	n := len(f.ops)
	if cap(e.vals) < n {
		e.vals = make([]string, n)
	}
	e.vals = e.vals[:n]
	clear(e.vals)
	e.format = f
	m := matcher{ops: f.ops, vals: e.vals, budget: matchBudget}
	if f.isJSON {
		return m.json(f, line)
	}
	m.s = line
	return m.match(f.text, 0, 0)
}

type matcher struct {
	ops    []*op
	vals   []string
	s      string
	budget int
}

// match reports whether m.s[pos:] matches q[ti:], storing the operators'
// values. An operator followed by a literal ends at an occurrence of the
// literal: the first one that lets the rest of the line match (values such
// as a user agent may contain the literal).
func (m *matcher) match(q seq, ti, pos int) bool {
	for ti < len(q) {
		t := q[ti]
		if t.op < 0 {
			if !strings.HasPrefix(m.s[pos:], t.lit) {
				return false
			}
			pos += len(t.lit)
			ti++
			continue
		}
		c := m.ops[t.op].class
		if ti+1 == len(q) {
			v := m.s[pos:]
			if ok, _ := c.check(v); !ok {
				return false
			}
			m.vals[t.op] = v
			return true
		}
		next := q[ti+1]
		if next.op >= 0 {
			// two operators in a row: try every split
			for end := pos; end <= len(m.s); end++ {
				v := m.s[pos:end]
				ok, hopeless := c.check(v)
				if hopeless {
					return false
				}
				if !ok {
					continue
				}
				if m.budget--; m.budget < 0 {
					return false
				}
				m.vals[t.op] = v
				if m.match(q, ti+1, end) {
					return true
				}
			}
			return false
		}
		for from := pos; from <= len(m.s); {
			i := strings.Index(m.s[from:], next.lit)
			if i < 0 {
				return false
			}
			end := from + i
			v := m.s[pos:end]
			ok, hopeless := c.check(v)
			if hopeless {
				return false
			}
			if ok {
				if m.budget--; m.budget < 0 {
					return false
				}
				m.vals[t.op] = v
				if m.match(q, ti+2, end+len(next.lit)) {
					return true
				}
			}
			from = end + 1
		}
		return false
	}
	return pos == len(m.s)
}

// json reads a one-line JSON object: the values of known keys go to their
// operators; other keys, nested values and literals are skipped. Numbers
// and strings are both accepted for every key (Envoy prints numbers for
// numeric operators, strings otherwise, null when there is no value).
func (m *matcher) json(f *Format, s string) bool {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipSpace(s, i+1) == len(s)
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return false
		}
		key, next, ok := jsonString(s, i)
		if !ok {
			return false
		}
		i = skipSpace(s, next)
		if i >= len(s) || s[i] != ':' {
			return false
		}
		i = skipSpace(s, i+1)
		if i >= len(s) {
			return false
		}
		var val string
		switch c := s[i]; {
		case c == '"':
			val, next, ok = jsonString(s, i)
		case c == '{' || c == '[':
			next, ok = skipNested(s, i)
		case c == 'n':
			next, ok = i+4, strings.HasPrefix(s[i:], "null")
		case c == 't':
			val, next, ok = "true", i+4, strings.HasPrefix(s[i:], "true")
		case c == 'f':
			val, next, ok = "false", i+5, strings.HasPrefix(s[i:], "false")
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' || s[j] == '+' || s[j] == '-') {
				j++
			}
			val, next, ok = s[i:j], j, true
		default:
			ok = false
		}
		if !ok {
			return false
		}
		if k, known := f.keys[key]; known && val != "" {
			jf := &f.json[k]
			switch {
			case jf.op >= 0:
				m.vals[jf.op] = val
			case len(jf.tmpl) > 0:
				// a template with literals: match the string like a line,
				// and count a mismatch as no value rather than a bad line
				sub := matcher{ops: m.ops, vals: m.vals, s: val, budget: m.budget}
				sub.match(jf.tmpl, 0, 0)
				m.budget = sub.budget
			}
		}
		i = skipSpace(s, next)
		if i >= len(s) {
			return false
		}
		if s[i] == '}' {
			return skipSpace(s, i+1) == len(s)
		}
		if s[i] != ',' {
			return false
		}
		i = skipSpace(s, i+1)
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// jsonString reads the string starting at s[i] == '"'. Without escapes the
// result is a substring of s; with escapes it is a new string.
func jsonString(s string, i int) (v string, next int, ok bool) {
	j := i + 1
	for j < len(s) {
		switch c := s[j]; {
		case c == '"':
			return s[i+1 : j], j + 1, true
		case c == '\\':
			return unescape(s, i+1, j)
		case c < 0x20:
			return "", 0, false
		}
		j++
	}
	return "", 0, false
}

// unescape decodes a JSON string whose first escape is at s[j].
func unescape(s string, start, j int) (string, int, bool) {
	b := make([]byte, 0, len(s)-start)
	b = append(b, s[start:j]...)
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			return string(b), j + 1, true
		case c < 0x20:
			return "", 0, false
		case c != '\\':
			b = append(b, c)
			j++
			continue
		}
		if j+1 >= len(s) {
			return "", 0, false
		}
		switch e := s[j+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s, j+2)
			if !ok {
				return "", 0, false
			}
			j += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, j+2); ok && j+1 < len(s) && s[j] == '\\' && s[j+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						b = utf8.AppendRune(b, d)
						j += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", 0, false
		}
		j += 2
	}
	return "", 0, false
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// skipNested skips an object or array starting at s[i].
func skipNested(s string, i int) (int, bool) {
	depth := 0
	for i < len(s) {
		switch s[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		case '"':
			_, next, ok := jsonString(s, i)
			if !ok {
				return 0, false
			}
			i = next
			continue
		}
		i++
	}
	return 0, false
}
