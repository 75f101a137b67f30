package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const bookinfoAttrs = `{
  "destination.service.host": {"type": "STRING", "value": "reviews.default.svc.cluster.local"},
  "source.labels":            {"type": "STRING_MAP", "value": {"app": "productpage", "version": "v1"}},
  "response.code":            {"type": "INT64", "value": 200},
  "response.duration":        {"value": "7ms"},
  "request.time":             {"type": "TIMESTAMP", "value": "2019-08-05T12:00:00.5Z"},
  "destination.ip":           {"type": "IP_ADDRESS", "value": "10.44.0.12"},
  "connection.mtls":          {"type": "BOOL", "value": true},
  "request.size":             {"type": "STRING", "value": "wrong type on purpose"},
  "no.such.attribute":        {"type": "STRING", "value": "ignored"}
}`

func TestEval(t *testing.T) {
	attrs := writeFile(t, "attrs.json", bookinfoAttrs)
	flat := writeFile(t, "flat.json", `{"a": "INT64", "s": "string", "d": "DOUBLE", "m": "STRING_MAP"}`)
	resource := writeFile(t, "am.json", `{"apiVersion": "config.istio.io/v1alpha2", "kind": "attributemanifest",
		"metadata": {"name": "custom"}, "spec": {"attributes": {"x.y": {"valueType": "DNS_NAME"}}}}`)
	small := writeFile(t, "small.json", `{"a": {"value": 2}, "s": {"value": "<&>"}, "d": {"value": 0.5}, "m": {"value": {}}}`)
	yaml := writeFile(t, "am.yaml", "spec:\n  attributes:\n    a:\n      valueType: INT64\n")
	badAttrs := writeFile(t, "bad.json", `{"response.code": {"type": "INT64", "value": "x"}}`)

	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // exact, without the trailing newline
		stderr string // substring
	}{
		{"constant", []string{"1 + 1"}, 0, `{"type":"INT64","value":2}`, ""},
		{"default vocabulary, absent", []string{`destination.service.host | "unknown"`}, 0, `{"type":"STRING","value":"unknown"}`, ""},
		{"attributes", []string{"--attributes", attrs, `destination.service.host | "unknown"`}, 0,
			`{"type":"STRING","value":"reviews.default.svc.cluster.local"}`, "no.such.attribute is not in the vocabulary"},
		{"flags after expression", []string{`source.labels["app"] | "unknown"`, "--attributes", attrs}, 0, `{"type":"STRING","value":"productpage"}`, ""},
		{"map", []string{"--attributes", attrs, "source.labels"}, 0, `{"type":"STRING_MAP","value":{"app":"productpage","version":"v1"}}`, ""},
		{"timestamp", []string{"--attributes", attrs, "request.time"}, 0, `{"type":"TIMESTAMP","value":"2019-08-05T12:00:00.5Z"}`, ""},
		{"duration from declared type", []string{"--attributes", attrs, "response.duration"}, 0, `{"type":"DURATION","value":"7ms"}`, ""},
		{"duration literal", []string{`response.duration | "0"`}, 0, `{"type":"DURATION","value":"0s"}`, ""},
		{"ip", []string{"--attributes", attrs, `destination.ip | ip("0.0.0.0")`}, 0, `{"type":"IP_ADDRESS","value":"10.44.0.12"}`, ""},
		{"bool", []string{"--attributes", attrs, `connection.mtls && response.code == 200`}, 0, `{"type":"BOOL","value":true}`, ""},
		{"dns", []string{`dnsName("Foo.Bar.")`}, 0, `{"type":"DNS_NAME","value":"Foo.Bar."}`, ""},
		{"double and html characters", []string{"--manifest", flat, "--attributes", small, `conditional(s == "<&>", d + 1.0, 0.0)`}, 0, `{"type":"DOUBLE","value":1.5}`, ""},
		{"empty map", []string{"--manifest", flat, "--attributes", small, `m`}, 0, `{"type":"STRING_MAP","value":{}}`, ""},
		{"attributemanifest JSON", []string{"--manifest", resource, `x.y | dnsName("a.b")`}, 0, `{"type":"DNS_NAME","value":"a.b"}`, ""},
		{"merged manifests", []string{"--manifest", resource, "--manifest", flat, `size(s | "abc") + a`}, 1, `{"error":"lookup failed: 'a'"}`, ""},
		{"eval error", []string{"--attributes", attrs, `request.auth.principal == "u"`}, 1, `{"error":"lookup failed: 'request.auth.principal'"}`, ""},
		{"wrong-typed value", []string{"--attributes", attrs, `request.size | 0`}, 1, `{"error":"error converting value to integer or duration: 'wrong type on purpose'"}`, ""},
		{"COMPAT: absent reads as its default", []string{"--lang", "compat", "--attributes", attrs, `request.auth.principal == ""`}, 0, `{"type":"BOOL","value":true}`, ""},
		{"COMPAT: missing key", []string{"--lang", "COMPAT", "--attributes", attrs, `source.labels["zone"]`}, 1, `{"error":"no such key: 'zone'"}`, ""},
		{"CEL: has() and the ternary", []string{"--lang", "cel", "--attributes", attrs, `has(request.auth.principal) ? "y" : source.labels.app`}, 0, `{"type":"STRING","value":"productpage"}`, ""},
		{"CEL: CEXL's | is not CEL", []string{"--lang", "CEL", `source.name | ""`}, 2, `{"error":"unable to parse expression 'source.name | \"\"': 1:13: token recognition error at: '|'"}`, ""},
		{"unknown language", []string{"--lang", "OTTL", "1"}, 2, "", "--lang OTTL: want CEXL, COMPAT or CEL"},
		{"parse error", []string{"a = 2"}, 2, `{"error":"unable to parse expression 'a = 2': 1:3: expected '==', found '='"}`, ""},
		{"type error", []string{"response.code == \"200\""}, 2, `{"error":"EQ($response.code, \"200\") arg 2 (\"200\") typeError got STRING, expected INT64"}`, ""},
		{"unknown attribute with custom manifest", []string{"--manifest", flat, "response.code"}, 2, `{"error":"unknown attribute response.code"}`, ""},
		{"no expression", nil, 2, "", "want exactly one expression, got 0"},
		{"two expressions", []string{"1", "2"}, 2, "", "want exactly one expression, got 2"},
		{"unknown flag", []string{"--nope", "1"}, 2, "", "flag provided but not defined: -nope"},
		{"missing attributes file", []string{"--attributes", "/nonexistent/x.json", "1"}, 2, "", "--attributes /nonexistent/x.json"},
		{"bad attribute value", []string{"--attributes", badAttrs, "1"}, 2, "", "attribute response.code: want an integer"},
		{"yaml without loader", []string{"--manifest", yaml, "a"}, 2, "", "YAML manifests need"},
		{"help", []string{"--help"}, 0, "usage: istiotel eval", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := commands["eval"].run(c.args, &stdout, &stderr)
			out := strings.TrimSuffix(stdout.String(), "\n")
			if code != c.code {
				t.Errorf("exit %d, want %d (stdout %q, stderr %q)", code, c.code, out, stderr.String())
			}
			if c.name == "help" {
				out = strings.SplitN(out, " [", 2)[0]
			} else if strings.Count(stdout.String(), "\n") > 1 {
				t.Errorf("stdout must be one line: %q", stdout.String())
			}
			if out != c.stdout {
				t.Errorf("stdout\n  got  %s\n  want %s", out, c.stdout)
			}
			if !strings.Contains(stderr.String(), c.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), c.stderr)
			}
		})
	}
}

func TestEvalYAMLHook(t *testing.T) {
	yaml := writeFile(t, "am.yaml", "spec: ...")
	old := loadManifestYAML
	defer func() { loadManifestYAML = old }()
	loadManifestYAML = func(data []byte) (map[string]attribute.Type, error) {
		return map[string]attribute.Type{"from.yaml": attribute.TypeInt64}, nil
	}
	var stdout, stderr bytes.Buffer
	if code := commands["eval"].run([]string{"--manifest", yaml, "from.yaml | 7"}, &stdout, &stderr); code != 0 ||
		stdout.String() != "{\"type\":\"INT64\",\"value\":7}\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
