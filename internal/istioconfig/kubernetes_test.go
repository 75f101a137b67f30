package istioconfig

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

func gvr(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "config.istio.io", Version: "v1alpha2", Resource: resource}
}

func kobj(kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": APIVersion,
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": ns},
	}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	return u
}

func fakeClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	lists := map[schema.GroupVersionResource]string{}
	for i, r := range KubernetesResources {
		lists[gvr(r)] = kubernetesKinds()[i] + "List"
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, objs...)
}

func trioObjects(ns string) []runtime.Object {
	return []runtime.Object{
		kobj("instance", ns, "okcount", map[string]any{
			"compiledTemplate": "metric",
			"params": map[string]any{
				"value":      "1",
				"dimensions": map[string]any{"source": `source.workload.name | "unknown"`},
			},
		}),
		kobj("handler", ns, "okprom", map[string]any{
			"compiledAdapter": "prometheus",
			"params": map[string]any{"metrics": []any{map[string]any{
				"name": "ok_count_" + ns, "instance_name": "okcount.instance." + ns, "kind": "COUNTER", "label_names": []any{"source"},
			}}},
		}),
		kobj("rule", ns, "okrule", map[string]any{
			"match":   `context.protocol == "http"`,
			"actions": []any{map[string]any{"handler": "okprom", "instances": []any{"okcount"}}},
		}),
	}
}

func TestKubernetesSource(t *testing.T) {
	ctx := t.Context()
	objs := append(trioObjects("istio-system"), trioObjects("other")...)
	objs = append(objs, kobj("kubernetes", "istio-system", "attributes", map[string]any{"source_uid": `source.uid | ""`}))
	client := fakeClient(objs...)
	rec := &reloads{}
	l := startLoader(t, rec, NewKubernetesSource(client, KubernetesOptions{}))
	s := l.Snapshot()
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(s.Rules) != 2 || len(s.Handlers) != 2 || len(s.Instances) != 3 {
		t.Fatalf("loaded %d rules, %d handlers, %d instances", len(s.Rules), len(s.Handlers), len(s.Instances))
	}
	if got := unsupportedRefs(s); len(got) > 0 {
		t.Errorf("unsupported = %v", got)
	}
	if i := s.Instances["attributes.kubernetes.istio-system"]; i == nil || i.Kubernetes == nil || i.Kubernetes.SourceUID == nil {
		t.Errorf("kubernetes instance = %+v", i)
	}
	rules := client.Resource(gvr("rules"))

	// An update is applied.
	r, err := rules.Namespace("istio-system").Get(ctx, "okrule", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(r.Object, `context.protocol == "grpc"`, "spec", "match")
	if _, err := rules.Namespace("istio-system").Update(ctx, r, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloadWait, "update applied", func() bool {
		return matchOf(l.Snapshot(), "okrule.rule.istio-system") == `context.protocol == "grpc"`
	})

	// A broken update keeps the last good version, with positionless problems.
	_ = unstructured.SetNestedField(r.Object, int64(3), "spec", "match")
	if _, err := rules.Namespace("istio-system").Update(ctx, r, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloadWait, "broken update noticed", func() bool { return len(l.Snapshot().Problems) > 0 })
	want := []string{
		"rule/istio-system/okrule: match: must be a string, not a number: an expression is written as a YAML string, e.g. '\"3\"'",
		"rule/istio-system/okrule: rejected; keeping the last good version",
	}
	if got := problemTexts(l.Snapshot()); !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
	if got := matchOf(l.Snapshot(), "okrule.rule.istio-system"); got != `context.protocol == "grpc"` {
		t.Errorf("match = %q, want the last good one", got)
	}

	// Created and deleted resources come and go.
	extra := kobj("rule", "other", "extra", map[string]any{
		"actions": []any{map[string]any{"handler": "okprom", "instances": []any{"okcount"}}},
	})
	if _, err := rules.Namespace("other").Create(ctx, extra, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloadWait, "create applied", func() bool { return matchOf(l.Snapshot(), "extra.rule.other") == "<always>" })
	if err := client.Resource(gvr("handlers")).Namespace("other").Delete(ctx, "okprom", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloadWait, "delete applied", func() bool { return l.Snapshot().Handlers["okprom.handler.other"] == nil })
	// The rules of namespace other lost their handler.
	if got := matchOf(l.Snapshot(), "extra.rule.other"); got != "<none>" {
		t.Errorf("extra rule survived its handler: %q", got)
	}
}

func TestKubernetesNamespaceFilter(t *testing.T) {
	objs := append(trioObjects("istio-system"), trioObjects("other")...)
	objs = append(objs, trioObjects("third")...)
	l := startLoader(t, &reloads{}, NewKubernetesSource(fakeClient(objs...), KubernetesOptions{Namespaces: []string{"istio-system", "third"}}))
	if err := l.Snapshot().Err(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range l.Snapshot().Rules {
		got = append(got, r.FQN)
	}
	if want := []string{"okrule.rule.istio-system", "okrule.rule.third"}; !slices.Equal(got, want) {
		t.Errorf("rules = %v, want %v", got, want)
	}
}

func TestKubernetesMissingCRD(t *testing.T) {
	objs := append(trioObjects("istio-system"), kobj("stdio", "istio-system", "later", map[string]any{"outputAsJson": true}))
	client := fakeClient(objs...)
	// The stdios CRD is not installed yet: listing it fails with 404.
	var installed atomic.Bool
	client.PrependReactor("list", "stdios", func(k8stesting.Action) (bool, runtime.Object, error) {
		if installed.Load() {
			return false, nil, nil
		}
		return true, nil, apierrors.NewNotFound(gvr("stdios").GroupResource(), "")
	})
	core, logs := observer.New(zap.WarnLevel)
	src := NewKubernetesSource(client, KubernetesOptions{SyncTimeout: 20 * time.Second, Logger: zap.New(core)})
	start := time.Now()
	l := startLoader(t, &reloads{}, src)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start took %v: it waited for a resource the server does not serve", d)
	}
	if w := logs.FilterMessageSnippet("not served: is their CustomResourceDefinition installed?").All(); len(w) != 1 ||
		!slices.Equal(w[0].ContextMap()["resources"].([]any), []any{"stdios"}) {
		t.Errorf("warning of the missing CRD: %v", logs.All())
	}
	if s := l.Snapshot(); len(s.Rules) != 1 || s.Err() != nil || len(s.Handlers) != 1 {
		t.Errorf("the installed kinds should load: %d rules, %d handlers, %v", len(s.Rules), len(s.Handlers), s.Err())
	}
	// Once the CRD exists, the informer's retry lists it.
	installed.Store(true)
	waitFor(t, 10*time.Second, "late CRD picked up", func() bool { return l.Snapshot().Handlers["later.stdio.istio-system"] != nil })
}

// A refusal names the resource once at warn level, however often the
// informer retries; another error answer is reported once for the whole
// source; no answer at all is left to the client's kubeconn.Monitor. All
// keep retrying.
func TestKubernetesAccessErrorsLogged(t *testing.T) {
	client := fakeClient(trioObjects("istio-system")...)
	var allowed atomic.Bool
	var refusals, failures, unanswered atomic.Int64
	client.PrependReactor("list", "rules", func(k8stesting.Action) (bool, runtime.Object, error) {
		if allowed.Load() {
			return false, nil, nil
		}
		refusals.Add(1)
		return true, nil, apierrors.NewForbidden(gvr("rules").GroupResource(), "", errors.New("RBAC: access denied"))
	})
	client.PrependReactor("list", "logentries", func(k8stesting.Action) (bool, runtime.Object, error) {
		failures.Add(1)
		return true, nil, apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
	})
	// No answer at all: the client's kubeconn.Monitor logs that, not the
	// source.
	client.PrependReactor("list", "kuberneteses", func(k8stesting.Action) (bool, runtime.Object, error) {
		unanswered.Add(1)
		return true, nil, fmt.Errorf("failed to list: %w", &url.Error{Op: "Get", URL: "https://10.96.0.1:443/apis/config.istio.io/v1alpha2/kuberneteses",
			Err: errors.New("dial tcp 10.96.0.1:443: connect: connection refused")})
	})
	core, logs := observer.New(zap.DebugLevel)
	src := NewKubernetesSource(client, KubernetesOptions{SyncTimeout: time.Second, Logger: zap.New(core)})
	l := startLoader(t, &reloads{}, src)
	waitFor(t, 20*time.Second, "the refused and the failing listing to be retried", func() bool {
		return refusals.Load() >= 2 && failures.Load() >= 2 && unanswered.Load() >= 2
	})
	warns := logs.FilterLevelExact(zap.WarnLevel)
	denied := warns.FilterMessageSnippet("access denied").All()
	if len(denied) != 1 || denied[0].ContextMap()["resource"] != "rules" {
		t.Errorf("access denied warnings: %v", denied)
	}
	if n := warns.FilterMessageSnippet("cannot list or watch").All(); len(n) != 1 || n[0].ContextMap()["resource"] != "logentries" {
		t.Errorf("warnings of failed listings: %v, want the one of logentries", n)
	}
	// Start's own warning names what it waited for in vain, not what was
	// refused.
	late := warns.FilterMessageSnippet("not listed within the sync timeout").All()
	if len(late) != 1 || !slices.Equal(late[0].ContextMap()["resources"].([]any), []any{"logentries", "kuberneteses"}) {
		t.Errorf("Start's warning of unlisted resources: %v", late)
	}
	if n := l.Snapshot().Rules; len(n) != 0 {
		t.Errorf("rules loaded while listing them is refused: %v", n)
	}
	allowed.Store(true)
	waitFor(t, 20*time.Second, "the rule once access is granted", func() bool { return len(l.Snapshot().Rules) == 1 })
}

// Start does not wait for a resource whose listing is refused: that takes
// someone granting access, as a missing CRD takes someone installing it.
func TestKubernetesRefusedNotWaitedFor(t *testing.T) {
	client := fakeClient(trioObjects("istio-system")...)
	client.PrependReactor("list", "handlers", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(gvr("handlers").GroupResource(), "", errors.New("RBAC: access denied"))
	})
	src := NewKubernetesSource(client, KubernetesOptions{SyncTimeout: 20 * time.Second})
	start := time.Now()
	l := startLoader(t, &reloads{}, src)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start took %v: it waited for a resource the server refuses", d)
	}
	if s := l.Snapshot(); len(s.Instances) != 1 || len(s.Handlers) != 0 {
		t.Errorf("the allowed kinds should load: %d instances, %d handlers", len(s.Instances), len(s.Handlers))
	}
}

func TestFromUnstructured(t *testing.T) {
	u := kobj("Metric", "ns", "m", map[string]any{
		"value":      "2",
		"dimensions": map[string]any{"a": "true", "b": `"x"`},
	})
	u.SetAnnotations(map[string]string{LangAnnotation: "OTTL"})
	r, err := FromUnstructured(u)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != "metric" || r.Annotations[LangAnnotation] != "OTTL" || r.File != "" || r.Line != 0 {
		t.Errorf("resource = %+v", r)
	}
	s := Build(Input{Resources: []*Resource{r}}, BuildOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	m := s.Instances["m.metric.ns"]
	if m.Value.Text != "2" || m.Dimensions[0].Expr.Text != "true" || m.Lang != LangOTTL {
		t.Errorf("instance = %+v", m)
	}
	bad := kobj("rule", "ns", "r", nil)
	bad.Object["spec"] = "not a map"
	if _, err := FromUnstructured(bad); err == nil || !strings.Contains(err.Error(), "must be a mapping") {
		t.Errorf("spec string: %v", err)
	}
}

// TestCRDs keeps deploy/kubernetes/crds.yaml in step with the resources the
// source watches, and checks that each schema keeps unknown spec fields.
func TestCRDs(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/crds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var plurals, kinds []string
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var crd struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Group string `yaml:"group"`
				Scope string `yaml:"scope"`
				Names struct {
					Kind     string `yaml:"kind"`
					ListKind string `yaml:"listKind"`
					Plural   string `yaml:"plural"`
					Singular string `yaml:"singular"`
				} `yaml:"names"`
				Versions []struct {
					Name    string `yaml:"name"`
					Served  bool   `yaml:"served"`
					Storage bool   `yaml:"storage"`
					Schema  struct {
						OpenAPIV3Schema struct {
							Type       string `yaml:"type"`
							Properties map[string]struct {
								Type     string `yaml:"type"`
								Preserve bool   `yaml:"x-kubernetes-preserve-unknown-fields"`
							} `yaml:"properties"`
						} `yaml:"openAPIV3Schema"`
					} `yaml:"schema"`
				} `yaml:"versions"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &crd); err != nil {
			t.Fatal(err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		n := crd.Spec.Names
		plurals = append(plurals, n.Plural)
		kinds = append(kinds, n.Kind)
		v := crd.Spec.Versions
		if crd.Spec.Group != "config.istio.io" || crd.Spec.Scope != "Namespaced" || n.ListKind != n.Kind+"List" || n.Singular != n.Kind ||
			len(v) != 1 || v[0].Name != "v1alpha2" || !v[0].Served || !v[0].Storage {
			t.Errorf("CRD %s: %+v", n.Plural, crd.Spec)
			continue
		}
		s := v[0].Schema.OpenAPIV3Schema
		if spec := s.Properties["spec"]; s.Type != "object" || spec.Type != "object" || !spec.Preserve {
			t.Errorf("CRD %s: spec schema %+v", n.Plural, s)
		}
	}
	if !slices.Equal(plurals, KubernetesResources) {
		t.Errorf("CRD plurals %v, watched resources %v", plurals, KubernetesResources)
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, kubernetesKinds()) {
		t.Errorf("CRD kinds %v, want %v", kinds, kubernetesKinds())
	}
}

// kubernetesKinds returns the kinds behind KubernetesResources, sorted.
func kubernetesKinds() []string {
	out := make([]string, 0, len(KubernetesResources))
	for _, r := range KubernetesResources {
		switch {
		case r == "kuberneteses":
			out = append(out, "kubernetes")
		case r == "prometheuses":
			out = append(out, "prometheus")
		case r == "logentries":
			out = append(out, "logentry")
		default:
			out = append(out, strings.TrimSuffix(r, "s"))
		}
	}
	slices.Sort(out)
	return out
}

// The level each kind of list or watch error is logged at.
func TestKubernetesWatchErrorLevels(t *testing.T) {
	unanswered := fmt.Errorf("failed to list: %w", &url.Error{Op: "Get", URL: "https://10.96.0.1:443/apis",
		Err: errors.New("dial tcp 10.96.0.1:443: connect: connection refused")})
	for _, tt := range []struct {
		name string
		errs []error
		want []string // levels and messages, in order
	}{
		{"no answer: the connection's monitor reports it", []error{unanswered, unanswered}, []string{"debug", "debug"}},
		{"error answers: once per source", []error{apierrors.NewInternalError(errors.New("etcd")), apierrors.NewServiceUnavailable("later")},
			[]string{"warn: Kubernetes config source: cannot list or watch; the configuration in force stays, retrying (later failures are logged at debug level)", "debug"}},
		{"refusals: once per resource", []error{apierrors.NewForbidden(gvr("rules").GroupResource(), "", errors.New("RBAC")), apierrors.NewUnauthorized("token")},
			[]string{"warn: Kubernetes config source: access denied; grant get, list and watch on the config.istio.io resources (deploy/kubernetes/rbac.yaml); resources of this kind are left out, retrying", "debug"}},
		{"expired watch: routine", []error{apierrors.NewResourceExpired("too old resource version")}, []string{"debug"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			s := NewKubernetesSource(fakeClient(), KubernetesOptions{Logger: zap.New(core)})
			handle := s.watchError(&kubeInformer{gvr: gvr("rules")})
			for _, err := range tt.errs {
				handle(t.Context(), nil, err)
			}
			var got []string
			for _, e := range logs.All() {
				if e.Level == zap.DebugLevel {
					got = append(got, "debug")
					continue
				}
				got = append(got, e.Level.String()+": "+e.Message)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("logged %q, want %q", got, tt.want)
			}
		})
	}
}
