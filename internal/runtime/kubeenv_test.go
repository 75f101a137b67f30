package runtime

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/kubeenv"
	"github.com/otelcol-istio/otelcol-istio/internal/oracle"
)

var bookinfoWorkloads = []*bookinfo.Workload{
	bookinfo.Gateway, bookinfo.ProductPage, bookinfo.Details, bookinfo.ReviewsV1, bookinfo.ReviewsV2,
	bookinfo.ReviewsV3, bookinfo.Ratings, bookinfo.RatingsV2, bookinfo.MongoDB,
}

// bookinfoCluster is the Kubernetes view of the Bookinfo workloads: each pod
// owned by a ReplicaSet <deployment>-<hash> owned by its Deployment.
func bookinfoCluster() []k8sruntime.Object {
	yes := true
	var objs []k8sruntime.Object
	for _, w := range bookinfoWorkloads {
		rs := w.Name() + "-" + w.PodHash
		lbl := map[string]string{"app": w.App, "pod-template-hash": w.PodHash}
		if w.Version != "" {
			lbl["version"] = w.Version
		}
		port := int32(9080)
		if w == bookinfo.MongoDB {
			port = 27017
		}
		objs = append(objs,
			&corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: w.Pod, Namespace: w.Namespace, Labels: lbl,
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, Controller: &yes}}},
				Spec: corev1.PodSpec{ServiceAccountName: w.ServiceAccount, Containers: []corev1.Container{
					{Name: w.App, Ports: []corev1.ContainerPort{{ContainerPort: port}}},
					{Name: "istio-proxy", Ports: []corev1.ContainerPort{{ContainerPort: 15090}}},
				}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: w.IP.String(), HostIP: "10.128.0.7"},
			},
			&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: rs, Namespace: w.Namespace,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: w.Name(), Controller: &yes}}}})
	}
	return objs
}

func bookinfoPods(t testing.TB) *kubeenv.Cache {
	t.Helper()
	c := kubeenv.NewCache(fake.NewClientset(bookinfoCluster()...), kubeenv.Options{})
	require.NoError(t, c.Start(t.Context()))
	t.Cleanup(c.Stop)
	require.Equal(t, len(bookinfoWorkloads), c.Len())
	return c
}

// defaultSnapshot is the embedded istio-1.1 profile, plus extra resources,
// with pods as its pod lookup (nil: off Kubernetes).
func defaultSnapshot(t testing.TB, pods kubeenv.Pods, extra string) *istioconfig.Snapshot {
	t.Helper()
	data, err := istioconfig.Profile("istio-1.1")
	require.NoError(t, err)
	if extra != "" {
		data = append(data, "\n---\n"+extra...)
	}
	res, probs := istioconfig.Decode("istio-1.1.yaml", data)
	s := istioconfig.Build(istioconfig.Input{Resources: res, Problems: probs}, istioconfig.BuildOptions{Pods: pods})
	require.NoError(t, s.Err())
	require.Empty(t, s.Unsupported)
	return s
}

// traffic is the same Bookinfo traffic with or without the kubernetesenv
// attributes: page loads and TCP connections.
func traffic(enriched bool) []bookinfo.Bag {
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 7, Enriched: enriched, MTLS: true})
	var out []bookinfo.Bag
	for range 30 {
		out = append(out, g.Next()...)
	}
	for range 3 {
		out = append(out, g.TCPConnection()...)
	}
	return out
}

// run dispatches bags through an engine and returns its samples and the
// attributes of its log records by instance.
func run(t testing.TB, snap *istioconfig.Snapshot, bags []bookinfo.Bag) (map[string]oracle.Float, map[string][]map[string]any, *Engine) {
	e := New(snap, Options{Now: func() time.Time { return time.Date(2020, 7, 1, 10, 0, 0, 0, time.UTC) }})
	out := plog.NewLogs()
	e.Dispatch(bagLogs(bags...), out)
	recs := map[string][]map[string]any{}
	for _, rl := range out.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				recs[lr.EventName()] = append(recs[lr.EventName()], lr.Attributes().AsRaw())
			}
		}
	}
	return sampleMap(samples(e.Metrics())), recs, e
}

// TestEnrichmentMatchesMixer: Bookinfo reports that carry only what the
// proxies sent produce, through the default config and a cluster holding
// the Bookinfo pods, the series and access-log entries of the reports Mixer
// recorded after kubernetesenv had run.
func TestEnrichmentMatchesMixer(t *testing.T) {
	pods := bookinfoPods(t)
	want, wantRecs, _ := run(t, defaultSnapshot(t, nil, ""), traffic(true))
	got, gotRecs, e := run(t, defaultSnapshot(t, pods, ""), traffic(false))

	assert.Equal(t, want, got)
	requests := 0
	for k := range got {
		if strings.HasPrefix(k, "istio_requests_total,") {
			requests++
		}
	}
	assert.Equal(t, 14, requests, "istio_requests_total series (7 caller-callee pairs × 2 reporters)")
	// The labels Mixer got from kubernetesenv are there, not "unknown".
	assert.Contains(t, got, `istio_requests_total,connection_security_policy="mutual_tls",destination_app="reviews",`+
		`destination_principal="cluster.local/ns/default/sa/bookinfo-reviews",destination_service="reviews.default.svc.cluster.local",`+
		`destination_service_name="reviews",destination_service_namespace="default",destination_version="v2",destination_workload="reviews-v2",`+
		`destination_workload_namespace="default",permissive_response_code="none",permissive_response_policyid="none",reporter="destination",`+
		`request_protocol="http",response_code="200",response_flags="-",source_app="productpage",`+
		`source_principal="cluster.local/ns/default/sa/bookinfo-productpage",source_version="v1",source_workload="productpage-v1",`+
		`source_workload_namespace="default"`)

	require.ElementsMatch(t, slices.Collect(maps.Keys(wantRecs)), slices.Collect(maps.Keys(gotRecs)))
	for name := range wantRecs {
		assert.Equal(t, wantRecs[name], gotRecs[name], "records of %s", name)
	}
	acc := gotRecs["accesslog.logentry.istio-system"]
	require.Equal(t, len(traffic(false))-18, len(acc)) // all but the 18 TCP reports
	assert.Equal(t, "istio-ingressgateway", acc[0]["sourceWorkload"])
	assert.Equal(t, "kubernetes://apis/apps/v1/namespaces/istio-system/deployments/istio-ingressgateway", acc[0]["sourceOwner"])
	assert.Equal(t, "10.44.0.2", acc[0]["sourceIp"])
	assert.Equal(t, 18, len(gotRecs["tcpaccesslog.logentry.istio-system"]))
	st := e.EnrichmentStats()
	assert.Equal(t, uint64(len(traffic(false))), st.BagsEnriched.Load())
	ps := pods.Stats()
	assert.Zero(t, ps.NotFound)
	assert.Positive(t, ps.ByUID)
}

func bagWith(b bookinfo.Bag, kv ...any) bookinfo.Bag {
	out := slices.Clone(b)
	for i := 0; i < len(kv); i += 2 {
		name := kv[i].(string)
		out = slices.DeleteFunc(out, func(a bookinfo.Attr) bool { return a.Name == name })
		if kv[i+1] != nil {
			out = append(out, bookinfo.Attr{Name: name, Value: kv[i+1].(attribute.Value)})
		}
	}
	return out
}

// requestLabels returns the labels of the one istio_requests_total series.
func requestLabels(t *testing.T, e *Engine) map[string]string {
	t.Helper()
	for _, s := range samples(e.Metrics()) {
		if s.Name == "istio_requests_total" {
			return s.Labels
		}
	}
	t.Fatal("no istio_requests_total series")
	return nil
}

func TestEnrichmentCases(t *testing.T) {
	pods := bookinfoPods(t)
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1})
	call := g.PageLoad()[1] // productpage → details
	inbound := g.HTTP(call, false)
	tests := []struct {
		name string
		bag  bookinfo.Bag
		pods kubeenv.Pods
		want map[string]string
	}{
		{
			name: "generated",
			bag:  inbound,
			pods: pods,
			want: map[string]string{"source_workload": "productpage-v1", "source_app": "productpage", "source_version": "v1",
				"destination_workload": "details-v1", "destination_app": "details", "destination_workload_namespace": "default"},
		},
		{
			name: "the proxy's values win",
			bag: bagWith(inbound, "source.workload.name", attribute.StringValue("sent-by-proxy"),
				"destination.labels", attribute.StringMapValue(attribute.NewStringMap("app", "proxy-app"))),
			pods: pods,
			want: map[string]string{"source_workload": "sent-by-proxy", "source_app": "productpage",
				"destination_app": "proxy-app", "destination_version": "unknown", "destination_workload": "details-v1"},
		},
		{
			name: "unknown pods get the bindings' defaults",
			bag: bagWith(inbound, "source.uid", attribute.StringValue("kubernetes://gone-7d9f.default"),
				"destination.uid", attribute.StringValue("kubernetes://vm-1.legacy"), "destination.namespace", nil),
			pods: pods,
			want: map[string]string{"source_workload": "unknown", "source_app": "unknown", "source_workload_namespace": "unknown",
				"destination_workload": "unknown", "destination_workload_namespace": "unknown"},
		},
		{
			// Istio 1.1's instance passes no destination_ip (1.7's does), so
			// without its uid the destination is not looked up.
			name: "by IP when the proxy sent no uid",
			bag: bagWith(inbound, "source.uid", nil, "destination.uid", nil,
				"source.ip", attribute.IPValue(bookinfo.ProductPage.IP)),
			pods: pods,
			want: map[string]string{"source_workload": "productpage-v1", "destination_workload": "unknown"},
		},
		{
			name: "off Kubernetes nothing is generated",
			bag:  inbound,
			want: map[string]string{"source_workload": "unknown", "source_app": "unknown", "destination_workload": "unknown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, e := run(t, defaultSnapshot(t, tt.pods, ""), []bookinfo.Bag{tt.bag})
			got := requestLabels(t, e)
			for k, v := range tt.want {
				assert.Equal(t, v, got[k], k)
			}
		})
	}
}

// TestEnrichmentRuleScoping: kubernetesenv rules are scoped like any rule
// (mixer-semantics §d.5): a rule of namespace foo runs for reports whose
// identity namespace, before enrichment, is foo. For TCP both default rules
// match, and the instance still runs once.
func TestEnrichmentRuleScoping(t *testing.T) {
	pods := bookinfoPods(t)
	const scoped = `apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: kubeattrgenrulerule, namespace: istio-system}
spec:
  match: "false"
  actions: [{handler: kubernetesenv, instances: [attributes.kubernetes]}]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: gen, namespace: foo}
spec:
  actions: [{handler: kubernetesenv.handler.istio-system, instances: [attributes.kubernetes.istio-system]}]
`
	// Replace the default's unconditional rule by one that never matches.
	data, err := istioconfig.Profile("istio-1.1")
	require.NoError(t, err)
	res, probs := istioconfig.Decode("istio-1.1.yaml", data)
	res = slices.DeleteFunc(res, func(r *istioconfig.Resource) bool { return r.Name == "kubeattrgenrulerule" })
	more, _ := istioconfig.Decode("scoped.yaml", []byte(scoped))
	snap := istioconfig.Build(istioconfig.Input{Resources: append(res, more...), Problems: probs}, istioconfig.BuildOptions{Pods: pods})
	require.NoError(t, snap.Err())

	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1})
	call := g.PageLoad()[1]
	for _, tc := range []struct {
		ns   string
		want string
	}{{"foo", "productpage-v1"}, {"bar", "unknown"}} {
		bag := bagWith(g.HTTP(call, true), "source.namespace", attribute.StringValue(tc.ns)) // outbound: the source's namespace
		_, _, e := run(t, snap, []bookinfo.Bag{bag})
		assert.Equal(t, tc.want, requestLabels(t, e)["source_workload"], "identity namespace %s", tc.ns)
	}

	_, _, e := run(t, defaultSnapshot(t, pods, ""), g.TCPConnection())
	assert.Equal(t, uint64(6), e.EnrichmentStats().BagsEnriched.Load())
	var built uint64
	for _, s := range samples(e.Metrics()) {
		if s.Name == "istio_tcp_connections_opened_total" {
			assert.Equal(t, "ratings-v2", s.Labels["source_workload"])
			assert.Equal(t, "mongodb-v1", s.Labels["destination_workload"])
			built++
		}
	}
	assert.Equal(t, uint64(2), built)
}

// BenchmarkEnrich measures the kubernetesenv step per bag: evaluating the
// default attributes instance, looking both pods up in the cache,
// evaluating its 21 bindings and merging them into the bag. Dispatch/On and
// /Off put it next to the rest of the per-bag work of the default config.
func BenchmarkEnrich(b *testing.B) {
	pods := bookinfoPods(b)
	inbound := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, MTLS: true})
	call := inbound.PageLoad()[1]
	tcp := bookinfo.NewGenerator(bookinfo.Options{Seed: 1}).TCPConnection()[1]
	cases := []struct {
		name string
		bag  bookinfo.Bag
	}{
		{"HTTP", inbound.HTTP(call, false)},
		{"TCP", tcp},
		{"UnknownPods", bagWith(inbound.HTTP(call, false), "source.uid", attribute.StringValue("kubernetes://a.b"),
			"destination.uid", attribute.StringValue("kubernetes://c.d"))},
		{"ByIP", bagWith(inbound.HTTP(call, false), "source.uid", nil, "destination.uid", nil,
			"source.ip", attribute.IPValue(bookinfo.ProductPage.IP))},
	}
	snap := defaultSnapshot(b, pods, "")
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			e := New(snap, Options{})
			ld := bagLogs(tc.bag)
			lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
			e.dec.Decode(lr.Attributes(), e.bag)
			sent := map[int]bool{}
			e.bag.Range(func(id int, _ *attribute.Value) bool { sent[id] = true; return true })
			var generated []int
			for _, fqn := range []string{"attributes.kubernetes.istio-system"} {
				for _, bd := range snap.Instances[fqn].Kubernetes.Bindings {
					if id, _, _ := snap.Vocabulary.Lookup(bd.Attribute); !sent[id] {
						generated = append(generated, id)
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, id := range generated { // back to the bag as sent
					e.bag.Delete(id)
				}
				e.enrich()
			}
		})
	}
	for _, tc := range []struct {
		name     string
		pods     kubeenv.Pods
		enriched bool
	}{{"Dispatch/Off", nil, true}, {"Dispatch/On", pods, false}} {
		b.Run(tc.name, func(b *testing.B) {
			e := New(defaultSnapshot(b, tc.pods, ""), Options{})
			g := bookinfo.NewGenerator(bookinfo.Options{Seed: 1, Enriched: tc.enriched, MTLS: true})
			var batches []plog.Logs
			for range 8 {
				for _, bag := range g.Next() {
					batches = append(batches, bagLogs(bag))
				}
			}
			out := plog.NewLogs()
			for _, ld := range batches {
				e.Dispatch(ld, out)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%64 == 0 {
					out = plog.NewLogs()
				}
				e.Dispatch(batches[i%len(batches)], out)
			}
		})
	}
}

// TestEnrichmentWantedAttributes: a decoder limited to the attributes the
// config reads must keep what the kubernetesenv step reads and fills.
func TestEnrichmentWantedAttributes(t *testing.T) {
	snap := defaultSnapshot(t, bookinfoPods(t), "")
	p := buildPlan(snap, 0, time.Now(), nil)
	want := make([]bool, p.vocab.Len())
	p.kube.markWanted(p.vocab, want)
	for _, name := range []string{
		"context.protocol",                                               // tcpkubeattrgenrulerule's match
		"source.uid", "source.ip", "destination.uid", "destination.port", // inputs
		"source.workload.name", "destination.labels", "destination.container.name", // bindings: the proxy's value wins
	} {
		id, _, _ := p.vocab.Lookup(name)
		assert.True(t, want[id], name)
	}
	for _, name := range []string{"request.path", "response.code", "destination.service.host"} {
		id, _, _ := p.vocab.Lookup(name)
		assert.False(t, want[id], name)
	}
	var off *kubeStep
	off.markWanted(p.vocab, want) // nil step: nothing to do
}
