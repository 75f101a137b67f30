package kubeenv

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func ctrl(apiVersion, kind, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, Controller: &yes}}
}

type podOpt func(*corev1.Pod)

func pod(ns, name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(time.Date(2020, 7, 1, 0, 0, 0, 0, time.UTC))},
		Spec:       corev1.PodSpec{ServiceAccountName: "sa-" + name, NodeName: "node-a"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, HostIP: "192.168.0.1"},
	}
	if ip != "" {
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func owned(apiVersion, kind, name string) podOpt {
	return func(p *corev1.Pod) { p.OwnerReferences = ctrl(apiVersion, kind, name) }
}

func labels(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		p.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func port(container string, ports ...int32) podOpt {
	return func(p *corev1.Pod) {
		c := corev1.Container{Name: container}
		for _, n := range ports {
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: n})
		}
		p.Spec.Containers = append(p.Spec.Containers, c)
	}
}

func replicaSet(ns, name string, owner []metav1.OwnerReference) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: owner}}
}

func job(ns, name string, owner []metav1.OwnerReference) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: owner}}
}

func startCache(t *testing.T, client *fake.Clientset, opts Options) *Cache {
	t.Helper()
	c := NewCache(client, opts)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	if !c.Synced() {
		t.Fatal("not synced")
	}
	return c
}

// eventually polls cond for up to 5 s: informers deliver asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func ip(s string) []byte { return net.ParseIP(s) }

func cluster() []runtime.Object {
	return []runtime.Object{
		pod("default", "productpage-v1-6c886ff494-hm7zk", "10.44.0.11",
			owned("apps/v1", "ReplicaSet", "productpage-v1-6c886ff494"),
			labels("app", "productpage", "version", "v1"), port("productpage", 9080)),
		replicaSet("default", "productpage-v1-6c886ff494", ctrl("apps/v1", "Deployment", "productpage-v1")),
		// A ReplicaSet without controller is itself the workload.
		pod("default", "bare-rs-x1", "10.44.0.20", owned("apps/v1", "ReplicaSet", "bare-rs")),
		replicaSet("default", "bare-rs", nil),
		// A ReplicaSet not (yet) cached: the pod's own controller reference.
		pod("default", "orphan-abc-x", "10.44.0.21", owned("apps/v1", "ReplicaSet", "orphan-abc")),
		// Job → CronJob.
		pod("default", "backup-27391230-q2x", "10.44.0.22", owned("batch/v1", "Job", "backup-27391230")),
		job("default", "backup-27391230", ctrl("batch/v1", "CronJob", "backup")),
		// Other controllers are the workload.
		pod("db", "mongodb-0", "10.44.0.23", owned("apps/v1", "StatefulSet", "mongodb")),
		// No controller: the pod; a dotted name.
		pod("default", "debug.tools", "10.44.0.24"),
		// A host-network pod shares its node's IP with the node agent below; a
		// finished pod keeps an IP that a running one has now.
		pod("kube-system", "node-exporter-abc", "192.168.0.1", func(p *corev1.Pod) { p.Spec.HostNetwork = true }),
		pod("default", "old-job-pod", "10.44.0.30", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("default", "new-pod", "10.44.0.30", func(p *corev1.Pod) {
			p.CreationTimestamp = metav1.NewTime(time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)) // older, but running
		}),
	}
}

func TestLookup(t *testing.T) {
	c := startCache(t, fake.NewClientset(cluster()...), Options{})
	if c.Len() != 9 {
		t.Fatalf("cached %d pods, want 9", c.Len())
	}
	tests := []struct {
		name      string
		in        Input
		dst, src  string // pod names, "" for not found
		workload  string // of the destination
		owner     string
		container string
	}{
		{
			name: "uid, ReplicaSet followed to its Deployment",
			in:   Input{DestinationUID: "kubernetes://productpage-v1-6c886ff494-hm7zk.default", DestinationPort: 9080},
			dst:  "productpage-v1-6c886ff494-hm7zk", workload: "productpage-v1",
			owner: "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1", container: "productpage",
		},
		{
			name: "IP (4-byte form) when there is no uid; a port no container declares",
			in:   Input{DestinationIP: net.IPv4(10, 44, 0, 11).To4(), DestinationPort: 15090},
			dst:  "productpage-v1-6c886ff494-hm7zk", workload: "productpage-v1",
			owner: "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1",
		},
		{
			name: "ReplicaSet without controller",
			in:   Input{DestinationIP: ip("10.44.0.20")},
			dst:  "bare-rs-x1", workload: "bare-rs", owner: "kubernetes://apis/apps/v1/namespaces/default/replicasets/bare-rs",
		},
		{
			name: "unknown ReplicaSet",
			in:   Input{DestinationUID: "kubernetes://orphan-abc-x.default"},
			dst:  "orphan-abc-x", workload: "orphan-abc", owner: "kubernetes://apis/apps/v1/namespaces/default/replicasets/orphan-abc",
		},
		{
			name: "Job followed to its CronJob",
			in:   Input{DestinationUID: "kubernetes://backup-27391230-q2x.default"},
			dst:  "backup-27391230-q2x", workload: "backup", owner: "kubernetes://apis/batch/v1/namespaces/default/cronjobs/backup",
		},
		{
			name: "StatefulSet",
			in:   Input{DestinationUID: "mongodb-0.db"}, // the prefix is optional
			dst:  "mongodb-0", workload: "mongodb", owner: "kubernetes://apis/apps/v1/namespaces/db/statefulsets/mongodb",
		},
		{
			name: "no controller, dotted pod name; uid given as an IP",
			in:   Input{DestinationUID: "kubernetes://debug.tools.default", SourceUID: "10.44.0.11"},
			dst:  "debug.tools", src: "productpage-v1-6c886ff494-hm7zk", workload: "debug.tools",
		},
		{
			name: "an unknown uid does not fall back to the IP",
			in:   Input{DestinationUID: "kubernetes://gone-pod.default", DestinationIP: ip("10.44.0.11")},
		},
		{
			name: "unspecified IP and empty uid: nothing looked up",
			in:   Input{DestinationIP: ip("0.0.0.0"), SourceIP: net.IPv4zero.To4()},
		},
		{
			name: "shared IPs: the pod-network pod, the running pod",
			in:   Input{DestinationIP: ip("10.44.0.30"), SourceIP: ip("192.168.0.1")},
			dst:  "new-pod", src: "node-exporter-abc", workload: "new-pod",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.Lookup(&tt.in)
			if got := podName(r.Destination); got != tt.dst {
				t.Fatalf("destination = %q, want %q", got, tt.dst)
			}
			if got := podName(r.Source); got != tt.src {
				t.Errorf("source = %q, want %q", got, tt.src)
			}
			if r.Destination == nil {
				if r.DestinationWorkload != nil {
					t.Errorf("workload %+v without pod", r.DestinationWorkload)
				}
				return
			}
			w := r.DestinationWorkload
			if w.Name != tt.workload || w.Owner != tt.owner || w.Namespace != r.Destination.Namespace ||
				w.UID != "istio://"+w.Namespace+"/workloads/"+tt.workload {
				t.Errorf("workload = %+v, want %s owned by %q", w, tt.workload, tt.owner)
			}
			if r.DestinationContainer != tt.container {
				t.Errorf("container = %q, want %q", r.DestinationContainer, tt.container)
			}
		})
	}
	pp := c.Lookup(&Input{DestinationIP: ip("10.44.0.11")}).Destination
	if pp.UID != "kubernetes://productpage-v1-6c886ff494-hm7zk.default" || pp.ServiceAccount != "sa-productpage-v1-6c886ff494-hm7zk" ||
		len(pp.IP) != 16 || !net.IP(pp.HostIP).Equal(net.ParseIP("192.168.0.1")) || pp.Labels.Len() != 2 {
		t.Errorf("pod = %+v", pp)
	}
	if s := c.Stats(); s.ByUID == 0 || s.ByIP == 0 || s.NotFound != 1 || s.NoInput < 2 {
		t.Errorf("stats = %+v", s)
	}
}

func podName(p *Pod) string {
	if p == nil {
		return ""
	}
	return p.Name
}

// TestCacheFollowsChanges: pods come, move and go; a ReplicaSet that shows
// up later gives its pods their Deployment.
func TestCacheFollowsChanges(t *testing.T) {
	ctx := t.Context()
	client := fake.NewClientset()
	c := startCache(t, client, Options{})
	pods := client.CoreV1().Pods("default")
	find := func(uid string) *Pod { return c.Lookup(&Input{DestinationUID: uid}).Destination }
	byIP := func(s string) *Pod { return c.Lookup(&Input{DestinationIP: ip(s)}).Destination }

	p := pod("default", "reviews-v2-abc-1", "10.0.0.1", owned("apps/v1", "ReplicaSet", "reviews-v2-abc"))
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new pod", func() bool { return find("kubernetes://reviews-v2-abc-1.default") != nil })
	if w := c.Lookup(&Input{DestinationIP: ip("10.0.0.1")}).DestinationWorkload; w.Name != "reviews-v2-abc" {
		t.Errorf("workload before its ReplicaSet = %+v", w)
	}
	rs := replicaSet("default", "reviews-v2-abc", ctrl("apps/v1", "Deployment", "reviews-v2"))
	if _, err := client.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Deployment", func() bool {
		return c.Lookup(&Input{DestinationIP: ip("10.0.0.1")}).DestinationWorkload.Name == "reviews-v2"
	})

	p.Status.PodIP, p.Status.PodIPs = "10.0.0.2", []corev1.PodIP{{IP: "10.0.0.2"}}
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new IP", func() bool { return byIP("10.0.0.2") != nil && byIP("10.0.0.1") == nil })

	if err := client.AppsV1().ReplicaSets("default").Delete(ctx, rs.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ReplicaSet gone", func() bool {
		return c.Lookup(&Input{DestinationIP: ip("10.0.0.2")}).DestinationWorkload.Name == "reviews-v2-abc"
	})
	if err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pod gone", func() bool { return find("kubernetes://reviews-v2-abc-1.default") == nil && byIP("10.0.0.2") == nil })
	if c.Len() != 0 {
		t.Errorf("%d pods left", c.Len())
	}
}

func TestCacheBounds(t *testing.T) {
	t.Run("max pods", func(t *testing.T) {
		c := startCache(t, fake.NewClientset(cluster()...), Options{MaxPods: 3})
		if c.Len() != 3 || c.Stats().Overflow != 6 {
			t.Errorf("%d pods, overflow %d", c.Len(), c.Stats().Overflow)
		}
	})
	t.Run("namespaces", func(t *testing.T) {
		c := startCache(t, fake.NewClientset(cluster()...), Options{Namespaces: []string{"db", "kube-system"}})
		if c.Len() != 2 || c.Lookup(&Input{DestinationUID: "kubernetes://mongodb-0.db"}).Destination == nil {
			t.Errorf("%d pods", c.Len())
		}
	})
	t.Run("node", func(t *testing.T) {
		// The fake clientset does not filter by field; check the request.
		client := fake.NewClientset(cluster()...)
		var mu sync.Mutex
		selectors := map[string]string{}
		client.PrependReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
			mu.Lock()
			defer mu.Unlock()
			selectors[a.GetResource().Resource] = a.(k8stesting.ListAction).GetListRestrictions().Fields.String()
			return false, nil, nil
		})
		startCache(t, client, Options{NodeName: "node-a"})
		mu.Lock()
		defer mu.Unlock()
		want := map[string]string{"pods": "spec.nodeName=node-a", "replicasets": "", "jobs": ""}
		if fmt.Sprint(selectors) != fmt.Sprint(want) {
			t.Errorf("field selectors = %v, want %v", selectors, want)
		}
	})
}

// TestConcurrentLookups runs lookups while pods change (run with -race).
func TestConcurrentLookups(t *testing.T) {
	ctx := t.Context()
	client := fake.NewClientset(cluster()...)
	c := startCache(t, client, Options{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			in := Input{DestinationIP: ip("10.44.0.11"), SourceUID: "kubernetes://churn-0.default"}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := c.Lookup(&in); r.Destination == nil || r.DestinationWorkload.Name != "productpage-v1" {
					t.Error("productpage lost")
					return
				}
			}
		})
	}
	for i := range 50 {
		p := pod("default", "churn-0", fmt.Sprintf("10.9.0.%d", i%3+1))
		if i == 0 {
			_, _ = client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		} else {
			_, _ = client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{})
		}
	}
	close(stop)
	wg.Wait()
}

// BenchmarkLookup measures one Cache.Lookup of both sides of a request.
func BenchmarkLookup(b *testing.B) {
	c := NewCache(fake.NewClientset(cluster()...), Options{})
	if err := c.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	for _, tc := range []struct {
		name string
		in   Input
	}{
		{"UID", Input{SourceUID: "kubernetes://backup-27391230-q2x.default", DestinationUID: "kubernetes://productpage-v1-6c886ff494-hm7zk.default", DestinationPort: 9080}},
		{"IP", Input{SourceIP: ip("10.44.0.22"), DestinationIP: net.IPv4(10, 44, 0, 11).To4(), DestinationPort: 9080}},
		{"NotFound", Input{SourceUID: "kubernetes://a.b", DestinationUID: "kubernetes://c.d"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if r := c.Lookup(&tc.in); (r.Destination == nil) != (tc.name == "NotFound") {
					b.Fatal("unexpected result")
				}
			}
		})
	}
}

// TestTransformsAndTombstones: the informers' transforms are idempotent, and
// a deletion seen only as a tombstone still removes the pod.
func TestTransformsAndTombstones(t *testing.T) {
	k := pod("default", "a", "10.1.0.1", owned("apps/v1", "ReplicaSet", "a-rs"))
	o, _ := toPodObj(k)
	if again, _ := toPodObj(o); again != o {
		t.Error("toPodObj is not idempotent")
	}
	r, _ := toCtrlObj(replicaSet("default", "a-rs", ctrl("apps/v1", "Deployment", "a")))
	if again, _ := toCtrlObj(r); again != r || r.(*ctrlObj).root.Name != "a" {
		t.Errorf("toCtrlObj = %+v", r)
	}
	c := NewCache(nil, Options{})
	c.podChanged(o)
	c.controllerHandler(&c.replicaSets).OnAdd(r, false)
	if w := c.Lookup(&Input{DestinationIP: ip("10.1.0.1")}).DestinationWorkload; w == nil || w.Name != "a" {
		t.Fatalf("workload = %+v", w)
	}
	c.podDeleted(cache.DeletedFinalStateUnknown{Key: "default/a", Obj: o})
	c.controllerHandler(&c.replicaSets).OnDelete(cache.DeletedFinalStateUnknown{Key: "default/a-rs"})
	if c.Len() != 0 || len(c.byIP) != 0 || len(c.replicaSets) != 0 {
		t.Errorf("left: %d pods, %d IPs, %d ReplicaSets", c.Len(), len(c.byIP), len(c.replicaSets))
	}
}

// A listing the server refuses (no RBAC rule for ReplicaSets) is named once
// at warn level and not waited for: Start returns at once with the pods it
// may read.
func TestCacheRefusedListing(t *testing.T) {
	client := fake.NewClientset(cluster()...)
	client.PrependReactor("list", "replicasets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "replicasets"}, "", errors.New("RBAC: access denied"))
	})
	core, logs := observer.New(zap.WarnLevel)
	c := NewCache(client, Options{SyncTimeout: 20 * time.Second, Logger: zap.New(core)})
	start := time.Now()
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start took %v: it waited for a listing the server refuses", d)
	}
	if c.Len() == 0 {
		t.Error("no pods cached")
	}
	if n := logs.FilterMessageSnippet("forbidden; grant get, list and watch").FilterField(zap.String("informer", "replicasets in all namespaces")).Len(); n != 1 {
		t.Errorf("%d warnings naming the refused ReplicaSets, want 1: %v", n, logs.All())
	}
}

// The level each kind of list or watch error is logged at: the first error
// answer of an informer warns; no answer at all is the client's
// kubeconn.Monitor's to report.
func TestCacheWatchErrorLevels(t *testing.T) {
	unanswered := fmt.Errorf("failed to list: %w", &url.Error{Op: "Get", URL: "https://10.96.0.1:443/api/v1/pods",
		Err: errors.New("dial tcp 10.96.0.1:443: connect: connection refused")})
	core, logs := observer.New(zap.DebugLevel)
	c := NewCache(fake.NewClientset(), Options{Logger: zap.New(core)})
	pods, jobs := c.watchError("pods in all namespaces"), c.watchError("jobs in all namespaces")
	pods(t.Context(), nil, unanswered)
	pods(t.Context(), nil, apierrors.NewInternalError(errors.New("etcd")))
	pods(t.Context(), nil, apierrors.NewInternalError(errors.New("etcd")))
	jobs(t.Context(), nil, unanswered)
	jobs(t.Context(), nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "", errors.New("RBAC")))
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Level.String()+" "+e.ContextMap()["informer"].(string))
	}
	want := []string{"debug pods in all namespaces", "warn pods in all namespaces", "debug pods in all namespaces",
		"debug jobs in all namespaces", "warn jobs in all namespaces"}
	if !slices.Equal(got, want) {
		t.Errorf("logged %q, want %q", got, want)
	}
}
