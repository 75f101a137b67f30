package istioconfig

import (
	"strconv"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	const rule = "apiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {name: r, namespace: ns}\nspec: {match: \"true\"}\n"
	tests := []struct {
		name     string
		in       string
		want     []string // kind/namespace/name@line
		problems []string
	}{
		{
			name: "multi-document YAML with comments and empty documents",
			in:   "# header\n---\n" + rule + "---\n# only a comment\n---\n" + strings.Replace(rule, "name: r", "name: s", 1),
			want: []string{"rule/ns/r@3", "rule/ns/s@10"},
		},
		{
			name: "document end marker and content after the start marker",
			in:   "--- " + strings.TrimSuffix(strings.ReplaceAll(`{"apiVersion":"config.istio.io/v1alpha2","kind":"rule","metadata":{"name":"a"}}`, "\n", ""), "\n") + "\n...\n" + rule,
			want: []string{"rule//a@1", "rule/ns/r@3"},
		},
		{
			name: "CRLF line ends and a byte order mark",
			in:   "\ufeff" + strings.ReplaceAll(rule+"---\n"+rule, "\n", "\r\n"),
			want: []string{"rule/ns/r@1", "rule/ns/r@6"},
		},
		{
			name: "kind in another letter case",
			in:   strings.Replace(rule, "kind: rule", "kind: Rule", 1),
			want: []string{"rule/ns/r@1"},
		},
		{
			name: "Kubernetes List, as kubectl get -o yaml prints it",
			in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: config.istio.io/v1alpha2\n  kind: rule\n  metadata: {name: a}\n" +
				"- apiVersion: config.istio.io/v1alpha2\n  kind: handler\n  metadata: {name: b, namespace: x}\n  spec: {compiledAdapter: stdio}\n",
			want: []string{"rule//a@4", "handler/x/b@7"},
		},
		{
			name: "typed list kind",
			in:   "apiVersion: config.istio.io/v1alpha2\nkind: ruleList\nitems:\n- apiVersion: config.istio.io/v1alpha2\n  kind: rule\n  metadata: {name: a}\n",
			want: []string{"rule//a@4"},
		},
		{
			name: "JSON object",
			in:   "{\n  \"apiVersion\": \"config.istio.io/v1alpha2\",\n  \"kind\": \"rule\",\n  \"metadata\": {\"name\": \"j\", \"namespace\": \"ns\"},\n  \"spec\": {\"match\": \"true\"}\n}\n",
			want: []string{"rule/ns/j@1"},
		},
		{
			name: "JSON stream and JSON array",
			in: `{"apiVersion":"config.istio.io/v1alpha2","kind":"rule","metadata":{"name":"a"}}` + "\n" +
				`[{"apiVersion":"config.istio.io/v1alpha2","kind":"rule","metadata":{"name":"b"}},` + "\n" +
				` {"apiVersion":"config.istio.io/v1alpha2","kind":"rule","metadata":{"name":"c"}}]`,
			want: []string{"rule//a@1", "rule//b@2", "rule//c@3"},
		},
		{
			name: "JSON with tabs",
			in:   "{\n\t\"apiVersion\": \"config.istio.io/v1alpha2\",\n\t\"kind\": \"rule\",\n\t\"metadata\": {\"name\": \"t\"}\n}",
			want: []string{"rule//t@1"},
		},
		{
			name:     "broken JSON keeps what came before",
			in:       `{"apiVersion":"config.istio.io/v1alpha2","kind":"rule","metadata":{"name":"a"}}` + "\n{\"kind\": }",
			want:     []string{"rule//a@1"},
			problems: []string{"f.json:2: invalid JSON: invalid character '}' looking for beginning of value (column 10)"},
		},
		{
			name:     "a broken document loses only itself",
			in:       rule + "---\nkind: rule\n  metadata: x\n---\n" + rule,
			want:     []string{"rule/ns/r@1", "rule/ns/r@9"},
			problems: []string{"f.json:7: invalid YAML: mapping values are not allowed in this context"},
		},
		{
			name: "envelope errors",
			in: "kind: rule\nmetadata: {name: a}\n---\napiVersion: config.istio.io/v1alpha2\nmetadata: {name: a}\n---\n" +
				"apiVersion: config.istio.io/v1alpha2\nkind: rule\n---\napiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {namespace: n}\n---\n" +
				"apiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {name: a}\nspec: [1]\n---\n- just\n- a list\n---\nplain scalar\n",
			problems: []string{
				"f.json:1: rule//a: apiVersion is missing (column 1)",
				"f.json:4: kind is missing (column 1)",
				"f.json:7: rule//(unnamed): metadata is missing (column 1)",
				"f.json:12: rule/n/(unnamed): metadata.name: name is missing (column 11)",
				"f.json:17: rule//a: spec: must be a mapping, not a list (column 7)",
				"f.json:19: a document must be a Kubernetes object (a mapping), not a string (column 3)",
				"f.json:20: a document must be a Kubernetes object (a mapping), not a string (column 3)",
				"f.json:22: a document must be a Kubernetes object (a mapping), not a string (column 1)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, probs := Decode("f.json", []byte(tt.in))
			var got []string
			for _, r := range res {
				got = append(got, r.Kind+"/"+r.Namespace+"/"+r.Name+"@"+itoa(r.Line))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("resources:\n got %v\nwant %v", got, tt.want)
			}
			var gotP []string
			for _, p := range probs {
				gotP = append(gotP, p.Error())
			}
			if strings.Join(gotP, "\n") != strings.Join(tt.problems, "\n") {
				t.Errorf("problems:\n got %q\nwant %q", gotP, tt.problems)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzDecode checks that no input makes decoding or building panic, and
// that every problem names a position inside the input.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		"apiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {name: r}\nspec: {match: 'true', actions: [{handler: h, instances: [i]}]}\n",
		"---\n...\n--- {a: 1}\n",
		"{\"kind\":\"List\",\"items\":[{\"kind\":\"metric\"}]}",
		"apiVersion: config.istio.io/v1alpha2\nkind: prometheus\nmetadata: {name: p}\nspec: {metrics: [{instance_name: a.b.c, kind: 3, buckets: {linearBuckets: {numFiniteBuckets: 2, width: .inf}}}]}\n",
		"a: &x {<<: *x}\n",
		"&x {kind: List, items: [*x, *x]}\n",
		"apiVersion: config.istio.io/v1alpha2\nkind: metric\nmetadata: {name: m}\nspec: {value: '\"a\" + 1', dimensions: {x: 1e21}}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, probs := Decode("fuzz.yaml", data)
		lines := strings.Count(string(loneCRToLF(data)), "\n") + 1 // YAML breaks lines at a lone CR too
		for _, p := range probs {
			if p.Line < 0 || p.Line > lines {
				t.Fatalf("problem line %d outside the input (%d lines): %v", p.Line, lines, p)
			}
		}
		s := Build(Input{Resources: res, Problems: probs}, BuildOptions{})
		_ = Build(Input{Resources: res, Problems: probs}, BuildOptions{Previous: s})
	})
}
