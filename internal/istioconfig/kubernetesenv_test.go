package istioconfig

import (
	"strings"
	"testing"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeenv"
)

func TestDefaultProfileKubernetesEnv(t *testing.T) {
	data, err := Profile("istio-1.1")
	if err != nil {
		t.Fatal(err)
	}
	s := loadText(t, string(data), BuildOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	h := s.Handlers["kubernetesenv.handler.istio-system"]
	if h == nil || h.KubernetesEnv == nil || h.KubernetesEnv.CacheRefreshDuration != 5*time.Minute {
		t.Fatalf("kubernetesenv handler = %+v", h)
	}
	inst := s.Instances["attributes.kubernetes.istio-system"]
	if inst == nil || inst.Template != TemplateKubernetes || inst.Kubernetes == nil {
		t.Fatalf("attributes instance = %+v", inst)
	}
	kp := inst.Kubernetes
	if kp.SourceUID.Text != `source.uid | ""` || kp.SourceIP.Type() != attribute.TypeIPAddress ||
		kp.DestinationPort.Type() != attribute.TypeInt64 || kp.DestinationIP != nil {
		t.Errorf("inputs = %+v", kp)
	}
	if len(kp.Bindings) != 21 {
		t.Fatalf("%d bindings, want 21", len(kp.Bindings))
	}
	for _, b := range kp.Bindings {
		_, want, _ := s.Vocabulary.Lookup(b.Attribute)
		if b.Expr.Type() != want || !strings.HasPrefix(b.Expr.Text, "$out.") || b.Expr.Compiled.Vocabulary() != kp.OutputVocabulary {
			t.Errorf("binding %s = %q (%s)", b.Attribute, b.Expr.Text, b.Expr.Type())
		}
	}
	if b := kp.Bindings[0]; b.Attribute != "destination.container.name" || b.Expr.Text != `$out.destination_container_name | "unknown"` {
		t.Errorf("first binding = %s: %s", b.Attribute, b.Expr.Text)
	}
	for _, name := range []string{"kubeattrgenrulerule", "tcpkubeattrgenrulerule"} {
		var rule *Rule
		for _, r := range s.Rules {
			if r.Name == name {
				rule = r
			}
		}
		if rule == nil || len(rule.Actions) != 1 || rule.Actions[0].Handler != h || rule.Actions[0].Instances[0] != inst {
			t.Errorf("rule %s = %+v", name, rule)
		}
	}
}

// TestKubernetesInstanceLanguages: a kubernetes instance annotated COMPAT or
// CEL has its inputs compiled in that language; its attribute_bindings stay
// CEXL.
func TestKubernetesInstanceLanguages(t *testing.T) {
	for _, tc := range []struct {
		lang   Lang
		inputs string
		want   cexl.Dialect
	}{
		{LangCOMPAT, "  source_uid: source.uid\n", cexl.COMPAT},
		{LangCEL, "  source_uid: 'has(source.uid) ? source.uid : \"\"'\n  destination_ip: pick(destination.ip, ip(\"0.0.0.0\"))\n", cexl.CEL},
	} {
		t.Run(string(tc.lang), func(t *testing.T) {
			s := loadText(t, "apiVersion: config.istio.io/v1alpha2\nkind: kubernetes\n"+
				"metadata: {name: k, namespace: istio-system, annotations: {policy.istio.io/lang: "+string(tc.lang)+"}}\n"+
				"spec:\n"+tc.inputs+"  attribute_bindings: {source.workload.name: '$out.source_workload_name | \"unknown\"'}\n", BuildOptions{})
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			inst := s.Instances["k.kubernetes.istio-system"]
			if inst.Lang != tc.lang || inst.Kubernetes.SourceUID.Compiled.Dialect() != tc.want {
				t.Errorf("instance %s, source_uid compiled as %s; want %s", inst.Lang, inst.Kubernetes.SourceUID.Compiled.Dialect(), tc.want)
			}
			if b := inst.Kubernetes.Bindings[0]; b.Expr.Compiled.Dialect() != cexl.CEXL {
				t.Errorf("binding compiled as %s, want CEXL", b.Expr.Compiled.Dialect())
			}
		})
	}
}

// TestKubernetesInstanceForms: the generic instance of Istio 1.7 (bindings
// next to params, camelCase) and the legacy kind compile alike.
func TestKubernetesInstanceForms(t *testing.T) {
	s := loadText(t, `
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: attributes, namespace: istio-system}
spec:
  compiledTemplate: kubernetes
  params:
    source_uid: source.uid | ""
    destinationIp: destination.ip | ip("0.0.0.0")
  attributeBindings:
    source.workload.name: $out.source_workload_name | "unknown"
    source.labels: $out.source_labels | emptyStringMap()
    destination.name: $out.destination_pod_name | request.host | "unknown"
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: kubernetesenv, namespace: istio-system}
spec:
  compiledAdapter: kubernetesenv
  params: {cacheRefreshDuration: 30s, kubeconfig_path: /etc/kube}
---
apiVersion: config.istio.io/v1alpha2
kind: kubernetes
metadata: {name: legacy, namespace: istio-system}
spec:
  destination_uid: destination.uid | ""
  attribute_bindings:
    destination.workload.uid: $out.destination_workload_uid | "unknown"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: gen, namespace: istio-system}
spec:
  actions:
  - handler: kubernetesenv
    instances: [attributes, legacy.kubernetes]
`, BuildOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(s.Unsupported) > 0 {
		t.Errorf("unsupported: %v", s.Unsupported)
	}
	kp := s.Instances["attributes.instance.istio-system"].Kubernetes
	if kp.DestinationIP == nil || kp.SourceIP != nil || len(kp.Bindings) != 3 || kp.Bindings[0].Attribute != "destination.name" {
		t.Errorf("generic instance = %+v", kp)
	}
	if h := s.Handlers["kubernetesenv.handler.istio-system"].KubernetesEnv; h.CacheRefreshDuration != 30*time.Second || h.KubeconfigPath != "/etc/kube" {
		t.Errorf("handler params = %+v", h)
	}
	if got := s.Instances["legacy.kubernetes.istio-system"].Kubernetes; got.DestinationUID == nil || len(got.Bindings) != 1 {
		t.Errorf("legacy instance = %+v", got)
	}
	if r := s.Rules[0]; len(r.Actions) != 1 || len(r.Actions[0].Instances) != 2 {
		t.Errorf("rule = %+v", r)
	}
	// The generator accepts what the builder compiled.
	if _, err := kubeenv.NewGenerator(kp.Spec(), s.Vocabulary); err != nil {
		t.Error(err)
	}
}

func TestKubernetesInstanceProblems(t *testing.T) {
	const head = "apiVersion: config.istio.io/v1alpha2\nkind: kubernetes\nmetadata: {name: k, namespace: istio-system}\n"
	tests := []struct {
		name string
		text string
		want []string // each a substring of one problem, in order
	}{
		{
			name: "unknown output, with a suggestion",
			text: head + "spec:\n  attribute_bindings:\n    source.name: $out.source_podname | \"unknown\"\n",
			want: []string{`test.yaml:6: kubernetes/istio-system/k: attribute_bindings.source.name: $out.source_podname is not an output of the kubernetes template (did you mean "source_pod_name"?)`},
		},
		{
			name: "undeclared attribute",
			text: head + "spec:\n  attribute_bindings:\n    source.nope: $out.source_pod_name\n",
			want: []string{`attribute_bindings.source.nope: attribute "source.nope" is not declared in any attributemanifest`},
		},
		{
			name: "binding of the wrong type",
			text: head + "spec:\n  attribute_bindings:\n    source.ip: $out.source_pod_name | \"x\"\n",
			want: []string{`attribute_bindings.source.ip: expression '$out.source_pod_name | "x"' evaluated to type STRING, but attribute source.ip is of type IP_ADDRESS`},
		},
		{
			name: "binding that does not compile keeps its column",
			text: head + "spec:\n  attribute_bindings:\n    source.name: $out.source_pod_name | nosuch.attr\n",
			want: []string{"attribute_bindings.source.name: unknown attribute nosuch.attr (column 41)"},
		},
		{
			name: "input of the wrong type",
			text: head + "spec:\n  source_ip: source.uid | \"\"\n",
			want: []string{`source_ip: expression 'source.uid | ""' evaluated to type STRING, expected type IP_ADDRESS`},
		},
		{
			name: "unknown param",
			text: head + "spec:\n  origin_uid: origin.uid\n",
			want: []string{`origin_uid: unknown field "origin_uid"`},
		},
		{
			name: "bindings belong next to params in the generic form",
			text: "apiVersion: config.istio.io/v1alpha2\nkind: instance\nmetadata: {name: k, namespace: istio-system}\n" +
				"spec:\n  compiledTemplate: kubernetes\n  params:\n    attribute_bindings: {}\n",
			want: []string{`params.attribute_bindings: unknown field "attribute_bindings"`},
		},
		{
			name: "OTTL is refused",
			text: "apiVersion: config.istio.io/v1alpha2\nkind: kubernetes\nmetadata: {name: k, namespace: istio-system, annotations: {policy.istio.io/lang: OTTL}}\n" +
				"spec: {source_uid: 'attributes[\"source.uid\"]'}\n",
			want: []string{"kubernetes instances are CEXL, COMPAT or CEL only"},
		},
		{
			name: "kubernetes instance to prometheus, metric instance to kubernetesenv",
			text: head + "spec: {source_uid: source.uid}\n---\n" + `apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: m, namespace: istio-system}
spec: {compiledTemplate: metric, params: {value: "1"}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: p, namespace: istio-system}
spec: {compiledAdapter: prometheus, params: {}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: kenv, namespace: istio-system}
spec: {compiledAdapter: kubernetesenv}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: r, namespace: istio-system}
spec:
  actions:
  - {handler: p, instances: [k.kubernetes]}
  - {handler: kenv, instances: [m]}
`,
			want: []string{
				"instance k.kubernetes.istio-system is a kubernetes instance, which handler p.handler.istio-system (adapter prometheus) does not take",
				"actions[0].instances: no valid instances: the action is dropped",
				"instance m.instance.istio-system is a metric instance, which handler kenv.handler.istio-system (adapter kubernetesenv) does not take",
			},
		},
		{
			name: "bad handler param",
			text: "apiVersion: config.istio.io/v1alpha2\nkind: kubernetesenv\nmetadata: {name: k, namespace: istio-system}\nspec: {cache_refresh_duration: soon}\n",
			want: []string{`cache_refresh_duration: invalid duration "soon"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := loadText(t, tt.text, BuildOptions{})
			got := problemTexts(s)
			i := 0
			for _, p := range got {
				if i < len(tt.want) && strings.Contains(p, tt.want[i]) {
					i++
				}
			}
			if i < len(tt.want) {
				t.Errorf("problems:\n  %s\nwant (in order) one containing %q", strings.Join(got, "\n  "), tt.want[i])
			}
		})
	}
}
