package kubeenv_test

import (
	"net"
	"strings"
	"testing"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeenv"
)

// staticPods answers every lookup with the same result.
type staticPods kubeenv.Result

func (s *staticPods) Lookup(*kubeenv.Input) kubeenv.Result { return kubeenv.Result(*s) }

// recordingPods remembers the last input.
type recordingPods struct{ in kubeenv.Input }

func (r *recordingPods) Lookup(in *kubeenv.Input) kubeenv.Result { r.in = *in; return kubeenv.Result{} }

// build compiles config with the default profile's manifests and returns
// the vocabulary and the named kubernetes instance's spec.
func build(t testing.TB, config, instance string) (*attribute.Vocabulary, *kubeenv.Spec) {
	t.Helper()
	text := config
	if !strings.Contains(config, "attributemanifest") {
		data, err := istioconfig.Profile("istio-1.1")
		if err != nil {
			t.Fatal(err)
		}
		text = string(data) + "\n---\n" + config
	}
	res, probs := istioconfig.Decode("test.yaml", []byte(text))
	s := istioconfig.Build(istioconfig.Input{Resources: res, Problems: probs}, istioconfig.BuildOptions{})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	inst := s.Instances[instance]
	if inst == nil || inst.Kubernetes == nil {
		t.Fatalf("no kubernetes instance %s", instance)
	}
	return s.Vocabulary, inst.Kubernetes.Spec()
}

func productpage() (*kubeenv.Pod, *kubeenv.Workload) {
	return &kubeenv.Pod{
			Name: "productpage-v1-6c886ff494-hm7zk", Namespace: "default", UID: "kubernetes://productpage-v1-6c886ff494-hm7zk.default",
			Labels: attribute.NewStringMap("app", "productpage", "version", "v1"), ServiceAccount: "bookinfo-productpage",
			IP: net.ParseIP("10.44.0.11"), HostIP: net.ParseIP("192.168.0.1"),
		}, &kubeenv.Workload{Name: "productpage-v1", Namespace: "default", UID: "istio://default/workloads/productpage-v1",
			Owner: "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1"}
}

func set(t testing.TB, b *attribute.Bag, kv ...any) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		if err := b.SetByName(kv[i].(string), kv[i+1].(attribute.Value)); err != nil {
			t.Fatal(err)
		}
	}
}

func render(b *attribute.Bag, name string) string {
	v, ok := b.GetByName(name)
	if !ok {
		return "<absent>"
	}
	if v.Type() == attribute.TypeIPAddress {
		return net.IP(v.IP()).String()
	}
	return v.String()
}

// TestDefaultBindings runs the default config's attributes instance.
func TestDefaultBindings(t *testing.T) {
	vocab, spec := build(t, "", "attributes.kubernetes.istio-system")
	pp, ppw := productpage()
	tests := []struct {
		name   string
		bag    []any
		pods   kubeenv.Result
		want   map[string]string
		merged int
	}{
		{
			name: "both pods found; the proxy's values win",
			bag: []any{"source.uid", attribute.StringValue("kubernetes://x.default"), "destination.namespace", attribute.StringValue("from-proxy"),
				"destination.uid", attribute.StringValue("kubernetes://productpage-v1-6c886ff494-hm7zk.default")},
			pods: kubeenv.Result{Source: pp, SourceWorkload: ppw, Destination: pp, DestinationWorkload: ppw, DestinationContainer: "productpage"},
			want: map[string]string{
				"source.uid":                     "kubernetes://x.default", // sent by the proxy
				"source.name":                    "productpage-v1-6c886ff494-hm7zk",
				"source.ip":                      "10.44.0.11",
				"source.labels":                  "stringmap[app:productpage version:v1]",
				"source.workload.name":           "productpage-v1",
				"source.workload.uid":            "istio://default/workloads/productpage-v1",
				"source.owner":                   "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1",
				"source.serviceAccount":          "bookinfo-productpage",
				"destination.namespace":          "from-proxy",
				"destination.container.name":     "productpage",
				"destination.workload.namespace": "default",
			},
			merged: 18, // 21 bindings less the 3 attributes the proxy sent
		},
		{
			name: "unknown pods get the defaults",
			bag:  []any{"context.protocol", attribute.StringValue("tcp")},
			want: map[string]string{
				"source.uid": "unknown", "source.name": "unknown", "source.namespace": "default", "source.ip": "0.0.0.0",
				"source.labels": "stringmap[]", "source.owner": "unknown", "source.workload.name": "unknown",
				"destination.namespace": "default", "destination.ip": "0.0.0.0", "destination.container.name": "unknown",
				"destination.workload.namespace": "unknown", "destination.serviceAccount": "unknown",
			},
			merged: 21,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := kubeenv.NewGenerator(spec, vocab)
			if err != nil {
				t.Fatal(err)
			}
			b := attribute.NewBag(vocab)
			set(t, b, tt.bag...)
			pods := staticPods(tt.pods)
			if err := g.Run(b, &pods); err != nil {
				t.Fatal(err)
			}
			if n := g.Merge(b); n != tt.merged {
				t.Errorf("merged %d attributes, want %d", n, tt.merged)
			}
			for name, want := range tt.want {
				if got := render(b, name); got != want {
					t.Errorf("%s = %s, want %s", name, got, want)
				}
			}
			if n := g.Merge(b); n != 0 {
				t.Errorf("a second Merge set %d attributes", n)
			}
		})
	}
}

func TestGeneratorInputsAndFailures(t *testing.T) {
	const config = `apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: k, namespace: istio-system}
spec:
  compiledTemplate: kubernetes
  params:
    source_uid: source.uid
    destination_ip: destination.ip | ip("0.0.0.0")
    destination_port: destination.port | 0
  attributeBindings:
    source.name: $out.source_pod_name
    destination.name: $out.destination_pod_name | request.host | "unknown"
`
	vocab, spec := build(t, config, "k.instance.istio-system")
	pp, ppw := productpage()

	g, err := kubeenv.NewGenerator(spec, vocab)
	if err != nil {
		t.Fatal(err)
	}
	b := attribute.NewBag(vocab)
	rec := &recordingPods{}
	// An input that fails (source.uid has no default) fails the instance.
	if err := g.Run(b, rec); err == nil || !strings.Contains(err.Error(), "source_uid: lookup failed: 'source.uid'") {
		t.Errorf("err = %v", err)
	}
	set(t, b, "source.uid", attribute.StringValue("kubernetes://a.b"), "destination.ip", attribute.IPValue([]byte{10, 0, 0, 1}),
		"destination.port", attribute.Int64Value(9080), "request.host", attribute.StringValue("reviews:9080"))
	// A binding that fails (no default for an unknown source) fails it all, as in Mixer.
	if err := g.Run(b, rec); err == nil || !strings.Contains(err.Error(), "attribute_bindings source.name: lookup failed: '$out.source_pod_name'") {
		t.Errorf("err = %v", err)
	}
	if n := g.Merge(b); n != 0 {
		t.Errorf("merged %d after a failure", n)
	}
	if want := (kubeenv.Input{SourceUID: "kubernetes://a.b", DestinationIP: []byte{10, 0, 0, 1}, DestinationPort: 9080}); rec.in.SourceUID != want.SourceUID ||
		net.IP(rec.in.DestinationIP).String() != "10.0.0.1" || rec.in.DestinationPort != 9080 || rec.in.SourceIP != nil {
		t.Errorf("input = %+v", rec.in)
	}
	// Found: bindings read request attributes too.
	pods := staticPods{Source: pp, SourceWorkload: ppw}
	if err := g.Run(b, &pods); err != nil {
		t.Fatal(err)
	}
	g.Merge(b)
	if got := render(b, "destination.name"); got != "reviews:9080" {
		t.Errorf("destination.name = %s", got)
	}
	if got := render(b, "source.name"); got != pp.Name {
		t.Errorf("source.name = %s", got)
	}
}

// TestGenerateAllocations: the hot path reuses its buffers.
func TestGenerateAllocations(t *testing.T) {
	vocab, spec := build(t, "", "attributes.kubernetes.istio-system")
	g, err := kubeenv.NewGenerator(spec, vocab)
	if err != nil {
		t.Fatal(err)
	}
	pp, ppw := productpage()
	pods := staticPods{Source: pp, SourceWorkload: ppw, Destination: pp, DestinationWorkload: ppw}
	b := attribute.NewBag(vocab)
	run := func() {
		b.Reset()
		set(t, b, "source.uid", attribute.StringValue(pp.UID))
		if err := g.Run(b, &pods); err != nil {
			t.Fatal(err)
		}
		g.Merge(b)
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per bag", n)
	}
}
