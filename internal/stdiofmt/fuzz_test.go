package stdiofmt

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/instancerecord/instancerecordtest"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kvpack"
)

// zapDecoded is what a JSON reader gets back from a zap-escaped string: the
// same text with each byte that is not valid UTF-8 replaced by U+FFFD.
func zapDecoded(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// FuzzEncode checks that every JSON line is valid JSON that reads back to the
// values put in, whatever the strings and numbers, and that nothing panics;
// packed records give the same line as their attribute form.
func FuzzEncode(f *testing.F) {
	f.Add("key", "a \"quoted\" back\\slash\nnew\tline <&> é", int64(200), 0.5, true, "", "newlog.logentry.istio-system", "warning", true, false, false)
	f.Add("", "ctl\x01\x7f\u00a0end", int64(math.MaxInt64), 1e21, false, "1969-12-31T23:59:59.999999Z", "", "BOGUS", false, true, true)
	f.Add("\xff", "\xe6\x97\xed\xa0\x80", int64(-1), math.Inf(-1), false, "x\"y", "a\tb", "", true, true, true)
	f.Fuzz(func(t *testing.T, key, str string, i int64, d float64, b bool, body, name, severity string, asJSON, metric, packed bool) {
		lr := plog.NewLogRecord()
		lr.SetEventName(name)
		lr.SetSeverityText(severity)
		if body != "" {
			lr.Body().SetStr(body)
		}
		a := lr.Attributes()
		// Fixed keys carry the values that are checked; the random key is
		// checked only for validity, since it may collide with them.
		a.PutStr("s", str)
		a.PutInt("i", i)
		a.PutDouble("d", d)
		a.PutBool(key, b)
		a.PutEmptyBytes("raw").FromRaw([]byte(str))
		kind := LogEntry
		if metric {
			kind = Metric
			a.PutStr("value", str)
		}
		p := istioconfig.DefaultStdioParams()
		p.OutputAsJSON = asJSON

		var e Encoder
		line := e.AppendRecord(nil, lr, kind, &p)
		if packed {
			if err := instancerecordtest.Pack(lr); err != nil {
				t.Fatal(err)
			}
			if again := e.AppendRecord(nil, lr, kind, &p); string(again) != string(line) {
				t.Fatalf("packed: %q\nattributes: %q", again, line)
			}
		}
		if len(line) == 0 || line[len(line)-1] != '\n' {
			t.Fatalf("line does not end in a newline: %q", line)
		}
		if !asJSON {
			if body == "" && !strings.ContainsAny(name, "\t\n") {
				// With a clean prefix the fields are the fourth part.
				parts := strings.SplitN(string(line[:len(line)-1]), "\t", 4)
				if name == "" {
					parts = append(parts[:2], "", parts[2])
				}
				if len(parts) != 4 || !json.Valid([]byte(parts[3])) {
					t.Fatalf("console fields are not valid JSON: %q", line)
				}
			}
			return
		}
		if !json.Valid(line) {
			t.Fatalf("not valid JSON: %q", line)
		}
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatal(err)
		}
		if key == "s" || key == "i" || key == "d" || key == "raw" || key == "value" ||
			key == "level" || key == "time" || key == "instance" {
			return
		}
		if got["s"] != zapDecoded(str) {
			t.Fatalf("string: got %q, want %q", got["s"], zapDecoded(str))
		}
		if got["i"] != float64(i) {
			t.Fatalf("int: got %v, want %v", got["i"], i)
		}
		switch {
		case math.IsNaN(d):
			if got["d"] != "NaN" {
				t.Fatalf("NaN: got %v", got["d"])
			}
		case math.IsInf(d, 0):
			if s, _ := got["d"].(string); s != "+Inf" && s != "-Inf" {
				t.Fatalf("Inf: got %v", got["d"])
			}
		default:
			if got["d"] != d {
				t.Fatalf("double: got %v, want %v", got["d"], d)
			}
		}
		if got[zapDecoded(key)] != b {
			t.Fatalf("bool under %q: got %v", key, got[zapDecoded(key)])
		}
		if name != "" && got["instance"] != zapDecoded(name) {
			t.Fatalf("instance: got %q, want %q", got["instance"], zapDecoded(name))
		}
		if body != "" && got["time"] != zapDecoded(body) {
			t.Fatalf("time: got %q, want %q", got["time"], zapDecoded(body))
		}
	})
}

// FuzzPackedBody feeds arbitrary Bodies to the packed path: nothing panics,
// a JSON line is valid JSON, and a Body that does not decode gives the line
// of the record without it.
func FuzzPackedBody(f *testing.F) {
	good := kvpack.AppendStr(kvpack.Begin(nil), "", "1969-12-31T23:59:59.999999Z")
	good = kvpack.AppendInt(good, "code", 200)
	good = kvpack.AppendBytes(good, "ip", []byte{10, 0, 0, 1})
	good = kvpack.AppendMap(good, "m", 1)
	good = kvpack.AppendMapEntry(good, "k", "v\x00")
	f.Add(good, uint64(0), true, false)
	f.Add(good[:len(good)-2], uint64(0), false, true)
	f.Add([]byte{kvpack.Version, byte(kvpack.Str), 5, 'v', 'a', 'l', 'u', 'e', 1, 'x', byte(kvpack.Empty), 0}, uint64(1), true, true)
	dup := kvpack.AppendInt(kvpack.Begin(nil), "value", 1)
	dup = kvpack.AppendStr(dup, "a", "x")
	dup = kvpack.AppendInt(dup, "value", 2)
	f.Add(dup, uint64(1), true, true)
	f.Add(kvpack.AppendInt(kvpack.AppendStr(kvpack.Begin(nil), "a", "x"), "value", 2), uint64(1), false, true)
	f.Fuzz(func(t *testing.T, body []byte, ts uint64, asJSON, metric bool) {
		lr := plog.NewLogRecord()
		lr.SetEventName("e")
		lr.SetTimestamp(pcommon.Timestamp(ts))
		lr.Attributes().PutStr("attr", "x")
		kind := LogEntry
		if metric {
			kind = Metric
		}
		p := istioconfig.DefaultStdioParams()
		p.OutputAsJSON = asJSON
		var e Encoder
		lr.Body().SetEmptyBytes().FromRaw(body)
		line := e.AppendRecord(nil, lr, kind, &p)
		if asJSON && !json.Valid(line) {
			t.Fatalf("not valid JSON: %q", line)
		}
		var pairs []kvpack.Pair
		r := kvpack.NewReader(body)
		var pair kvpack.Pair
		for r.Next(&pair) {
			pairs = append(pairs, pair)
		}
		if r.Err() != nil {
			lr.Body().SetStr("")
			if want := e.AppendRecord(nil, lr, kind, &p); string(line) != string(want) {
				t.Fatalf("undecodable Body: %q, want %q", line, want)
			}
			return
		}
		// The same pairs already in output order give the same line.
		sorted := slices.Clone(pairs)
		if ts == 0 && len(sorted) > 0 && sorted[0].Key == "" && sorted[0].Kind == kvpack.Str {
			sorted = sorted[1:] // the time pair
		}
		rest := sorted
		if metric {
			if i := slices.IndexFunc(sorted, func(p kvpack.Pair) bool { return p.Key == "value" }); i >= 0 {
				v := sorted[i]
				sorted = append([]kvpack.Pair{v}, slices.Delete(slices.Clone(sorted), i, i+1)...)
				rest = sorted[1:]
			}
		}
		slices.SortStableFunc(rest, func(a, b kvpack.Pair) int { return strings.Compare(a.Key, b.Key) })
		if len(pairs) > len(sorted) {
			sorted = append([]kvpack.Pair{pairs[0]}, sorted...)
		} else if ts == 0 && len(sorted) > 0 && sorted[0].Key == "" && sorted[0].Kind == kvpack.Str {
			// Moved to the front, a field named "" would be read as the
			// time pair: a different record, not the same one in order.
			return
		}
		lr.Body().SetEmptyBytes().FromRaw(repack(sorted))
		if want := e.AppendRecord(nil, lr, kind, &p); string(line) != string(want) {
			t.Fatalf("out of order: %q\nin order: %q", line, want)
		}
	})
}

func repack(pairs []kvpack.Pair) []byte {
	b := kvpack.Begin(nil)
	for _, p := range pairs {
		switch p.Kind {
		case kvpack.Str:
			b = kvpack.AppendStr(b, p.Key, p.Text)
		case kvpack.Bytes:
			b = kvpack.AppendBytes(b, p.Key, []byte(p.Text))
		case kvpack.Int:
			b = kvpack.AppendInt(b, p.Key, p.Int())
		case kvpack.Double:
			b = kvpack.AppendDouble(b, p.Key, p.Double())
		case kvpack.Bool:
			b = kvpack.AppendBool(b, p.Key, p.Bool())
		case kvpack.Map:
			b = kvpack.AppendMap(b, p.Key, p.Len())
			it := p.Entries()
			for k, v, ok := it.Next(); ok; k, v, ok = it.Next() {
				b = kvpack.AppendMapEntry(b, k, v)
			}
		default:
			b = kvpack.AppendEmpty(b, p.Key)
		}
	}
	return b
}

// referenceEscape is zap's safeAddString written the plain way, one byte or
// rune at a time, to check the word-at-a-time appendEscaped against.
func referenceEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteString(`\ufffd`)
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
		i++
	}
	return b.String()
}

func TestAppendEscapedMatchesReference(t *testing.T) {
	// Every special byte at every offset of strings long enough for the
	// eight-byte path, plus multi-byte runes across word boundaries.
	specials := []string{"\x00", "\x1f", "\"", "\\", "\n", "\x7f", "\x80", "\xff", "é", "日", "\U0001F600", "\xe6\x97"}
	for _, sp := range specials {
		for pre := range 18 {
			for _, post := range []int{0, 1, 7, 8, 9} {
				s := strings.Repeat("a", pre) + sp + strings.Repeat("z", post)
				if got := string(appendEscaped(nil, s)); got != referenceEscape(s) {
					t.Fatalf("%q: got %q, want %q", s, got, referenceEscape(s))
				}
			}
		}
	}
	// Every byte value inside a long clean run.
	for c := range 256 {
		s := "0123456789" + string([]byte{byte(c)}) + "abcdefghij"
		if got := string(appendEscaped(nil, s)); got != referenceEscape(s) {
			t.Fatalf("byte %#x: got %q, want %q", c, got, referenceEscape(s))
		}
	}
}

// FuzzAppendString checks the fast escaper against the plain one.
func FuzzAppendString(f *testing.F) {
	f.Add("plain ascii text longer than eight bytes")
	f.Add("mixed \"quotes\"\tand\x01ctl and é and \xff bytes")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendEscaped(nil, s)), referenceEscape(s); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}

// shapeRecord builds a packed record of instance name with the given keys in
// that order, each with a value derived from its position.
func shapeRecord(t *testing.T, name string, keys []string, metric bool) plog.LogRecord {
	t.Helper()
	lr := plog.NewLogRecord()
	lr.SetEventName(name)
	a := lr.Attributes()
	for i, k := range keys {
		a.PutInt(k, int64(i))
	}
	if metric {
		a.PutStr("value", "v")
	}
	if err := instancerecordtest.Pack(lr); err != nil {
		t.Fatal(err)
	}
	return lr
}

// FuzzShapes checks that an Encoder that has written other records writes
// each one as a fresh Encoder does: the keys it remembers per instance
// never change a line. Each record is a comma-separated key list; a leading
// '!' makes it a metric, a leading '~' the console layout, and '/' moves it
// to another instance.
func FuzzShapes(f *testing.F) {
	f.Add("a,b,c", "a,b,c", "a,b,d", "a,c,b")
	f.Add("!a,value,b", "!value,a,b", "!value,a,b", "a,value,b")
	f.Add("~a,b", "a,b", "~a,b", "/a,b")
	f.Add("a,b,c", "a,b", "a,b,c,d", "b,a")
	f.Add("k\"ey,b\\c", "k\"ey,b\\c", "k\"ey,a", "\xff,\x01")
	f.Fuzz(func(t *testing.T, r1, r2, r3, r4 string) {
		var shared Encoder
		for _, spec := range []string{r1, r2, r3, r4, r3, r2, r1} {
			name, metric, console := "accesslog.logentry.istio-system", false, false
			for len(spec) > 0 && strings.ContainsRune("!~/", rune(spec[0])) {
				switch spec[0] {
				case '!':
					metric = true
				case '~':
					console = true
				case '/':
					name = "tcpaccesslog.logentry.istio-system"
				}
				spec = spec[1:]
			}
			var keys []string
			if spec != "" {
				keys = strings.Split(spec, ",")
			}
			if len(keys) > 300 {
				keys = keys[:300]
			}
			lr := shapeRecord(t, name, keys, metric)
			kind := LogEntry
			if metric {
				kind = Metric
			}
			p := istioconfig.DefaultStdioParams()
			p.OutputAsJSON = !console
			var fresh Encoder
			want := fresh.AppendRecord(nil, lr, kind, &p)
			if got := shared.AppendRecord(nil, lr, kind, &p); string(got) != string(want) {
				t.Fatalf("record %q: after other records\n%s\nfresh\n%s", spec, got, want)
			}
		}
	})
}
