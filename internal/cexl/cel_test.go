package cexl

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// celCaseFile is testdata/cel-cases.json: Istio's CEL-mode cases
// (testdata/README.md).
type celCaseFile struct {
	Manifest map[string]string `json:"manifest"`
	Cases    []exprCase        `json:"cases"`
}

// celRefused are the cases of Istio's table that we refuse when the
// expression is loaded, and why. Mixer accepted them; the ones it accepted
// only to fail on every evaluation are refused here so that a rule cannot
// load broken.
var celRefused = map[string]string{
	`source.labels == request.headers`:                    "Mixer failed every evaluation: maps have no equality",
	`type(source.labels)`:                                 "type values are not supported",
	`size(source.labels)`:                                 "Mixer failed every evaluation: size is not implemented on maps",
	`request.size + google.protobuf.Int64Value{value: 1}`: "message construction is not supported",
	`type(context.reporter.kind) == string`:               "type values are not supported",
	`source.name.split(' ')`:                              "no attribute or result is a list",
	`source.name.split(' ', 0)`:                           "no attribute or result is a list",
	`source.name.split(' ', 1)`:                           "no attribute or result is a list",
	`source.name.split(' ', 2)`:                           "no attribute or result is a list",
	`source.name.split(' ', -1)`:                          "no attribute or result is a list",
}

func TestConformanceCEL(t *testing.T) {
	var f celCaseFile
	loadJSON(t, "testdata/cel-cases.json", &f)
	vocab := vocabOf(t, f.Manifest)
	refused := 0
	for i, c := range f.Cases {
		t.Run(fmt.Sprintf("%03d", i), func(t *testing.T) {
			err := runCELCase(t, vocab, c)
			record("cel", err == nil)
			if err != nil {
				t.Errorf("%s  %s", c.Expr, err)
			}
		})
		if _, ok := celRefused[c.Expr]; ok {
			refused++
		}
	}
	if len(f.Cases) != 105 || refused != len(celRefused) {
		t.Errorf("%d cases, %d of them refused; want 105 and %d", len(f.Cases), refused, len(celRefused))
	}
}

func runCELCase(t *testing.T, vocab *attribute.Vocabulary, c exprCase) error {
	e, err := CompileDialect(c.Expr, vocab, CEL)
	if why, ok := celRefused[c.Expr]; ok {
		if err == nil {
			return fmt.Errorf("compiled, want it refused (%s)", why)
		}
		return nil
	}
	want := c.Expect
	if want.Error == "check" {
		if err == nil {
			return fmt.Errorf("compiled to %s, want a check error containing %q", e.Type(), want.Message)
		}
		if !strings.Contains(err.Error(), want.Message) {
			return fmt.Errorf("check error\n  got  %q\n  want it to contain %q", err, want.Message)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("compile: %v", err)
	}
	got, err := e.Eval(bagOf(t, vocab, c.Attributes))
	if want.Error == "eval" {
		if err == nil {
			return fmt.Errorf("evaluated to %v, want error %q", got, want.Message)
		}
		if err.Error() != want.Message {
			return fmt.Errorf("eval error\n  got  %q\n  want %q", err, want.Message)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("eval: %v", err)
	}
	switch got.Type() {
	case attribute.TypeDNSName, attribute.TypeEmailAddress, attribute.TypeURI:
		// Mixer handed these to adapters as strings.
		if want.Type == "STRING" {
			if got.Str() != want.Value {
				return fmt.Errorf("value %q, want %q", got.Str(), want.Value)
			}
			return nil
		}
	}
	return sameValue(got, want)
}

// TestCELSyntax covers CEL's syntax beyond Istio's table: literals, the
// operators and their precedence, and what is refused.
func TestCELSyntax(t *testing.T) {
	vocab := vocabOf(t, map[string]string{
		"request.method": "STRING", "request.headers": "STRING_MAP", "request.size": "INT64",
		"response.code": "INT64", "response.duration": "DURATION", "request.time": "TIMESTAMP",
		"test.double": "DOUBLE", "abc": "STRING", "context.protocol": "STRING",
	})
	bag := bagOf(t, vocab, map[string]attrSpec{
		"request.method":    {Type: "STRING", Value: "GET"},
		"request.headers":   {Type: "STRING_MAP", Value: map[string]any{"x-user": "ann", "x.dot": "d"}},
		"response.code":     {Type: "INT64", Value: json.Number("503")},
		"response.duration": {Type: "DURATION", Value: "1.5s"},
		"request.time":      {Type: "TIMESTAMP", Value: "2020-05-01T10:00:00Z"},
		"test.double":       {Type: "DOUBLE", Value: json.Number("2.5")},
	})
	for _, tc := range []struct {
		expr string
		want string // the value as Value.String() prints it, or "error: …" / "compile: …" (contained)
	}{
		{`request.method in ["GET", "HEAD"]`, "true"},
		{`"abc".indexOf("c") in [1, 2]`, "true"},
		{`"héllo".substring(1).size() in [0, 4]`, "true"},
		{`{"a": "b"}["x"].matches("a".substring(5))`, "error: no such key: x"}, // the receiver's error first
		{`request.method in ["POST"]`, "false"},
		{`request.method in []`, "false"},
		{`"x-user" in request.headers && !("y" in request.headers)`, "true"},
		{`request.headers.x_user`, "error: no such key: 'x_user'"},
		{`request.headers["x_user"]`, "error: no such key: 'x_user'"},
		{`{}["a"]`, "error: no such key: a"},
		{`{"b": "c"}.a`, "error: no such key: a"},
		{`request.headers["x.dot"]`, "d"},
		{`response.code >= 500 ? "error" : "ok"`, "error"},
		{`response.code < 400 ? 1 : response.code < 500 ? 2 : 3`, "3"},
		{`true ? 1 : 2 + 10`, "1"},
		{`false || true && false`, "false"},
		{`1 + 2 * 3 - 4 / 2 % 3`, "5"},
		{`-response.code`, "-503"},
		{`- -response.code`, "503"},
		{`!!true`, "true"},
		{`-9223372036854775808`, "-9223372036854775808"},
		{`-0x10 + -1.5e1 > -32.0`, "compile: found no matching overload for '_+_' applied to '(int, double)'"},
		{`-0x10 - -16`, "0"},
		{`9223372036854775808`, "compile: invalid int literal: 9223372036854775808"},
		{`1 - 9223372036854775808`, "compile: invalid int literal: 9223372036854775808"},
		{`-"x".size()`, "-1"},
		{`-5.size()`, "compile: found no matching overload for 'size' applied to '(int)'"},
		{`0x1F + 1`, "32"},
		{`1e3 + .5`, "1000.5"},
		{`'a\tb' == "a\u0009b"`, "true"},
		{`"\x41\101\u0041\U00000041"`, "AAAA"},
		{`"\xff\377" == "ÿÿ"`, "true"},
		{`"\q"`, "compile: invalid escape sequence in string literal: \\q"},
		{`r"a\tb".size()`, "4"},
		{`"5".matches(R'^\d+$')`, "true"},
		{`rB"x"`, "compile: bytes literals (rB\"x\") are not supported"},
		{`"""line1
line2""".size()`, "11"},
		{`'''it's'''`, "it's"},
		{"\"\\\"quoted\\\" \\`x\\` \\?\"", "\"quoted\" `x` ?"},
		{`size("héllo") + "héllo".size()`, "10"},
		{`"Hello".lowerAscii() + "é".upperAscii()`, "helloé"},
		{`"abc".contains("b") && !"abc".contains("d")`, "true"},
		{`request.method.matches("^G.T$") && matches(request.method, "E")`, "true"},
		{`int("42") + int(2.9) + int(-3.9)`, "41"},
		{`int("x")`, "error: cannot convert 'x' to int"},
		{`int(1e19)`, "error: range error converting 1e+19 to int"},
		{`int(request.time)`, "1588327200"},
		{`double(3) / 2.0 + double("0.25")`, "1.75"},
		{`string(12) + string(2.5) + string(true)`, "122.5true"},
		{`string(response.duration)`, "1.5s"},
		{`string(request.time)`, "2020-05-01T10:00:00Z"},
		{`request.time - duration("1h") < request.time`, "true"},
		{`request.time - timestamp("2020-05-01T09:00:00Z") == duration("1h")`, "true"},
		{`duration("1m") - response.duration > duration("58s")`, "true"},
		{`duration("x")`, "error: invalid duration 'x'"},
		{`response.duration + request.time > request.time`, "true"},
		{`request.time.getFullYear() * 10000 + (request.time.getMonth() + 1) * 100 + request.time.getDate()`, "20200501"},
		{`request.time.getDayOfWeek() + request.time.getDayOfMonth() + request.time.getDayOfYear()`, "126"},
		{`request.time.getHours("+05:30") * 100 + request.time.getMinutes("+05:30")`, "1530"},
		{`request.time.getHours("-08:00")`, "2"},
		{`request.time.getHours("UTC") + request.time.getSeconds() + request.time.getMilliseconds()`, "10"},
		{`request.time.getHours(request.method)`, "error: unknown time zone 'GET'"},
		{`response.duration.getMilliseconds() + response.duration.getSeconds() + duration("2h").getMinutes()`, "1621"},
		{`request.time.getHours("Nowhere/Special")`, "compile: unknown time zone 'Nowhere/Special'"},
		{`has(request.headers.x_user)`, "false"},
		{`has(context.protocol)`, "false"},
		{`pick(context.protocol, "http")`, "http"},
		{`{"a": "b", "c": "d"}["c"]`, "d"},
		{`"abc".substring(1) + "hello".charAt(1)`, "bce"},
		{`"  x ".trim().size()`, "1"},
		{`test.double * 2.0`, "5"},
		{`// a comment
response.code == 503`, "true"},
		{`.abc`, ""},

		{`request.method ==`, "compile: unable to parse expression"},
		{`request.method = "GET"`, "compile: token recognition error at: '='"},
		{`"unterminated`, "compile: unterminated string literal"},
		{`1u`, "compile: unsigned integers (1u) are not supported"},
		{`b"bytes"`, "compile: bytes literals (b\"bytes\") are not supported"},
		{`null`, "compile: null is not supported"},
		{`request.headers.all(k, k == "a")`, "compile: macro all() is not supported"},
		{`[1, 2]`, "compile: list values are not supported"},
		{`[1][3]`, "compile: index out of range: 3"},
		{`{"a": request.method}`, "compile: map literals must map string constants"},
		{`{"a": "b", "a": "c"}`, "compile: duplicate map key"},
		{`has(abc)`, "compile: invalid argument to has() macro"},
		{`if`, "compile: reserved identifier: if"},
		{`nosuch.attr`, "compile: undeclared reference to 'nosuch'"},
		{`request.method.size`, "compile: type 'STRING' does not support field selection"},
		{`request`, "compile: 'request' is a group of attributes (request.…), not a value; has() can test it"},
		{`size(request)`, "compile: found no matching overload for 'size' applied to '(.request)'"},
		{`(request).method`, "compile: found no matching overload for '_[_]' applied to '(.request, string)'"},
		{`size(request.auth)`, "compile: undefined field 'auth'"},
		{`request.time + request.time`, "compile: found no matching overload for '_+_' applied to '(google.protobuf.Timestamp, google.protobuf.Timestamp)'"},
		{`startsWith(request.method, "G")`, "compile: startsWith is a method"},
		{`request.method.toLower()`, "compile: found no matching overload for 'toLower' applied to a value"},
		{`toMilliseconds(response.duration)`, "compile: undeclared reference to 'toMilliseconds'"},
		{`"a".indexOf("a", 1, 2)`, "compile: found no matching overload for 'indexOf' applied to '(string, string, int, int)'"},
		{`conditional(true, 1, "x")`, "compile: found no matching overload for '_?_:_' applied to '(bool, int, string)'"},
		{`true ? 1 : "x"`, "compile: found no matching overload for '_?_:_'"},
		{`request.headers{}`, "compile: unable to parse expression"},
		{`true ? true ? 1 : 2 : 3`, "compile: expected ':', found '?'"}, // the middle is not a ternary in CEL's grammar
		{`x.y{a: 1}`, "compile: message construction (x.y{…}) is not supported"},
		{strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), "compile: expression nests too deeply"},
		{strings.Repeat("!", 300) + "true", "true"}, // an even run cancels out, as in cel-go
		{strings.Repeat("!", 301) + "true", "false"},
		{`!!10 == 10 && --5 == 5 && ---5 == -5`, "true"},
		{`!-1`, "compile: unexpected '-'"},
		{`1 in [1, {"a": "b"}["x"].size()]`, "error: no such key: x"}, // the list is built first
		{`request.method in [1, 2]`, "compile: found no matching overload for '@in' applied to '(string, list(int))'"},
		{`request.size in ["a", "b".substring(1)]`, "compile: found no matching overload for '@in' applied to '(int, list(string))'"},
		{`request.size in [1, "b"]`, "compile: found no matching overload for '_==_' applied to '(int, string)'"}, // mixed: not cel-go's list(dyn)
		{`request.size in [1, nosuch.x]`, "compile: undeclared reference to 'nosuch'"},
		{`request.size in ["a", 1.5]`, "compile: found no matching overload for '_==_' applied to '(int, string)'"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			e, err := CompileDialect(tc.expr, vocab, CEL)
			if want, ok := strings.CutPrefix(tc.want, "compile: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("compile error %v, want one containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			got, err := e.Eval(bag)
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if got.String() != tc.want {
				t.Fatalf("got %s (%s), want %s", got, got.Type(), tc.want)
			}
		})
	}
}

// TestCELErrorPosition checks that errors point into the expression.
func TestCELErrorPosition(t *testing.T) {
	_, err := CompileDialect("request.size == 1 &&\n  nosuch.x", nil, CEL)
	ce, ok := err.(*CompileError)
	if !ok || ce.Line != 2 || ce.Column != 3 {
		t.Fatalf("error %v at %d:%d, want 2:3", err, ce.Line, ce.Column)
	}
}

// TestCELEvalDoesNotAllocate: CEL's presence tests, membership and the
// ternary compile to closures that, like CEXL's, evaluate without
// allocating.
func TestCELEvalDoesNotAllocate(t *testing.T) {
	b := bookinfoBag(t)
	for _, src := range []string{
		`has(source.workload.name) ? source.workload.name : "unknown"`,
		`pick(source.labels["app"], "unknown")`,
		`request.method in ["GET", "HEAD"] && "app" in destination.labels`,
		`has(request.headers.cookie) || context.protocol == "http"`,
		`context.reporter.kind == "outbound" ? "source" : "destination"`,
		`!pick(request.useragent, "-").startsWith("kube-probe")`,
		`response.duration < duration("1s") && request.time.getHours() >= 0`,
	} {
		e, err := CompileDialect(src, nil, CEL)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if _, err := e.Eval(b); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if allocs := testing.AllocsPerRun(100, func() { _, _ = e.Eval(b) }); allocs != 0 {
			t.Errorf("%s allocates %.1f times per evaluation", src, allocs)
		}
	}
}
