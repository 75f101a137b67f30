package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	const broken = "../../internal/istioconfig/testdata/broken/"
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // exact, unless contains is set
		contains []string
		stderr   string
	}{
		{
			name:   "seed config alone, checked against the default attributes",
			args:   []string{"../../internal/istioconfig/testdata/good-trio.yaml"},
			stdout: "3 accepted, 0 rejected, 0 unsupported; 0 problems; 1 rules, 1 instances, 1 handlers\n(no attributemanifest given: expressions were checked against Istio's default attributes)\n",
		},
		{
			name:   "embedded default profile, kubernetesenv included",
			args:   []string{"-embedded", "istio-1.1"},
			stdout: "24 accepted, 0 rejected, 0 unsupported; 0 problems; 8 rules, 11 instances, 3 handlers\n",
		},
		{
			name:   "one problem",
			args:   []string{"-q", broken + "parse-error.yaml"},
			code:   1,
			stdout: broken + "parse-error.yaml:8: rule/istio-system/parseerr: match: unable to parse expression 'request.id = \"x\"': 1:12: expected '==', found '=' (column 21)\n",
		},
		{
			name: "a directory of broken fixtures",
			args: []string{broken},
			code: 1,
			contains: []string{
				broken + "bad-yaml.yaml:14: invalid YAML: mapping values are not allowed in this context\n",
				broken + "value-not-string.yaml:8: metric/istio-system/numvalue: value: must be a string, not a number",
				"problems;",
			},
		},
		{
			name:   "COMPAT resources, with their CEXL twins",
			args:   []string{"-q", "../../internal/runtime/testdata/compat.yaml"},
			stdout: "",
		},
		{
			name:   "a CEXL match annotated CEL, under -lang COMPAT",
			args:   []string{"-q", "-lang", "compat", broken + "lang-cel.yaml"},
			stdout: "",
		},
		{name: "unknown -lang", args: []string{"-lang", "OTTL", broken}, code: 2, stderr: "-lang OTTL: want CEXL, COMPAT or CEL"},
		{
			name:   "missing path",
			args:   []string{"-q", "no/such/dir"},
			code:   1,
			stdout: "path no/such/dir: cannot read: no such file or directory\n",
		},
		{name: "no arguments", args: nil, code: 2, stderr: "usage: istiotel validate [flags] PATH..."},
		{name: "unknown profile", args: []string{"-embedded", "istio-0.8", "x"}, code: 2, stderr: `unknown embedded profile "istio-0.8"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"validate"}, tt.args...), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
			if tt.contains == nil && tt.stderr == "" && out.String() != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), tt.stdout)
			}
			for _, c := range tt.contains {
				if !strings.Contains(out.String(), c) {
					t.Errorf("stdout lacks %q:\n%s", c, out.String())
				}
			}
			if tt.stderr != "" && !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, errb.String())
			}
		})
	}
}
