// Command celgo writes expression vectors for internal/cexl's CEL dialect:
// random expressions over literals (no attributes), each with the result
// cel-go gives it: a value, an evaluation error or a check error. CEL's
// syntax, operators and standard functions are cel-go's to define, so its
// answers are an oracle for ours; the known differences (Mixer's cel-go
// predates some of today's behaviour) are listed where the vectors are
// compared, in internal/cexl/celgo_test.go.
//
// It is its own module so that cel-go stays out of the collector's
// dependencies. Regenerate with make celgo-vectors.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// gen builds random, mostly well-typed expressions by the type wanted.
type gen struct {
	r     *rand.Rand
	depth int
}

var strs = []string{`""`, `"a"`, `"abc"`, `'héllo'`, `"Hello World"`, `"  pad  "`, `"a\tb"`, `"\u00e9t\u00e9"`, `'''x"y'''`, `r"\d+"`, `"42"`, `"-7"`, `"3.5"`, `"ab"`, `"ba"`, `"aXbXc"`}

func (g *gen) pick(n int) int { return g.r.IntN(n) }

// deep reports when to stop nesting and write a literal.
func (g *gen) deep() bool { return g.depth > 3 || g.pick(3) == 0 }

// in builds a compound expression one level deeper.
func (g *gen) in(f func() string) string {
	g.depth++
	defer func() { g.depth-- }()
	return f()
}

// i, d, s, b, t and du write an int, double, string, bool, timestamp and
// duration expression.

func (g *gen) i() string {
	if g.deep() {
		return []string{"0", "1", "2", "3", "7", "-1", "-5", "10", "100", "0x1F", "-0x10"}[g.pick(11)]
	}
	return g.in(func() string {
		switch g.pick(12) {
		case 0:
			return g.i() + " + " + g.i()
		case 1:
			return g.i() + " - " + g.i()
		case 2:
			return g.i() + " * " + g.i()
		case 3:
			return g.i() + " / " + g.i()
		case 4:
			return g.i() + " % " + g.i()
		case 5:
			return "-(" + g.i() + ")"
		case 6:
			return "size(" + g.s() + ")"
		case 7:
			return g.s() + ".size()"
		case 8:
			return "int(" + g.d() + ")"
		case 9:
			return g.s() + ".indexOf(" + g.s() + ")"
		case 10:
			return "(" + g.b() + " ? " + g.i() + " : " + g.i() + ")"
		case 11:
			switch g.pick(8) {
			case 0:
				return g.s() + ".lastIndexOf(" + g.s() + ")"
			case 1:
				return g.s() + ".indexOf(" + g.s() + ", " + g.i() + ")"
			case 2:
				return g.s() + ".lastIndexOf(" + g.s() + ", " + g.i() + ")"
			case 3:
				return "int(" + g.s() + ")"
			case 4:
				return g.t() + ".get" + []string{"FullYear", "Month", "DayOfYear", "DayOfMonth", "Date", "DayOfWeek", "Hours", "Minutes", "Seconds", "Milliseconds"}[g.pick(10)] + "(" + []string{"", `"UTC"`, `"+05:30"`, `"-08:00"`, `"America/New_York"`, `"Asia/Kolkata"`}[g.pick(6)] + ")"
			case 5:
				return g.du() + ".get" + []string{"Hours", "Minutes", "Seconds", "Milliseconds"}[g.pick(4)] + "()"
			case 6:
				return "int(" + g.t() + ")"
			}
			return "-" + g.i()
		}
		return "(" + g.i() + ")"
	})
}

func (g *gen) d() string {
	if g.deep() {
		return []string{"0.0", "1.5", "-2.25", "1e3", ".5", "3.0"}[g.pick(6)]
	}
	return g.in(func() string {
		switch g.pick(6) {
		case 0:
			return g.d() + " + " + g.d()
		case 1:
			return g.d() + " - " + g.d()
		case 2:
			return g.d() + " * " + g.d()
		case 3:
			return g.d() + " / " + g.d()
		case 4:
			if g.pick(2) == 0 {
				return "double(" + g.s() + ")"
			}
			return "double(" + g.i() + ")"
		}
		return "-" + g.d()
	})
}

func (g *gen) s() string {
	if g.deep() {
		return strs[g.pick(len(strs))]
	}
	return g.in(func() string {
		switch g.pick(11) {
		case 0:
			return g.s() + " + " + g.s()
		case 1:
			return "string(" + g.i() + ")"
		case 2:
			return g.s() + ".substring(" + g.i() + ")"
		case 3:
			return g.s() + ".charAt(" + g.i() + ")"
		case 4:
			return g.s() + ".lowerAscii()"
		case 5:
			return g.s() + ".upperAscii()"
		case 6:
			return g.s() + ".trim()"
		case 7:
			return g.s() + ".replace(" + g.s() + ", " + g.s() + ")"
		case 8:
			return "(" + g.b() + " ? " + g.s() + " : " + g.s() + ")"
		case 9:
			switch g.pick(7) {
			case 0:
				return "string(" + g.d() + ")"
			case 1:
				return "string(" + g.b() + ")"
			case 2:
				return g.s() + ".replace(" + g.s() + ", " + g.s() + ", " + g.i() + ")"
			case 3:
				return "string(" + g.du() + ")"
			case 4:
				return "string(" + g.t() + ")"
			case 5:
				return g.s() + ".reverse()"
			}
			return g.s() + ".substring(" + g.i() + ", " + g.i() + ")"
		}
		return `{"a": "x", "b": "y"}[` + g.s() + `]`
	})
}

func (g *gen) b() string {
	if g.deep() {
		return []string{"true", "false"}[g.pick(2)]
	}
	return g.in(func() string {
		switch g.pick(16) {
		case 0:
			return g.i() + " == " + g.i()
		case 1:
			return g.s() + " != " + g.s()
		case 2:
			return g.i() + " < " + g.i()
		case 3:
			return g.d() + " >= " + g.d()
		case 4:
			return g.s() + " < " + g.s()
		case 5:
			return g.b() + " && " + g.b()
		case 6:
			return g.b() + " || " + g.b()
		case 7:
			return "!" + g.b()
		case 8:
			return g.s() + ".startsWith(" + g.s() + ")"
		case 9:
			return g.s() + ".endsWith(" + g.s() + ")"
		case 10:
			return g.s() + ".contains(" + g.s() + ")"
		case 11:
			return g.s() + ".matches(" + g.s() + ")"
		case 12:
			return g.i() + " in [1, 2, " + g.i() + "]"
		case 13:
			return g.s() + ` in {"a": "x", "ab": "y"}`
		case 14:
			switch g.pick(4) {
			case 0:
				return g.t() + " < " + g.t()
			case 1:
				return g.du() + " >= " + g.du()
			case 2:
				return g.t() + " == " + g.t()
			}
			return `has({"a": "b"}.` + []string{"a", "b"}[g.pick(2)] + `)`
		}
		return "(" + g.b() + ")"
	})
}

var stamps = []string{`timestamp("2020-05-01T10:00:00Z")`, `timestamp("1999-12-31T23:59:59.123Z")`, `timestamp("2021-02-28T23:30:00+02:00")`}
var durs = []string{`duration("1m")`, `duration("30s")`, `duration("1h30m")`, `duration("-2s")`, `duration("1.5s")`}

func (g *gen) t() string {
	if g.deep() {
		return stamps[g.pick(len(stamps))]
	}
	return g.in(func() string {
		switch g.pick(3) {
		case 0:
			return g.t() + " + " + g.du()
		case 1:
			return g.t() + " - " + g.du()
		}
		return g.du() + " + " + g.t()
	})
}

func (g *gen) du() string {
	if g.deep() {
		return durs[g.pick(len(durs))]
	}
	return g.in(func() string {
		switch g.pick(3) {
		case 0:
			return g.du() + " + " + g.du()
		case 1:
			return g.du() + " - " + g.du()
		}
		return g.t() + " - " + g.t()
	})
}

func reverse(v ref.Val) ref.Val {
	r := []rune(string(v.(types.String)))
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return types.String(string(r))
}

func main() {
	count := flag.Int("n", 2500, "expressions to generate (duplicates are dropped)")
	seed := flag.Uint64("seed", 3, "random seed")
	flag.Parse()
	// The string extensions and reverse(), as Mixer's CEL had them.
	env, err := cel.NewEnv(ext.Strings(), cel.Function("reverse",
		cel.MemberOverload("string_reverse", []*cel.Type{cel.StringType}, cel.StringType, cel.UnaryBinding(reverse))))
	if err != nil {
		panic(err)
	}
	g := &gen{r: rand.New(rand.NewPCG(*seed, *seed+1))}
	enc := json.NewEncoder(os.Stdout)
	seen := map[string]bool{}
	for n := 0; n < *count; n++ {
		var e string
		switch g.pick(4) {
		case 0:
			e = g.i()
		case 1:
			e = g.d()
		case 2:
			e = g.s()
		default:
			e = g.b()
		}
		if seen[e] {
			continue
		}
		seen[e] = true
		ast, iss := env.Compile(e)
		rec := map[string]string{"expr": e}
		if iss.Err() != nil {
			rec["check"] = strings.ReplaceAll(iss.Err().Error(), "\n", " ")
		} else {
			prg, err := env.Program(ast)
			if err != nil {
				panic(err)
			}
			out, _, err := prg.Eval(cel.NoVars())
			if err != nil {
				rec["error"] = err.Error()
			} else {
				switch v := out.(type) {
				case types.String:
					rec["value"] = string(v)
				default:
					rec["value"] = fmt.Sprint(out.Value())
				}
				rec["type"] = out.Type().TypeName()
			}
		}
		if err := enc.Encode(rec); err != nil {
			panic(err)
		}
	}
}
