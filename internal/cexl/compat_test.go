package cexl

import (
	"strings"
	"testing"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

var compatVocab = attribute.NewVocabulary(map[string]attribute.Type{
	"request.size": attribute.TypeInt64, "request.headers": attribute.TypeStringMap,
	"request.path": attribute.TypeString, "request.time": attribute.TypeTimestamp,
	"response.duration": attribute.TypeDuration, "source.ip": attribute.TypeIPAddress,
	"name": attribute.TypeString,
})

// TestCOMPATSemantics pins what COMPAT does beyond Istio's COMPAT table, next
// to what CEXL does with the same expression and bag.
func TestCOMPATSemantics(t *testing.T) {
	sv, iv, bv := attribute.StringValue, attribute.Int64Value, attribute.BoolValue
	headers := func(kv ...string) attribute.Value { return attribute.StringMapValue(attribute.NewStringMap(kv...)) }
	hb := map[string]attribute.Value{"request.headers": headers("b", "1")}
	type result struct {
		want attribute.Value
		err  string // substring of the evaluation error; "compile" for a compile error
	}
	cases := []struct {
		name, expr   string
		bag          map[string]attribute.Value
		compat, cexl result
	}{
		{"dotted attribute absent outside |", `request.size + 1`, nil,
			result{want: iv(1)}, result{err: "lookup failed: 'request.size'"}},
		{"absent attribute equals its default", `request.path == ""`, nil,
			result{want: bv(true)}, result{err: "lookup failed: 'request.path'"}},
		{"absent attribute differs from a constant", `request.path != "/"`, nil,
			result{want: bv(true)}, result{err: "lookup failed: 'request.path'"}},
		{"absent timestamp is the epoch", `request.time`, nil,
			result{want: attribute.TimestampValue(time.Unix(0, 0).UTC())}, result{err: "lookup failed"}},
		{"dotted attribute left of | is tested for presence", `request.path | "/"`, nil,
			result{want: sv("/")}, result{want: sv("/")}},
		{"undotted attribute left of | has no presence", `name | "x"`, nil,
			result{want: sv("")}, result{want: sv("x")}},
		{"present wrong-typed value is an error", `request.path | "/"`, map[string]attribute.Value{"request.path": iv(3)},
			result{err: "error converting value to string"}, result{err: "error converting value to string"}},
		{"missing key outside |", `request.headers["a"]`, map[string]attribute.Value{"request.headers": headers("b", "1")},
			result{err: "no such key: 'a'"}, result{want: sv("")}},
		{"missing key, key from an attribute", `request.headers[request.path]`, map[string]attribute.Value{"request.headers": headers("b", "1")},
			result{err: "no such key: ''"}, result{err: "lookup failed: 'request.path'"}},
		{"missing key left of |", `request.headers["a"] | "none"`, map[string]attribute.Value{"request.headers": headers("b", "1")},
			result{want: sv("none")}, result{want: sv("none")}},
		{"key attribute absent left of |", `request.headers[request.path] | "none"`, map[string]attribute.Value{"request.headers": headers("", "empty")},
			result{want: sv("empty")}, result{want: sv("none")}},
		// CEL's functions: Mixer checked and ran COMPAT in CEL's environment.
		{"CEL's conversions", `string(request.size) + "/" + string(int("7") + 1)`, map[string]attribute.Value{"request.size": iv(503)},
			result{want: sv("503/8")}, result{err: "compile"}},
		{"CEL's string functions", `request.path.contains("ev") && request.path.lowerAscii().startsWith("/r")`, map[string]attribute.Value{"request.path": sv("/Reviews")},
			result{want: bv(true)}, result{err: "compile"}},
		{"CEL's arity is exact", `startsWith(request.path, "/", "x")`, nil,
			result{err: "compile"}, result{err: "compile"}},
		{"a type error", `request.size == "200"`, nil,
			result{err: "compile"}, result{err: "compile"}},
		// CEL's logical operators: a deciding operand wins over an error.
		{"error || true", `request.headers["a"] == "x" || true`, hb,
			result{want: bv(true)}, result{want: bv(true)}},
		{"error || false", `request.headers["a"] == "x" || false`, hb,
			result{err: "no such key"}, result{want: bv(false)}},
		{"error && false", `request.headers["a"] == "x" && false`, hb,
			result{want: bv(false)}, result{want: bv(false)}},
		{"true && error", `true && request.headers["a"] == "x"`, hb,
			result{err: "no such key"}, result{want: bv(false)}},
		{"false && error short-circuits", `false && request.headers["a"] == "x"`, nil,
			result{want: bv(false)}, result{want: bv(false)}},
		{"matches takes the subject first", `request.path.matches("^/api/")`, map[string]attribute.Value{"request.path": sv("/api/v1")},
			result{want: bv(true)}, result{want: bv(false)}},
		{"size counts code points", `size("héllo")`, nil,
			result{want: iv(5)}, result{want: iv(6)}},
		{"reverse as a function", `reverse(request.path)`, map[string]attribute.Value{"request.path": sv("héllo")},
			result{want: sv("olléh")}, result{err: "compile"}},
		{"reverse as a method", `request.path.reverse() == "ba"`, map[string]attribute.Value{"request.path": sv("ab")},
			result{want: bv(true)}, result{err: "compile"}},
		{"durations compare", `response.duration >= "10ms"`, map[string]attribute.Value{"response.duration": attribute.DurationValue(20 * time.Millisecond)},
			result{want: bv(true)}, result{err: "compile"}},
		{"durations are equal", `response.duration == "20ms"`, map[string]attribute.Value{"response.duration": attribute.DurationValue(20 * time.Millisecond)},
			result{want: bv(true)}, result{err: "compile"}},
		// CEL's operators that CEXL's syntax parses and CEXL refuses.
		{"not", `!(request.size == 0)`, nil, result{want: bv(false)}, result{err: "compile"}},
		{"unary minus", `-request.size`, map[string]attribute.Value{"request.size": iv(5)}, result{want: iv(-5)}, result{err: "compile"}},
		{"subtraction of an absent attribute", `request.size - 1`, nil, result{want: iv(-1)}, result{err: "compile"}},
		{"integer arithmetic", `7 / 2 * 3 % 4`, nil, result{want: iv(1)}, result{err: "compile"}},
		{"double arithmetic", `1.0 / 4.0 - -0.5`, nil, result{want: attribute.DoubleValue(0.75)}, result{err: "compile"}},
		{"integer division wraps", `(-9223372036854775807 - 1) / -1`, nil, result{want: iv(-9223372036854775807 - 1)}, result{err: "compile"}},
		{"division by zero", `request.size / 0`, nil, result{err: "divide by zero"}, result{err: "compile"}},
		{"modulus by zero", `request.size % request.size`, nil, result{err: "modulus by zero"}, result{err: "compile"}},
		{"no overload", `request.path - "a"`, nil, result{err: "compile"}, result{err: "compile"}},
		{"absent IP is empty, ip() of it fails", `ip(name)`, nil,
			result{err: "could not convert"}, result{err: "lookup failed: 'name'"}},
		{"conditional evaluates one branch", `conditional(request.size == 0, "zero", request.headers["a"])`, nil,
			result{want: sv("zero")}, result{err: "lookup failed: 'request.size'"}},
	}
	for _, c := range cases {
		for _, d := range []struct {
			name    string
			dialect Dialect
			want    result
		}{{"COMPAT", COMPAT, c.compat}, {"CEXL", CEXL, c.cexl}} {
			t.Run(c.name+"/"+d.name, func(t *testing.T) {
				e, err := CompileDialect(c.expr, compatVocab, d.dialect)
				if d.want.err == "compile" {
					if err == nil {
						t.Fatalf("compiled to %s, want a compile error", e.Type())
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				b := attribute.NewBag(compatVocab)
				for n, v := range c.bag {
					if err := b.SetByName(n, v); err != nil {
						t.Fatal(err)
					}
				}
				got, err := e.Eval(b)
				if d.want.err != "" {
					if err == nil || !strings.Contains(err.Error(), d.want.err) {
						t.Fatalf("got %v, %v; want an error containing %q", got, err, d.want.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !got.Equal(d.want.want) {
					t.Fatalf("got %v (%s), want %v (%s)", got, got.Type(), d.want.want, d.want.want.Type())
				}
			})
		}
	}
}

// TestCOMPATAbsentIP: an absent IP_ADDRESS reads as an address of no bytes,
// which is what COMPAT handed on.
func TestCOMPATAbsentIP(t *testing.T) {
	e, err := CompileDialect(`source.ip`, compatVocab, COMPAT)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Eval(attribute.NewBag(compatVocab))
	if err != nil || v.Type() != attribute.TypeIPAddress || len(v.IP()) != 0 {
		t.Fatalf("got %v (%s, %d bytes), %v; want an empty IP_ADDRESS", v, v.Type(), len(v.IP()), err)
	}
}
