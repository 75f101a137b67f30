package cexl

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// fuzzVocab merges every manifest of the conformance data (and more) with Istio's
// default vocabulary, so seed expressions compile.
func fuzzVocab(t testing.TB, f *caseFile, more ...map[string]string) *attribute.Vocabulary {
	all := []map[string]attribute.Type{attribute.DefaultManifest()}
	for _, m := range f.Manifests {
		all = append(all, vocabOf(t, m).Manifest())
	}
	for _, m := range more {
		all = append(all, vocabOf(t, m).Manifest())
	}
	merged, _ := attribute.MergeManifests(all...) // conflicts do not matter here
	return attribute.NewVocabulary(merged)
}

var fuzzStrings = []string{"", "a", "abc", "st.*", "[a", "1.2.3.4", "::1", "foo.bar", "-foo", "xn--bcher-kva",
	"istio@istio.io", "\"x\"@y", "http://HOST:80/p", ":/", "2015-01-02T15:04:35Z", "10ms", "*", "a*", "\xff"}

// randomValue returns a value of a random type, so slots sometimes hold a
// type other than the declared one.
func randomValue(r *rand.Rand) attribute.Value {
	s := fuzzStrings[r.IntN(len(fuzzStrings))]
	switch r.IntN(11) {
	case 0:
		return attribute.Int64Value(r.Int64() - math.MaxInt64/2)
	case 1:
		return attribute.DoubleValue([]float64{0, math.Copysign(0, -1), 1.5, math.NaN(), math.Inf(1)}[r.IntN(5)])
	case 2:
		return attribute.BoolValue(r.IntN(2) == 0)
	case 3:
		return attribute.TimestampValue(time.Unix(r.Int64N(1<<40), 0))
	case 4:
		return attribute.DurationValue(time.Duration(r.Int64N(1 << 40)))
	case 5:
		return attribute.IPValue([][]byte{{1, 2, 3, 4}, make([]byte, 16), nil, {1}}[r.IntN(4)])
	case 6:
		m := attribute.NewStringMap()
		for range r.IntN(3) {
			m.Set(fuzzStrings[r.IntN(len(fuzzStrings))], fuzzStrings[r.IntN(len(fuzzStrings))])
		}
		return attribute.StringMapValue(m)
	case 7:
		return attribute.DNSNameValue(s)
	case 8:
		return attribute.EmailValue(s)
	case 9:
		return attribute.URIValue(s)
	}
	return attribute.StringValue(s)
}

// fillRandom makes each attribute absent, or present with a value of its
// declared type (usually) or of a random type.
func fillRandom(b *attribute.Bag, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed>>7|1))
	v := b.Vocabulary()
	for id := range v.Len() {
		switch r.IntN(4) {
		case 0: // absent
		case 1:
			b.Set(id, randomValue(r))
		default:
			for range 20 {
				if x := randomValue(r); x.Type() == v.Type(id) {
					b.Set(id, x)
					break
				}
			}
		}
	}
}

// FuzzCompileEval compiles arbitrary text in every dialect and evaluates
// whatever compiles on random bags. Nothing may panic, and a successful evaluation must produce a
// value of the expression's static type.
func FuzzCompileEval(f *testing.F) {
	var cf caseFile
	loadJSON(f, "testdata/cexl-cases.json", &cf)
	var obs observedFile
	loadJSON(f, "testdata/cexl-observed.json", &obs)
	for i, c := range append(cf.Cases, obs.Cases...) {
		f.Add(c.Expr, uint64(i))
	}
	for i, c := range cf.ParseCases {
		f.Add(c.Expr, uint64(i))
	}
	var cel celCaseFile
	loadJSON(f, "testdata/cel-cases.json", &cel)
	for i, c := range cel.Cases {
		f.Add(c.Expr, uint64(i))
	}
	vocab := fuzzVocab(f, &cf, cel.Manifest)
	f.Fuzz(func(t *testing.T, src string, seed uint64) {
		for _, d := range []Dialect{CEXL, COMPAT, CEL} {
			e, err := CompileDialect(src, vocab, d)
			if err != nil {
				if _, ok := err.(*CompileError); !ok {
					t.Fatalf("Compile(%q) returned %T, want *CompileError", src, err)
				}
				// CompileDialect turns a panic into an error; find those.
				if msg := err.Error(); strings.Contains(msg, "runtime error") || strings.Contains(msg, "interface conversion") {
					t.Fatalf("Compile(%q) in %v panicked: %v", src, d, err)
				}
				continue
			}
			b := attribute.NewBag(vocab)
			for round := range uint64(3) {
				b.Reset()
				fillRandom(b, seed+round)
				v, err := e.Eval(b)
				if err == nil && v.Type() != e.Type() {
					t.Fatalf("%q (dialect %d) evaluated to %v of type %v, want type %v", src, d, v, v.Type(), e.Type())
				}
				_, _ = e.EvalString(b)
				_, _ = e.EvalBool(b)
				_, _ = e.EvalInt64(b)
				_, _ = e.EvalDouble(b)
			}
		}
	})
}
