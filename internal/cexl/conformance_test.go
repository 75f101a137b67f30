package cexl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// The conformance data comes from Istio's own test tables (testdata/README.md).
// Every section is run through the public API where it maps onto it; the
// parse and custom-function type-check sections use the internal parser and
// checker, since their expectations are about Mixer's AST.

type attrSpec struct {
	Type          string `json:"type"`
	Value         any    `json:"value"`
	IPBytes       int    `json:"ip_bytes"`
	GoType        string `json:"go_type"`
	ManifestType  string `json:"manifest_type"`
	NotInManifest bool   `json:"not_in_manifest"`
}

type expectSpec struct {
	Value   any    `json:"value"`
	Type    string `json:"type"`
	IPBytes int    `json:"ip_bytes"`
	Error   string `json:"error"`
	Message string `json:"message"`
	Match   string `json:"match"`
}

type exprCase struct {
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Expr       string              `json:"expr"`
	Manifest   string              `json:"manifest"`
	Attributes map[string]attrSpec `json:"attributes"`
	Expect     *expectSpec         `json:"expect"`
	Observed   *expectSpec         `json:"observed"`
	SkipReason string              `json:"skip_reason"`
	Modes      struct {
		Compat *compatMode `json:"cel_compat"`
	} `json:"modes"`
}

// compatMode is what Istio's COMPAT test (TestCEXLCompatibility) expected of
// a case: its own result where it differs from CEXL's, and whether any
// evaluation error was accepted in its place.
type compatMode struct {
	Checked      bool        `json:"checked"`
	Expect       *expectSpec `json:"expect"`
	Differs      bool        `json:"differs_from_cexl"`
	AnyEvalError bool        `json:"any_eval_error_also_accepted"`
}

type parseCase struct {
	Expr   string `json:"expr"`
	Expect struct {
		AST     string `json:"ast"`
		Error   string `json:"error"`
		Message string `json:"message"`
	} `json:"expect"`
}

type funcSpec struct {
	Name       string   `json:"name"`
	Instance   bool     `json:"instance_method"`
	TargetType string   `json:"target_type"`
	ReturnType string   `json:"return_type"`
	ArgTypes   []string `json:"arg_types"`
}

type typecheckCase struct {
	Expr      string            `json:"expr"`
	Manifest  map[string]string `json:"manifest"`
	Functions struct {
		Mode string     `json:"mode"`
		List []funcSpec `json:"list"`
	} `json:"functions"`
	Expect struct {
		Type    string `json:"type"`
		Error   string `json:"error"`
		Message string `json:"message"`
	} `json:"expect"`
}

type externCase struct {
	ID       string     `json:"id"`
	Function string     `json:"function"`
	Internal bool       `json:"internal"`
	Args     []attrSpec `json:"args"`
	Expect   expectSpec `json:"expect"`
}

type compileOnlyCase struct {
	ID           string `json:"id"`
	Expr         string `json:"expr"`
	Manifest     string `json:"manifest"`
	TypeObserved string `json:"type_observed"`
}

type caseFile struct {
	Manifests      map[string]map[string]string `json:"manifests"`
	Cases          []exprCase                   `json:"cases"`
	ParseCases     []parseCase                  `json:"parse_cases"`
	TypecheckCases []typecheckCase              `json:"typecheck_cases"`
	ExternCases    []externCase                 `json:"extern_cases"`
	CompileOnly    []compileOnlyCase            `json:"compile_only_cases"`
}

type observedFile struct {
	Cases []exprCase `json:"cases"`
}

func loadJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // INT64 values exceed float64 precision
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// tally counts results per section for the summary TestMain prints.
type tally struct{ passed, failed int }

var (
	tallies     = map[string]*tally{}
	tallyOrder  []string
	summaryLine = "cexl conformance:"
)

func record(section string, ok bool) {
	tl := tallies[section]
	if tl == nil {
		tl = &tally{}
		tallies[section] = tl
		tallyOrder = append(tallyOrder, section)
	}
	if ok {
		tl.passed++
	} else {
		tl.failed++
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if len(tallyOrder) > 0 {
		parts := make([]string, 0, len(tallyOrder))
		for _, s := range tallyOrder {
			tl := tallies[s]
			parts = append(parts, fmt.Sprintf("%s %d passed, %d failed", s, tl.passed, tl.failed))
		}
		fmt.Printf("%s %s\n", summaryLine, strings.Join(parts, "; "))
	}
	os.Exit(code)
}

func vocabOf(t testing.TB, manifest map[string]string) *attribute.Vocabulary {
	t.Helper()
	m := map[string]attribute.Type{}
	for n, ts := range manifest {
		typ, err := attribute.ParseType(ts)
		if err != nil {
			t.Fatalf("manifest attribute %s: %v", n, err)
		}
		m[n] = typ
	}
	return attribute.NewVocabulary(m)
}

// valueOf converts a JSON test value of the given type into a Value.
func valueOf(typ string, raw any, ipBytes int) (attribute.Value, error) {
	t, err := attribute.ParseType(typ)
	if err != nil {
		return attribute.Value{}, err
	}
	str, _ := raw.(string)
	switch t {
	case attribute.TypeString:
		return attribute.StringValue(str), nil
	case attribute.TypeDNSName:
		return attribute.DNSNameValue(str), nil
	case attribute.TypeEmailAddress:
		return attribute.EmailValue(str), nil
	case attribute.TypeURI:
		return attribute.URIValue(str), nil
	case attribute.TypeInt64:
		i, err := raw.(json.Number).Int64()
		return attribute.Int64Value(i), err
	case attribute.TypeDouble:
		f, err := raw.(json.Number).Float64()
		return attribute.DoubleValue(f), err
	case attribute.TypeBool:
		return attribute.BoolValue(raw.(bool)), nil
	case attribute.TypeTimestamp:
		ts, err := time.Parse(time.RFC3339Nano, str)
		return attribute.TimestampValue(ts), err
	case attribute.TypeDuration:
		d, err := time.ParseDuration(str)
		return attribute.DurationValue(d), err
	case attribute.TypeIPAddress:
		ip := net.ParseIP(str)
		if ip == nil {
			return attribute.Value{}, fmt.Errorf("bad IP %q", str)
		}
		if ipBytes == 4 {
			ip = ip.To4()
		}
		return attribute.IPValue(ip), nil
	case attribute.TypeStringMap:
		m := attribute.NewStringMap()
		for k, v := range raw.(map[string]any) {
			m.Set(k, v.(string))
		}
		return attribute.StringMapValue(m), nil
	}
	return attribute.Value{}, fmt.Errorf("unsupported type %s", typ)
}

func bagOf(t testing.TB, v *attribute.Vocabulary, attrs map[string]attrSpec) *attribute.Bag {
	t.Helper()
	b := attribute.NewBag(v)
	for name, a := range attrs {
		val, err := valueOf(a.Type, a.Value, a.IPBytes)
		if err != nil {
			t.Fatalf("attribute %s: %v", name, err)
		}
		// Attributes outside the manifest cannot be stored; that is the point
		// of the not_in_manifest cases.
		if err := b.SetByName(name, val); err != nil && !a.NotInManifest {
			t.Fatalf("attribute %s: %v", name, err)
		}
	}
	return b
}

// sameValue compares an evaluation result with an expectation by type.
func sameValue(got attribute.Value, want *expectSpec) error {
	if want.Type != "" && got.Type().String() != want.Type {
		return fmt.Errorf("value type %s, want %s", got.Type(), want.Type)
	}
	if want.Type == "IP_ADDRESS" && want.Value == "" { // COMPAT's default: no bytes
		if len(got.IP()) != 0 {
			return fmt.Errorf("IP %v, want an empty one", net.IP(got.IP()))
		}
		return nil
	}
	typ := want.Type
	if typ == "" {
		typ = got.Type().String()
	}
	exp, err := valueOf(typ, want.Value, want.IPBytes)
	if err != nil {
		return err
	}
	switch got.Type() {
	case attribute.TypeIPAddress:
		if want.IPBytes != 0 && len(got.IP()) != want.IPBytes {
			return fmt.Errorf("IP %v has %d bytes, want %d", got.IP(), len(got.IP()), want.IPBytes)
		}
		if !net.IP(got.IP()).Equal(net.IP(exp.IP())) {
			return fmt.Errorf("IP %v, want %v", net.IP(got.IP()), want.Value)
		}
		return nil
	case attribute.TypeDouble:
		if got.Double() != exp.Double() {
			return fmt.Errorf("value %v, want %v", got.Double(), exp.Double())
		}
		return nil
	}
	if !got.Equal(exp) {
		return fmt.Errorf("value %v, want %v", got, exp)
	}
	return nil
}

// runExprCase applies the procedure Istio's tests used: compile (exact
// error text or expected type), evaluate (error prefix or value).
func runExprCase(t *testing.T, vocab *attribute.Vocabulary, c exprCase, want *expectSpec) error {
	return runCase(t, vocab, c, CEXL, want, false)
}

// runCase is runExprCase for dialect d; anyError also accepts an evaluation
// error in place of the value.
func runCase(t *testing.T, vocab *attribute.Vocabulary, c exprCase, d Dialect, want *expectSpec, anyError bool) error {
	e, err := CompileDialect(c.Expr, vocab, d)
	if want.Error == "compile" {
		if err == nil {
			return fmt.Errorf("compiled to %s, want compile error %q", e.Type(), want.Message)
		}
		if err.Error() != want.Message {
			return fmt.Errorf("compile error\n  got  %q\n  want %q", err, want.Message)
		}
		if _, ok := err.(*CompileError); !ok {
			return fmt.Errorf("compile error is %T, want *CompileError", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("compile: %v", err)
	}
	if want.Type != "" && e.Type().String() != want.Type {
		return fmt.Errorf("type %s, want %s", e.Type(), want.Type)
	}
	got, err := e.Eval(bagOf(t, vocab, c.Attributes))
	if want.Error == "eval" {
		if err == nil {
			return fmt.Errorf("evaluated to %v, want error %q", got, want.Message)
		}
		switch want.Match {
		case "any":
		case "contains":
			if !strings.Contains(err.Error(), want.Message) {
				return fmt.Errorf("eval error\n  got  %q\n  want it to contain %q", err, want.Message)
			}
		default:
			if !strings.HasPrefix(err.Error(), want.Message) {
				return fmt.Errorf("eval error\n  got  %q\n  want prefix %q", err, want.Message)
			}
		}
		return nil
	}
	if err != nil && anyError {
		return nil
	}
	if err != nil {
		return fmt.Errorf("eval: %v", err)
	}
	return sameValue(got, want)
}

// loadCases reads the case file and builds the vocabulary of each of its
// manifests.
func loadCases(t *testing.T) (caseFile, map[string]*attribute.Vocabulary) {
	var f caseFile
	loadJSON(t, "testdata/cexl-cases.json", &f)
	vocabs := map[string]*attribute.Vocabulary{}
	for name, m := range f.Manifests {
		vocabs[name] = vocabOf(t, m)
	}
	return f, vocabs
}

func TestConformanceCases(t *testing.T) {
	f, vocabs := loadCases(t)
	runnable := 0
	for _, c := range f.Cases {
		if c.SkipReason != "" {
			continue // needs Istio's test-only `reverse` extern
		}
		runnable++
		t.Run(c.ID, func(t *testing.T) {
			err := runExprCase(t, vocabs[c.Manifest], c, c.Expect)
			record("cases", err == nil)
			if err != nil {
				t.Errorf("%s  %s", c.Expr, err)
			}
		})
	}
	if runnable != 421 {
		t.Errorf("%d runnable cases, want 421", runnable)
	}
}

// TestConformanceCOMPAT runs the cases Istio's COMPAT test ran, with the
// results it expected.
func TestConformanceCOMPAT(t *testing.T) {
	f, vocabs := loadCases(t)
	checked, differ := 0, 0
	for _, c := range f.Cases {
		m := c.Modes.Compat
		if m == nil || !m.Checked {
			continue
		}
		checked++
		want := c.Expect
		if m.Expect != nil {
			want = m.Expect
		}
		if m.Differs {
			differ++
		}
		t.Run(c.ID, func(t *testing.T) {
			err := runCase(t, vocabs[c.Manifest], c, COMPAT, want, m.AnyEvalError)
			record("compat", err == nil)
			if err != nil {
				t.Errorf("%s  %s", c.Expr, err)
			}
		})
	}
	if checked != 385 || differ != 57 {
		t.Errorf("%d COMPAT cases, %d with results of their own; want 385 and 57", checked, differ)
	}
}

func TestConformanceObserved(t *testing.T) {
	var f caseFile
	loadJSON(t, "testdata/cexl-cases.json", &f)
	var obs observedFile
	loadJSON(t, "testdata/cexl-observed.json", &obs)
	vocab := vocabOf(t, f.Manifests["default"])
	for _, c := range obs.Cases {
		t.Run(c.ID, func(t *testing.T) {
			err := runExprCase(t, vocab, c, c.Observed)
			record("observed", err == nil)
			if err != nil {
				t.Errorf("%s  %s", c.Expr, err)
			}
		})
	}
	if len(obs.Cases) != 44 {
		t.Errorf("%d probes, want 44", len(obs.Cases))
	}
}

func TestConformanceParse(t *testing.T) {
	var f caseFile
	loadJSON(t, "testdata/cexl-cases.json", &f)
	for _, c := range f.ParseCases {
		n, _, err := parse(c.Expr)
		var problem string
		switch {
		case c.Expect.Error == "" && err != nil:
			problem = fmt.Sprintf("parse error %v, want %s", err, c.Expect.AST)
		case c.Expect.Error == "" && n.String() != c.Expect.AST:
			problem = fmt.Sprintf("AST %s, want %s", n, c.Expect.AST)
		case c.Expect.Error != "" && err == nil:
			problem = fmt.Sprintf("parsed as %s, want error containing %q", n, c.Expect.Message)
		case c.Expect.Error != "" && !strings.Contains(err.Error(), c.Expect.Message):
			problem = fmt.Sprintf("error %q, want it to contain %q", err, c.Expect.Message)
		}
		record("parse", problem == "")
		if problem != "" {
			t.Errorf("%q: %s", c.Expr, problem)
		}
	}
	if len(f.ParseCases) != 45 {
		t.Errorf("%d parse cases, want 45", len(f.ParseCases))
	}
}

// intrinsicNames are the operators, which "only_these" type-check cases keep.
var intrinsicNames = []string{"EQ", "NEQ", "LT", "LEQ", "GT", "GEQ", "OR", "LOR", "LAND", "INDEX", "conditional", "ADD", "size"}

func TestConformanceTypecheck(t *testing.T) {
	var f caseFile
	loadJSON(t, "testdata/cexl-cases.json", &f)
	for _, c := range f.TypecheckCases {
		funcs := builtins
		if c.Functions.Mode == "only_these" {
			funcs = map[string]*funcMeta{}
			for _, n := range intrinsicNames {
				funcs[n] = builtins[n]
			}
			for _, fs := range c.Functions.List {
				fm := &funcMeta{instance: fs.Instance, targetType: mustType(t, fs.TargetType), ret: mustType(t, fs.ReturnType)}
				for _, a := range fs.ArgTypes {
					fm.args = append(fm.args, mustType(t, a))
				}
				funcs[fs.Name] = fm
			}
		}
		var typ attribute.Type
		n, ps, err := parse(c.Expr)
		if err == nil {
			chk := &checker{vocab: vocabOf(t, c.Manifest), funcs: funcs, ps: ps}
			typ, err = chk.check(n)
		}
		want := c.Expect.Message
		if want == "failed to parse" {
			// Istio's checker package wrapped parse errors in its own text;
			// the message underneath is the parser's.
			want = "unable to parse expression"
		}
		var problem string
		switch {
		case c.Expect.Error == "" && err != nil:
			problem = fmt.Sprintf("error %v, want type %s", err, c.Expect.Type)
		case c.Expect.Error == "" && typ.String() != c.Expect.Type:
			problem = fmt.Sprintf("type %s, want %s", typ, c.Expect.Type)
		case c.Expect.Error != "" && err == nil:
			problem = fmt.Sprintf("type %s, want error containing %q", typ, want)
		case c.Expect.Error != "" && !strings.Contains(err.Error(), want):
			problem = fmt.Sprintf("error %q, want it to contain %q", err, want)
		}
		record("typecheck", problem == "")
		if problem != "" {
			t.Errorf("%q: %s", c.Expr, problem)
		}
	}
	if len(f.TypecheckCases) != 38 {
		t.Errorf("%d type-check cases, want 38", len(f.TypecheckCases))
	}
}

func mustType(t testing.TB, s string) attribute.Type {
	t.Helper()
	if s == "" {
		return attribute.TypeUnspecified
	}
	typ, err := attribute.ParseType(s)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

// TestConformanceExterns runs the extern-function cases as expressions over
// attributes x0, x1, …: f(x0, …), x0.f(x1) for instance methods, and
// x0 == x1 for the internal *_equal helpers behind ==.
func TestConformanceExterns(t *testing.T) {
	var f caseFile
	loadJSON(t, "testdata/cexl-cases.json", &f)
	for _, c := range f.ExternCases {
		t.Run(c.ID, func(t *testing.T) {
			manifest := map[string]string{}
			attrs := map[string]attrSpec{}
			names := make([]string, len(c.Args))
			for i, a := range c.Args {
				names[i] = fmt.Sprintf("x%d", i)
				manifest[names[i]] = a.Type
				attrs[names[i]] = a
			}
			var expr string
			switch {
			case c.Internal:
				expr = names[0] + " == " + names[1]
			case builtins[c.Function] != nil && builtins[c.Function].instance:
				expr = fmt.Sprintf("%s.%s(%s)", names[0], c.Function, strings.Join(names[1:], ", "))
			default:
				expr = fmt.Sprintf("%s(%s)", c.Function, strings.Join(names, ", "))
			}
			vocab := vocabOf(t, manifest)
			err := func() error {
				e, err := Compile(expr, vocab)
				if err != nil {
					return fmt.Errorf("compile %s: %v", expr, err)
				}
				got, err := e.Eval(bagOf(t, vocab, attrs))
				if c.Expect.Error == "eval" {
					if err == nil {
						return fmt.Errorf("%s = %v, want an error", expr, got)
					}
					return nil
				}
				if err != nil {
					return fmt.Errorf("%s: %v", expr, err)
				}
				return sameValue(got, &c.Expect)
			}()
			record("extern", err == nil)
			if err != nil {
				t.Error(err)
			}
		})
	}
	if len(f.ExternCases) != 112 {
		t.Errorf("%d extern cases, want 112", len(f.ExternCases))
	}
}

func TestConformanceCompileOnly(t *testing.T) {
	var f caseFile
	loadJSON(t, "testdata/cexl-cases.json", &f)
	for _, c := range f.CompileOnly {
		e, err := Compile(c.Expr, vocabOf(t, f.Manifests[c.Manifest]))
		ok := err == nil && e.Type().String() == c.TypeObserved
		record("compile-only", ok)
		if !ok {
			t.Errorf("%s %q: %v (type %v), want type %s", c.ID, c.Expr, err, e, c.TypeObserved)
		}
	}
	if len(f.CompileOnly) != 26 {
		t.Errorf("%d compile-only cases, want 26", len(f.CompileOnly))
	}
}
