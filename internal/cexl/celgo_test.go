package cexl

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// celgoVector is one line of testdata/celgo-vectors.jsonl: an expression
// over literals and what cel-go made of it (tests/celgo).
type celgoVector struct {
	Expr  string `json:"expr"`
	Check string `json:"check"` // cel-go refused it
	Error string `json:"error"` // it failed to evaluate
	Value string `json:"value"`
	Type  string `json:"type"`
}

// Where today's cel-go and Mixer's knowingly differ, Mixer's is kept:
var (
	// Mixer's cel-go held timestamps as protobuf Timestamps, which have no
	// zone, so string() of one is in UTC; today's keeps the zone parsed.
	zonedTimestamp = regexp.MustCompile(`[+-]\d\d:\d\d`)
	// Mixer's string extensions refused an offset past the end of the
	// string (Istio's own table: indexOf('ello', 20)); today's give -1.
	offsetPastEnd = regexp.MustCompile(`^index out of range: \d+$`)
)

// TestCELAgainstCelGo compares the CEL dialect with cel-go on random
// expressions: the same ones refused, the same values, an error where cel-go
// has one. Error texts are not compared (today's cel-go words several of
// them differently from Mixer's: "division by zero", "integer overflow").
//
// COMPAT is compared too, on the expressions that are also CEXL: Mixer
// translated COMPAT's CEXL into CEL and checked and ran it in the same
// environment as CEL's, so it had all of CEL's functions.
func TestCELAgainstCelGo(t *testing.T) {
	f, err := os.Open("testdata/celgo-vectors.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := attribute.NewBag(attribute.DefaultVocabulary())
	counts, compat := map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v celgoVector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		outcome, problem := compareWithCelGo(v, b, CEL)
		counts[outcome]++
		if problem != "" {
			t.Errorf("%s\n  %s", v.Expr, problem)
		}
		if _, _, err := parse(v.Expr); err != nil {
			continue // not CEXL's syntax
		}
		outcome, problem = compareWithCelGo(v, b, COMPAT)
		compat[outcome]++
		if problem != "" {
			t.Errorf("COMPAT: %s\n  %s", v.Expr, problem)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("CEL outcomes: %v", counts)
	t.Logf("COMPAT outcomes: %v", compat)
	if counts["value"] < 500 || counts["refused"] < 50 || counts["error"] < 200 || compat["value"] < 300 {
		t.Errorf("too few vectors of some outcome: CEL %v, COMPAT %v", counts, compat)
	}
}

// compareWithCelGo evaluates v's expression and classifies the outcome; problem
// is non-empty when ours and cel-go's disagree beyond the known differences.
func compareWithCelGo(v celgoVector, b *attribute.Bag, d Dialect) (outcome, problem string) {
	e, err := CompileDialect(v.Expr, nil, d)
	switch {
	case v.Check != "" && err != nil:
		return "refused", ""
	case v.Check != "":
		return "refused", "compiled; cel-go refused it: " + v.Check
	case err != nil:
		return "refused", "refused (" + err.Error() + "); cel-go took it"
	}
	got, err := e.Eval(b)
	switch {
	case v.Error != "" && err != nil:
		return "error", ""
	case v.Error == "NaN values cannot be ordered" && got.Type() == attribute.TypeBool && !got.Bool():
		return "NaN ordered as false (Mixer's cel-go)", ""
	case v.Error != "":
		return "error", "evaluated to " + got.String() + "; cel-go failed: " + v.Error
	case err != nil && offsetPastEnd.MatchString(err.Error()) && strings.Contains(v.Expr, "ndexOf("):
		return "offset past the end refused (Mixer's cel-go)", ""
	case err != nil:
		return "value", "failed (" + err.Error() + "); cel-go gave " + v.Value
	}
	if got.Type() == attribute.TypeDouble {
		want, perr := strconv.ParseFloat(v.Value, 64)
		if perr == nil && (want == got.Double() || want != want && got.Double() != got.Double()) {
			return "value", ""
		}
	} else if got.String() == v.Value {
		return "value", ""
	}
	if strings.Contains(v.Expr, "string(") && strings.Contains(v.Expr, "timestamp(") && zonedTimestamp.MatchString(v.Value) {
		return "timestamp text in UTC (Mixer's cel-go)", ""
	}
	return "value", "value " + strconv.Quote(got.String()) + "; cel-go " + strconv.Quote(v.Value) + " (" + v.Type + ")"
}
