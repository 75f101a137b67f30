package cexl

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// TestToMilliseconds covers toMilliseconds, our one extension to Mixer's
// function set (see the package documentation).
func TestToMilliseconds(t *testing.T) {
	dur := func(d time.Duration) map[string]attribute.Value {
		return map[string]attribute.Value{"dur": attribute.DurationValue(d)}
	}
	cases := []struct {
		name, expr string
		bag        map[string]attribute.Value
		want       float64
		err        string // prefix of the evaluation error
	}{
		{"attribute", `toMilliseconds(dur)`, dur(13601485 * time.Nanosecond), 13.601485, ""},
		{"whole milliseconds", `toMilliseconds(dur)`, dur(250 * time.Millisecond), 250, ""},
		{"sub-millisecond", `toMilliseconds(dur)`, dur(1500 * time.Microsecond), 1.5, ""},
		{"an hour", `toMilliseconds(dur)`, dur(time.Hour), 3.6e6, ""},
		{"negative", `toMilliseconds(dur)`, dur(-2 * time.Millisecond), -2, ""},
		{"largest duration", `toMilliseconds(dur)`, dur(math.MaxInt64), float64(math.MaxInt64) / 1e6, ""},
		{"constant folds", `toMilliseconds("1.5s")`, nil, 1500, ""},
		{"the v2 profile's form, present", `toMilliseconds(dur | "0ms")`, dur(42 * time.Millisecond), 42, ""},
		{"the v2 profile's form, absent", `toMilliseconds(dur | "0ms")`, nil, 0, ""},
		{"inside conditional", `conditional(b, toMilliseconds(dur), 0.5)`,
			map[string]attribute.Value{"b": attribute.BoolValue(false)}, 0.5, ""},
		{"sums as DOUBLE", `toMilliseconds(dur) + toMilliseconds("1ms")`, dur(time.Millisecond), 2, ""},
		{"absent outside or", `toMilliseconds(dur)`, nil, 0, "lookup failed: 'dur'"},
		{"present on the left of or", `toMilliseconds(dur) | d`, dur(time.Millisecond), 1, ""},
		// An INT64 value in a DURATION attribute was accepted by Mixer's
		// shared instruction; it reads as nanoseconds here too.
		{"int value in DURATION attribute", `toMilliseconds(dur)`,
			map[string]attribute.Value{"dur": attribute.Int64Value(2_000_000)}, 2, ""},
		{"string value in DURATION attribute", `toMilliseconds(dur)`,
			map[string]attribute.Value{"dur": attribute.StringValue("2ms")}, 0, "error converting value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Compile(c.expr, testVocab)
			if err != nil {
				t.Fatalf("Compile(%q): %v", c.expr, err)
			}
			if e.Type() != attribute.TypeDouble {
				t.Fatalf("type of %q = %v, want DOUBLE", c.expr, e.Type())
			}
			got, err := e.EvalDouble(testBag(t, c.bag))
			if c.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.err) {
					t.Fatalf("EvalDouble(%q) = %v, %v; want error %q", c.expr, got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("EvalDouble(%q) = %v, %v; want %v", c.expr, got, err, c.want)
			}
		})
	}
}

// TestToMillisecondsTypeErrors: the argument must be a DURATION, exactly
// (CEXL does not convert between types).
func TestToMillisecondsTypeErrors(t *testing.T) {
	cases := []struct{ expr, msg string }{
		{`toMilliseconds(i)`, `toMilliseconds($i) arg 1 ($i) typeError got INT64, expected DURATION`},
		{`toMilliseconds(d)`, `toMilliseconds($d) arg 1 ($d) typeError got DOUBLE, expected DURATION`},
		{`toMilliseconds(s)`, `toMilliseconds($s) arg 1 ($s) typeError got STRING, expected DURATION`},
		{`toMilliseconds("soon")`, `toMilliseconds("soon") arg 1 ("soon") typeError got STRING, expected DURATION`},
		{`toMilliseconds()`, `toMilliseconds() arity mismatch. Got 0 arg(s), expected 1 arg(s)`},
		{`dur.toMilliseconds()`, `invoking regular function on instance method: toMilliseconds`},
		{`toMilliseconds(dur) == 1`, `EQ(toMilliseconds($dur), 1) arg 2 (1) typeError got INT64, expected DOUBLE`},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			_, err := Compile(c.expr, testVocab)
			if err == nil || err.Error() != c.msg {
				t.Fatalf("Compile(%q) error = %v, want %q", c.expr, err, c.msg)
			}
		})
	}
}

// TestToMillisecondsAttributes: the argument's attributes are reported, so
// config tooling (istiotel explain) lists response.duration for the v2
// duration metric.
func TestToMillisecondsAttributes(t *testing.T) {
	e, err := Compile(`toMilliseconds(dur | "0ms")`, testVocab)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Attributes(); len(got) != 1 || got[0] != "dur" {
		t.Fatalf("Attributes() = %v, want [dur]", got)
	}
}
