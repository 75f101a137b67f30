package cexl

import (
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// testVocab is a small manifest with one attribute per type.
var testVocab = attribute.NewVocabulary(map[string]attribute.Type{
	"s": attribute.TypeString, "s2": attribute.TypeString, "i": attribute.TypeInt64,
	"d": attribute.TypeDouble, "b": attribute.TypeBool, "t": attribute.TypeTimestamp,
	"ip": attribute.TypeIPAddress, "dur": attribute.TypeDuration, "m": attribute.TypeStringMap,
	"dns": attribute.TypeDNSName, "odd": attribute.Type(12),
})

func testBag(t *testing.T, set map[string]attribute.Value) *attribute.Bag {
	t.Helper()
	b := attribute.NewBag(testVocab)
	for n, v := range set {
		if err := b.SetByName(n, v); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestSemantics pins behaviour beyond Istio's tables, including our
// deliberate differences from Mixer.
func TestSemantics(t *testing.T) {
	sv, iv := attribute.StringValue, attribute.Int64Value
	cases := []struct {
		name, expr string
		bag        map[string]attribute.Value
		want       attribute.Value
		err        string // prefix of the evaluation error
	}{
		// Deliberate: an explicitly parenthesised right-hand chain behaves
		// like the flat chain (Mixer's generated code broke here).
		{"nested or, all absent", `s | (s2 | s)`, nil, attribute.Value{}, "lookup failed: 's'"},
		{"nested or, middle present", `s | (s2 | "x")`, map[string]attribute.Value{"s2": sv("")}, sv(""), ""},
		// Deliberate: extra arguments are neither checked nor evaluated.
		{"extra args ignored", `size("ab", nosuch.attr, s)`, nil, iv(2), ""},
		{"extra args ignored by externs", `toLower("AB", s)`, nil, sv("ab"), ""},
		// Mixer read INT64 and DURATION attributes with the same instruction,
		// so either kind of value is accepted for either.
		{"duration value in INT64 attribute", `i`, map[string]attribute.Value{"i": attribute.DurationValue(5)}, iv(5), ""},
		{"int value in DURATION attribute", `dur`, map[string]attribute.Value{"dur": iv(7)}, attribute.DurationValue(7), ""},
		// Deliberate: wrong-typed TIMESTAMP/IP/STRING_MAP values are reported.
		{"wrong type timestamp", `t`, map[string]attribute.Value{"t": sv("x")}, attribute.Value{}, "error converting value to TIMESTAMP: 'x'"},
		{"wrong type ip", `ip | ip("1.2.3.4")`, map[string]attribute.Value{"ip": sv("x")}, attribute.Value{}, "error converting value to IP_ADDRESS: 'x'"},
		{"wrong type map", `m["a"] | "x"`, map[string]attribute.Value{"m": iv(3)}, attribute.Value{}, "error converting value to STRING_MAP: '3'"},
		{"wrong type left of or", `s | "x"`, map[string]attribute.Value{"s": iv(20)}, attribute.Value{}, "error converting value to string: '20'"},
		{"wrong type double", `d`, map[string]attribute.Value{"d": iv(1)}, attribute.Value{}, "error converting value to double: '1'"},
		{"wrong type bool", `b`, map[string]attribute.Value{"b": sv("true")}, attribute.Value{}, "error converting value to bool: 'true'"},
		{"string-backed types interchangeable", `s == "a.b"`, map[string]attribute.Value{"s": attribute.DNSNameValue("a.b")}, attribute.BoolValue(true), ""},
		// Deliberate: TIMESTAMP <= and >= compare instants.
		{"timestamp le across zones", `t <= timestamp("2015-01-02T15:04:35Z")`,
			map[string]attribute.Value{"t": attribute.TimestampValue(time.Date(2015, 1, 2, 16, 4, 35, 0, time.FixedZone("X", 3600)))},
			attribute.BoolValue(true), ""},
		// Mixer compared DOUBLE bit patterns.
		{"double equality is bitwise", `d == 0.0`, map[string]attribute.Value{"d": attribute.DoubleValue(negZero())}, attribute.BoolValue(false), ""},
		// Deliberate: an operator on the left of | counts as present.
		{"operator left of or is present", `(i == 1) | b`, map[string]attribute.Value{"i": iv(1)}, attribute.BoolValue(true), ""},
		{"operator left of or, error propagates", `(i == 1) | b`, nil, attribute.Value{}, "lookup failed: 'i'"},
		{"index outside or, missing key", `m["k"]`, map[string]attribute.Value{"m": attribute.StringMapValue(nil)}, sv(""), ""},
		{"index key attribute absent in or", `m[s] | "d"`, map[string]attribute.Value{"m": attribute.StringMapValue(attribute.NewStringMap("", "v"))}, sv("d"), ""},
		{"index on conditional map", `conditional(b, m, emptyStringMap())["k"]`,
			map[string]attribute.Value{"b": attribute.BoolValue(true), "m": attribute.StringMapValue(attribute.NewStringMap("k", "v"))}, sv("v"), ""},
		{"regexp from attribute", `s.matches(s2)`, map[string]attribute.Value{"s": sv("^a+$"), "s2": sv("aaa")}, attribute.BoolValue(true), ""},
		{"invalid regexp from attribute", `s.matches(s2)`, map[string]attribute.Value{"s": sv("[a"), "s2": sv("aaa")}, attribute.Value{}, "error parsing regexp"},
		{"invalid constant regexp fails at eval", `"[a".matches(s)`, map[string]attribute.Value{"s": sv("a")}, attribute.Value{}, "error parsing regexp"},
		{"invalid constant regexp after argument", `"[a".matches(s)`, nil, attribute.Value{}, "lookup failed: 's'"},
		{"constant conversion error at eval", `ip("nope")`, nil, attribute.Value{}, "could not convert nope to IP_ADDRESS"},
		{"conditionalString is eager", `conditionalString(true, "a", s)`, nil, attribute.Value{}, "lookup failed: 's'"},
		{"int wraps", `i + 1`, map[string]attribute.Value{"i": iv(1<<63 - 1)}, iv(-1 << 63), ""},
		{"dns equality normalises", `dns == dnsName("A.b.")`, map[string]attribute.Value{"dns": attribute.DNSNameValue("a.B")}, attribute.BoolValue(true), ""},
		{"dns equality error", `dns == dnsName("a.b")`, map[string]attribute.Value{"dns": attribute.DNSNameValue("a_b")}, attribute.Value{}, "idna: disallowed rune U+005F"},
		{"dnsName decodes punycode", `dnsName("xn--bcher-kva.example")`, nil, attribute.DNSNameValue("bücher.example"), ""},
		{"empty string is present", `s | "x"`, map[string]attribute.Value{"s": sv("")}, sv(""), ""},
		{"ip 4 and 16 bytes equal", `ip == ip("10.0.0.1")`, map[string]attribute.Value{"ip": attribute.IPValue([]byte{10, 0, 0, 1})}, attribute.BoolValue(true), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Compile(c.expr, testVocab)
			if err != nil {
				t.Fatalf("Compile(%q): %v", c.expr, err)
			}
			got, err := e.Eval(testBag(t, c.bag))
			if c.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.err) {
					t.Fatalf("Eval(%q) = %v, %v; want error %q", c.expr, got, err, c.err)
				}
				return
			}
			if err != nil || !got.Equal(c.want) {
				t.Fatalf("Eval(%q) = %v (%v), %v; want %v (%v)", c.expr, got, got.Type(), err, c.want, c.want.Type())
			}
		})
	}
}

func negZero() float64 {
	z := 0.0
	return -z
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		expr, msg, pos string
	}{
		{`a = 2`, "unable to parse expression 'a = 2': 1:3: expected '==', found '='", "1:3"},
		{"s ==\n  = s2", "unable to parse expression 's ==\n  = s2': 2:3: expected operand, found '='", "2:3"},
		{`s == 2`, `EQ($s, 2) arg 2 (2) typeError got INT64, expected STRING`, "1:6"},
		{`nosuch == 2`, `unknown attribute nosuch`, "1:1"},
		{`s.nosuch()`, `unknown function: nosuch`, "1:3"},
		// Deliberate: Mixer printed a Go AST dump here.
		{`*s != s2`, `unexpected expression: '*s' at 1:1`, "1:1"},
		{`m["a"].startsWith("x")`, `unexpected expression: 'm["a"]' at 1:1`, "1:1"},
		{`0x10`, `strconv.ParseInt: parsing "0x10": invalid syntax`, "1:1"},
		{`s << 2`, `unknown function: `, "1:3"},
		// Mixer's internal compiler errors are kept verbatim.
		{`dur == "1s"`, `internal compiler error -- equality for type not yet implemented: duration`, "1:5"},
		{`m == m`, `internal compiler error -- equality for type not yet implemented: interface`, "1:3"},
		{`b < b`, `internal compiler error -- less than for type not yet implemented: bool`, "1:3"},
		{`dur >= dur`, `internal compiler error -- greater or equal for type not yet implemented: duration`, "1:5"},
		{`t + t`, `internal compiler error -- Add for type not yet implemented: interface`, "1:3"},
		{`odd`, `internal compiler error -- unhandled expression type: '12'`, "1:1"},
		{`(ip == ip) == (m == m)`, `internal compiler error -- equality for type not yet implemented: interface`, "1:18"},
	}
	for _, c := range cases {
		_, err := Compile(c.expr, testVocab)
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("Compile(%q) = %v, want a *CompileError", c.expr, err)
			continue
		}
		if ce.Error() != c.msg || ce.Position() != c.pos {
			t.Errorf("Compile(%q):\n  got  %q at %s\n  want %q at %s", c.expr, ce, ce.Position(), c.msg, c.pos)
		}
	}
}

func TestExpressionAPI(t *testing.T) {
	e, err := Compile(`conditional(b, s | s2 | "x", toLower(m["k"]))`, testVocab)
	if err != nil {
		t.Fatal(err)
	}
	if e.String() != `conditional(b, s | s2 | "x", toLower(m["k"]))` || e.Type() != attribute.TypeString || e.Vocabulary() != testVocab {
		t.Error("accessors")
	}
	if got := e.Attributes(); !slices.Equal(got, []string{"b", "m", "s", "s2"}) {
		t.Errorf("Attributes() = %v", got)
	}
	b := testBag(t, map[string]attribute.Value{"b": attribute.BoolValue(true)})
	if s, err := e.EvalString(b); err != nil || s != "x" {
		t.Errorf("EvalString = %q, %v", s, err)
	}
	if _, err := e.EvalBool(b); err == nil || err.Error() != `expression 'conditional(b, s | s2 | "x", toLower(m["k"]))' evaluated to type STRING, expected type BOOL` {
		t.Errorf("EvalBool on STRING: %v", err)
	}
	if _, err := e.EvalInt64(b); err == nil {
		t.Error("EvalInt64 on STRING must fail")
	}
	if _, err := e.EvalDouble(b); err == nil {
		t.Error("EvalDouble on STRING must fail")
	}
	if _, err := e.Eval(nil); err == nil {
		t.Error("nil bag must fail")
	}
	if _, err := e.Eval(attribute.NewBag(attribute.DefaultVocabulary())); err == nil {
		t.Error("a bag of another vocabulary must fail")
	}

	d, err := Compile(`dur | "1s"`, testVocab)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.EvalInt64(b); err == nil {
		t.Error("EvalInt64 on DURATION must fail: use Eval")
	}
	if v, err := d.Eval(b); err != nil || v.Duration() != time.Second || v.Type() != attribute.TypeDuration {
		t.Errorf("Eval DURATION = %v, %v", v, err)
	}
	f, _ := Compile(`d | 1.5`, testVocab)
	if v, err := f.EvalDouble(b); err != nil || v != 1.5 {
		t.Errorf("EvalDouble = %v, %v", v, err)
	}
	n, _ := Compile(`i | 3`, testVocab)
	if v, err := n.EvalInt64(b); err != nil || v != 3 {
		t.Errorf("EvalInt64 = %v, %v", v, err)
	}
	// nil vocabulary means the default one
	if x, err := Compile(`destination.service.host | "unknown"`, nil); err != nil || x.Vocabulary() != attribute.DefaultVocabulary() {
		t.Errorf("default vocabulary: %v", err)
	}
}

// TestConcurrentEval runs one expression from many goroutines, including the
// regexp cache of non-constant patterns (run with -race to make it bite).
func TestConcurrentEval(t *testing.T) {
	e, err := Compile(`s.matches(s2) && ip(s3 | "10.0.0.1") == ip("10.0.0.1")`, attribute.NewVocabulary(map[string]attribute.Type{
		"s": attribute.TypeString, "s2": attribute.TypeString, "s3": attribute.TypeString,
	}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := attribute.NewBag(e.Vocabulary())
			for i := range 200 {
				b.Reset()
				pat := []string{"^a", "c$", "b"}[(g+i)%3]
				b.SetString(0, pat)
				b.SetString(1, "abc")
				if ok, err := e.EvalBool(b); err != nil || !ok {
					t.Errorf("%s: %v, %v", pat, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		s, p string
		want bool
	}{
		{"abc", "*", true}, {"abc", "a*", true}, {"abc", "*c", true}, {"abc", "a*c", false},
		{"a*c", "a*c", true}, {"abc", "abc", true}, {"", "", true}, {"*", "**", true},
	} {
		if got := globMatch(c.s, c.p); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.s, c.p, got)
		}
		e, err := Compile(`match(s, "`+c.p+`")`, testVocab)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.EvalBool(testBag(t, map[string]attribute.Value{"s": attribute.StringValue(c.s)})); err != nil || got != c.want {
			t.Errorf("constant match(%q, %q) = %v, %v", c.s, c.p, got, err)
		}
	}
}

func TestPunycode(t *testing.T) {
	for enc, want := range map[string]string{
		"bcher-kva": "bücher", "ls8h": "💩", "abc-": "abc", "": "",
		"wgv71a119e": "日本語",
	} {
		if got, err := punycodeDecode(enc); err != nil || got != want {
			t.Errorf("punycodeDecode(%q) = %q, %v; want %q", enc, got, err, want)
		}
	}
	for _, bad := range []string{"-abc", "a!", "99999999999999999"} {
		if _, err := punycodeDecode(bad); err == nil {
			t.Errorf("punycodeDecode(%q) succeeded", bad)
		}
	}
	if ip := net.ParseIP("1.2.3.4"); !ipEqual(ip, ip.To4()) {
		t.Error("ipEqual must treat 4- and 16-byte forms alike")
	}
}
