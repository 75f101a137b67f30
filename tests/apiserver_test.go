package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// apiServer is a real kube-apiserver on loopback, on an embedded etcd
// (tests/kubeapiserver): RBAC, service-account tokens, CRDs and watches as
// in a cluster, but no kubelet or controllers.
type apiServer struct {
	Dir     string // its working directory: etcd's data, ca.crt, admin.kubeconfig
	URL     string
	args    []string
	stop    func()
	admin   *rest.Config
	clients *kubernetes.Clientset
	dynamic *dynamic.DynamicClient
	mapper  *restmapper.DeferredDiscoveryRESTMapper
}

// Istio resources the API server tests apply, from tests/.
const (
	istio11Profile     = "../internal/istioconfig/profiles/istio-1.1.yaml"
	doubleRequestCount = "../docs/examples/istio/double-request-count.yaml"
)

var (
	apiServerBuild    sync.Once
	apiServerBin      string
	apiServerBuildErr error
)

// startAPIServer builds tests/kubeapiserver (once; a module of its own, so
// its first build takes minutes) and starts it on loopback; it is stopped
// when the test ends. KUBEAPISERVER_BIN names a prebuilt binary instead.
func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	return startAPIServerAt(t, "127.0.0.1")
}

// startAPIServerAt is startAPIServer on another of the machine's addresses,
// with further flags of tests/kubeapiserver.
func startAPIServerAt(t *testing.T, address string, flags ...string) *apiServer {
	t.Helper()
	apiServerBuild.Do(func() {
		if p := os.Getenv("KUBEAPISERVER_BIN"); p != "" {
			if !filepath.IsAbs(p) { // relative to the repository root
				p = filepath.Join("..", p)
			}
			apiServerBin, apiServerBuildErr = filepath.Abs(p)
			return
		}
		apiServerBin = filepath.Join(buildDir, "kubeapiserver")
		cmd := exec.Command("go", "build", "-trimpath", "-o", apiServerBin, ".")
		cmd.Dir = "kubeapiserver"
		if out, err := cmd.CombinedOutput(); err != nil {
			apiServerBuildErr = fmt.Errorf("building tests/kubeapiserver: %v\n%s", err, out)
		}
	})
	require.NoError(t, apiServerBuildErr)

	s := &apiServer{Dir: t.TempDir()}
	// Ports from the harness, so that no collector of a later test is
	// handed one of them.
	s.args = []string{"-dir", s.Dir, "-address", address, "-port", strconv.Itoa(freePort(t)),
		"-etcd-port", strconv.Itoa(freePort(t)), "-etcd-peer-port", strconv.Itoa(freePort(t))}
	s.args = append(s.args, flags...)
	s.start(t)
	t.Cleanup(func() { s.stop() })
	return s
}

// connect makes the test's admin clients for the server at its current
// address.
func (s *apiServer) connect(t *testing.T) {
	t.Helper()
	var err error
	s.admin, err = clientcmd.BuildConfigFromFlags("", s.adminKubeconfig())
	require.NoError(t, err)
	s.clients = kubernetes.NewForConfigOrDie(s.admin)
	s.dynamic = dynamic.NewForConfigOrDie(s.admin)
	s.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(s.admin)))
}

// adminKubeconfig is the kubeconfig file of the server's admin, which the
// server writes at every start.
func (s *apiServer) adminKubeconfig() string { return filepath.Join(s.Dir, "admin.kubeconfig") }

// startCollector runs a Mixer collector that reads its Istio configuration
// from the server, as its admin.
func (s *apiServer) startCollector(t *testing.T) *mixerCollector {
	t.Helper()
	return startMixerCollector(t, t.TempDir(), "      - kubernetes: {}\n", collectorOptions{Env: []string{"KUBECONFIG=" + s.adminKubeconfig()}})
}

// elsewhere runs change with the server moved to another port, where the
// clients configured before (the collectors') do not reach it, and then
// moves it back: the changes are made while those clients are cut off
// from the control plane, and no watch of theirs can deliver them.
func (s *apiServer) elsewhere(t *testing.T, change func()) {
	t.Helper()
	i := slices.Index(s.args, "-port") + 1
	usual := s.args[i]
	s.stop()
	s.args[i] = strconv.Itoa(freePort(t))
	s.start(t)
	change()
	s.stop()
	s.args[i] = usual
	s.start(t)
}

// delete removes a namespaced object.
func (s *apiServer) delete(t *testing.T, gvr schema.GroupVersionResource, namespace, name string) {
	t.Helper()
	require.NoError(t, s.dynamic.Resource(gvr).Namespace(namespace).Delete(context.Background(), name, metav1.DeleteOptions{}))
}

// start runs the server process, waits until it is ready and connects the
// admin clients. After stop it starts again on the same ports, etcd data,
// keys and tokens, as a control-plane node comes back: clients' tokens stay
// valid.
func (s *apiServer) start(t *testing.T) {
	t.Helper()
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	cmd := exec.Command(apiServerBin, s.args...)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(45 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	}

	readyLine := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				readyLine <- url
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case s.URL = <-readyLine:
	case <-done:
		t.Fatalf("kube-apiserver exited before it was ready:\n%s", s.logTail())
	case <-time.After(3 * time.Minute):
		s.stop()
		t.Fatalf("kube-apiserver not ready within 3 minutes:\n%s", s.logTail())
	}
	s.connect(t)
}

func (s *apiServer) logPath() string { return filepath.Join(s.Dir, "kube-apiserver.log") }

// logTail is the end of the server's log, for failure messages.
func (s *apiServer) logTail() string {
	b, _ := os.ReadFile(s.logPath())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// apply creates every object of a YAML stream, or replaces it when it
// exists, with strict field validation: a field the server does not know,
// or that a CRD's schema would prune, fails with the field's name. (Server-
// side apply prunes such fields of custom resources without an error.)
func (s *apiServer) apply(t *testing.T, name string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	ctx := context.Background()
	var applied []*unstructured.Unstructured
	for i, doc := range yamlDocuments(t, data) {
		j, err := sigsyaml.YAMLToJSON(doc)
		require.NoError(t, err)
		obj := &unstructured.Unstructured{}
		require.NoError(t, json.Unmarshal(j, &obj.Object), "%s, document %d", name, i+1)
		gvk := obj.GroupVersionKind()
		mapping, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		require.NoError(t, err, "%s, document %d: %s", name, i+1, gvk)
		var client dynamic.ResourceInterface = s.dynamic.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			client = s.dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace())
		}
		out, err := client.Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict", FieldManager: "otelcol-istio-tests"})
		if apierrors.IsAlreadyExists(err) {
			var old *unstructured.Unstructured
			old, err = client.Get(ctx, obj.GetName(), metav1.GetOptions{})
			require.NoError(t, err)
			obj.SetResourceVersion(old.GetResourceVersion())
			out, err = client.Update(ctx, obj, metav1.UpdateOptions{FieldValidation: "Strict", FieldManager: "otelcol-istio-tests"})
		}
		require.NoError(t, err, "%s: %s %s/%s", name, gvk.Kind, obj.GetNamespace(), obj.GetName())
		applied = append(applied, out)
	}
	return applied
}

// applyFiles applies files (paths from tests/) in order, waiting for the CRDs
// among them to be served before the next.
func (s *apiServer) applyFiles(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		s.waitEstablished(t, s.apply(t, filepath.Base(p), data))
	}
}

// applyDeploy applies what the collector needs of deploy/kubernetes to read
// the cluster: its namespace, the CRDs and the RBAC.
func (s *apiServer) applyDeploy(t *testing.T) {
	t.Helper()
	for _, f := range []string{"namespace.yaml", "crds.yaml", "rbac.yaml", "rbac-enrichment.yaml"} {
		s.applyFiles(t, filepath.Join(deployDir, f))
	}
}

// waitEstablished waits until the server serves the CRDs among objs, then
// forgets what it discovered before them.
func (s *apiServer) waitEstablished(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, crd := range objs {
		if crd.GetKind() != "CustomResourceDefinition" {
			continue
		}
		waitFor(t, 30*time.Second, "CRD "+crd.GetName()+" to be established", func() bool {
			got, err := s.dynamic.Resource(gvr).Get(context.Background(), crd.GetName(), metav1.GetOptions{})
			require.NoError(t, err)
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				c, _ := c.(map[string]any)
				if c["type"] == "Established" && c["status"] == "True" {
					return true
				}
			}
			return false
		})
	}
	s.mapper.Reset()
}

// serviceAccountConfig is a kubeconfig file that authenticates as the
// service account with a token the server issued, as the pod's projected
// token would.
func (s *apiServer) serviceAccountConfig(t *testing.T, namespace, name string) string {
	t.Helper()
	path := filepath.Join(s.Dir, name+".kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n  - name: c\n    cluster: {server: %q, certificate-authority: %q}\nusers:\n  - name: u\n    user: {token: %q}\ncontexts:\n  - name: c\n    context: {cluster: c, user: u}\ncurrent-context: c\n",
		s.URL, filepath.Join(s.Dir, "ca.crt"), s.serviceAccountToken(t, namespace, name))
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

// serviceAccountToken is a token the server issues to the service account
// for an hour (TokenRequest).
func (s *apiServer) serviceAccountToken(t *testing.T, namespace, name string) string {
	t.Helper()
	tr, err := s.clients.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(3600))}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tr.Status.Token
}

func ptrTo[T any](v T) *T { return &v }

// bookinfoPods stores the Bookinfo workloads the load generator reports
// about as pods, each owned by a ReplicaSet that a Deployment owns, bound to
// a node and given its IP, as the kubelet and the controllers would leave
// them.
func (s *apiServer) bookinfoPods(t *testing.T, workloads []*bookinfo.Workload) {
	t.Helper()
	ctx := context.Background()
	const node = "node-1"
	for _, w := range workloads {
		podLabels := map[string]string{"app": w.App, "pod-template-hash": w.PodHash}
		if w.Version != "" {
			podLabels["version"] = w.Version
		}
		rsName := w.Name() + "-" + w.PodHash
		spec := corev1.PodSpec{
			NodeName:           node,
			ServiceAccountName: w.ServiceAccount,
			Containers: []corev1.Container{{Name: w.App, Image: "docker.io/istio/examples-bookinfo-" + w.App},
				{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.1.17"}},
		}
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: rsName, Namespace: w.Namespace,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "apps/v1", Kind: "Deployment", Name: w.Name(), Controller: ptrTo(true),
					UID: types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012s", w.PodHash)), // no Deployment is stored
				}},
			},
			Spec: appsv1.ReplicaSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: podLabels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: spec},
			},
		}
		created, err := s.clients.AppsV1().ReplicaSets(w.Namespace).Create(ctx, rs, metav1.CreateOptions{FieldValidation: "Strict"})
		require.NoError(t, err, "ReplicaSet %s/%s", w.Namespace, rsName)

		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: w.Pod, Namespace: w.Namespace, Labels: podLabels,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rsName, UID: created.UID, Controller: ptrTo(true),
				}},
			},
			Spec: spec,
		}
		p, err := s.clients.CoreV1().Pods(w.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldValidation: "Strict"})
		require.NoError(t, err, "pod %s/%s", w.Namespace, w.Pod)
		p.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: "10.128.0.7", HostIPs: []corev1.HostIP{{IP: "10.128.0.7"}},
			PodIP: w.IP.String(), PodIPs: []corev1.PodIP{{IP: w.IP.String()}},
		}
		_, err = s.clients.CoreV1().Pods(w.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		require.NoError(t, err, "status of pod %s/%s", w.Namespace, w.Pod)
	}
}

// TestDeployOnAPIServer puts deploy/kubernetes on a real API server and runs
// the ConfigMap's configuration against it, with its kubernetes config
// source and workload enrichment, authenticated as the DaemonSet's service
// account:
//   - every manifest is accepted with strict field validation, the CRDs are
//     established;
//   - the ClusterRoles grant the service account what the collector reads
//     and nothing it does not;
//   - Istio resources created through the API after the collector started
//     are loaded, and a broken one is rejected by name while the rest keeps
//     working;
//   - reports that carry no workload attributes get them from the pods the
//     server holds (Mixer's kubernetesenv adapter), so the series carry the
//     workload labels.
func TestDeployOnAPIServer(t *testing.T) {
	api := startAPIServer(t)
	d := loadDeployment(t)
	ctx := context.Background()

	// The manifests, in the kustomization's order.
	for _, f := range d.kustomization.Resources {
		api.applyFiles(t, filepath.Join(deployDir, f))
	}
	for _, plural := range d.crdPlurals {
		_, err := api.mapper.ResourceFor(schema.GroupVersionResource{Group: "config.istio.io", Version: "v1alpha2", Resource: plural})
		require.NoError(t, err, "config.istio.io/v1alpha2 %s is not served", plural)
	}

	// What the service account may do, as the server decides it.
	sa := d.account
	kubeconfig := api.serviceAccountConfig(t, sa.Namespace, sa.Name)
	saREST, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	saClients := kubernetes.NewForConfigOrDie(saREST)
	for _, c := range []struct {
		group, resource, verb string
		allowed               bool
	}{
		{"config.istio.io", "rules", "watch", true},
		{"config.istio.io", "attributemanifests", "list", true},
		{"config.istio.io", "kubernetesenvs", "list", true},
		{"", "pods", "watch", true},
		{"apps", "replicasets", "list", true},
		{"batch", "jobs", "watch", true},
		{"config.istio.io", "rules", "create", false},
		{"", "secrets", "list", false},
		{"apps", "deployments", "list", false},
		{"", "configmaps", "list", false},
	} {
		review, err := saClients.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Group: c.group, Resource: c.resource, Verb: c.verb,
			}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		assert.Equal(t, c.allowed, review.Status.Allowed, "service account %s/%s: %s %s.%s in all namespaces", sa.Namespace, sa.Name, c.verb, c.resource, c.group)
	}

	// A service account no binding names, as when the collector runs under
	// another account than rbac.yaml's: it starts on its embedded config
	// and says what it may not read.
	_, err = api.clients.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "unbound", Namespace: sa.Namespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	unbound := startDeployCollector(t, d, deployRun{LogDir: t.TempDir(), Kubernetes: true,
		Env: []string{"KUBECONFIG=" + api.serviceAccountConfig(t, sa.Namespace, "unbound")}})
	for _, want := range []string{
		"Kubernetes config source: access denied; grant get, list and watch on the config.istio.io resources",
		"Kubernetes pod cache: forbidden; grant get, list and watch on pods",
	} {
		assert.Contains(t, unbound.Stderr.String(), want)
	}
	assert.Positive(t, ownMetric(unbound.collector, "otelcol_istio_config_resources", `kind="rule"`, `status="accepted"`), "the embedded profile's rules")
	unbound.terminate(30 * time.Second)

	// The collector, as the DaemonSet runs it, with the service account's
	// credentials. The pods are there before it starts, as in a cluster.
	workloads := []*bookinfo.Workload{bookinfo.Gateway, bookinfo.ProductPage, bookinfo.Details, bookinfo.ReviewsV1,
		bookinfo.ReviewsV2, bookinfo.ReviewsV3, bookinfo.Ratings, bookinfo.RatingsV2, bookinfo.MongoDB}
	api.bookinfoPods(t, workloads)
	m := startDeployCollector(t, d, deployRun{LogDir: t.TempDir(), Kubernetes: true, Env: []string{"KUBECONFIG=" + kubeconfig}})
	assert.Contains(t, m.Stderr.String(), "Kubernetes enrichment is on")

	// kubernetes_enrichment.node_name: the server filters the pods by
	// spec.nodeName, so a collector of another node holds only its own.
	other := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleep-7f8c9d-x2x4q", Namespace: "default", Labels: map[string]string{"app": "sleep"}},
		Spec:       corev1.PodSpec{NodeName: "node-2", Containers: []corev1.Container{{Name: "sleep", Image: "curlimages/curl"}}},
	}
	_, err = api.clients.CoreV1().Pods("default").Create(ctx, other, metav1.CreateOptions{})
	require.NoError(t, err)
	node2 := startDeployCollector(t, d, deployRun{LogDir: t.TempDir(), Kubernetes: true, Env: []string{"KUBECONFIG=" + kubeconfig},
		Args: []string{"--set=extensions.istio_config.kubernetes_enrichment.node_name=node-2"}})
	waitFor(t, 20*time.Second, "the pod cache of node-2 to hold its one pod", func() bool {
		return ownMetric(node2.collector, "otelcol_istio_config_kubernetes_pods") == 1
	})
	node2.terminate(30 * time.Second)
	waitFor(t, 20*time.Second, "the pod cache to hold the Bookinfo pods and the other node's", func() bool {
		return ownMetric(m.collector, "otelcol_istio_config_kubernetes_pods") == float64(len(workloads)+1)
	})

	// Istio resources through the API: the walkthrough's double request
	// count, whose labels are workload names only enrichment can give here.
	accepted := func(kind string) float64 {
		return ownMetric(m.collector, "otelcol_istio_config_resources", `kind="`+kind+`"`, `status="accepted"`)
	}
	rules, instances, handlers := accepted("rule"), accepted("instance"), accepted("handler")
	require.Positive(t, rules, "the embedded profile's rules")
	api.applyFiles(t, doubleRequestCount)
	waitFor(t, 20*time.Second, "the collector to load the instance, handler and rule created through the API", func() bool {
		return accepted("rule") == rules+1 && accepted("instance") == instances+1 && accepted("handler") == handlers+1
	})

	// A page load whose reports carry no workload attributes (Enriched off).
	m.report(t, bookinfo.NewGenerator(bookinfo.Options{Seed: 3, MTLS: true}).Next())
	waitFor(t, 20*time.Second, "series with the workload labels of the pods", func() bool {
		e := m.exposition(t)
		return strings.Contains(e, `istio_requests_total{connection_security_policy="mutual_tls",destination_app="productpage",destination_principal="cluster.local/ns/default/sa/bookinfo-productpage",destination_service="productpage.default.svc.cluster.local",destination_service_name="productpage",destination_service_namespace="default",destination_version="v1",destination_workload="productpage-v1",destination_workload_namespace="default",permissive_response_code="none",permissive_response_policyid="none",reporter="destination",request_protocol="http",response_code="200",response_flags="-",source_app="istio-ingressgateway",source_principal="cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",source_version="unknown",source_workload="istio-ingressgateway",source_workload_namespace="istio-system"} 1`) &&
			strings.Contains(e, `istio_double_request_count{destination="productpage-v1",message="twice the fun!",reporter="server",source="istio-ingressgateway"} 2`)
	})
	e := m.exposition(t)
	assert.NotContains(t, e, `destination_workload="unknown"`, "a report whose destination pod was not found")
	assert.NotContains(t, e, `source="unknown"`, "a report whose source pod was not found")

	// A broken rule through the API: rejected by name, the rest keeps
	// counting.
	broken := []byte("apiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata:\n  name: brokenrule\n  namespace: istio-system\nspec:\n  match: request.size >\n  actions:\n  - handler: doublehandler\n    instances: [doublerequestcount]\n")
	api.apply(t, "broken rule", broken)
	waitFor(t, 20*time.Second, "the broken rule to be rejected", func() bool {
		return ownMetric(m.collector, "otelcol_istio_config_resources", `kind="rule"`, `status="rejected"`) == 1
	})
	assert.Regexp(t, `rule/istio-system/brokenrule: match: `, m.Stderr.String())
	assert.Equal(t, rules+1, accepted("rule"), "the rules in force")
	m.report(t, bookinfo.NewGenerator(bookinfo.Options{Seed: 4, MTLS: true}).Next())
	waitFor(t, 20*time.Second, "the double count of the second page load", func() bool {
		return strings.Contains(m.exposition(t), `istio_double_request_count{destination="productpage-v1",message="twice the fun!",reporter="server",source="istio-ingressgateway"} 4`)
	})
	assert.NotContains(t, m.Stderr.String(), "forbidden", "an API request the service account may not make")
}

// TestIstioConfigThroughAPIServer applies Istio 1.1's default telemetry
// config and the walkthrough's tasks unchanged through a real API server
// (with the CRDs of deploy/kubernetes) and runs two collectors side by side on
// the same Reports: one reading the resources from the server, one from the
// embedded profile and files. Their series and log lines must be the same:
// at first, while the server is down, and after the walkthrough's edit of
// the log rule, made through the restarted server on one side and in the
// file on the other.
func TestIstioConfigThroughAPIServer(t *testing.T) {
	api := startAPIServer(t)
	api.applyFiles(t, filepath.Join(deployDir, "namespace.yaml"), filepath.Join(deployDir, "crds.yaml"), istio11Profile)
	dir := t.TempDir()
	for _, f := range []string{"metrics.yaml", "log-entry.yaml"} {
		api.apply(t, f, readSeed(t, f))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), readSeed(t, f), 0o600))
	}

	files := startMixerCollector(t, dir, "      - embedded: istio-1.1\n")
	kube := api.startCollector(t)
	resources := func(c *collector) string {
		return metricLines(c, "otelcol_istio_config_resources")
	}
	require.Equal(t, resources(files.collector), resources(kube.collector), "resources in force")
	require.Contains(t, resources(kube.collector), `otelcol_istio_config_resources{kind="rule",status="accepted"} 10`)

	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 9, Enriched: true, MTLS: true})
	same := func(round int) (httpReports int) {
		t.Helper()
		bags := append(g.Next(), g.Next()...)
		httpReports = len(bags)
		bags = append(bags, g.TCPConnection()...)
		files.report(t, bags)
		kube.report(t, bags)
		var want []string
		waitFor(t, 20*time.Second, "both collectors to write their log lines", func() bool {
			want = files.stdoutLines()
			return len(want) > 0 && len(want) == len(kube.stdoutLines()) &&
				strings.Count(files.exposition(t), "istio_double_request_count{") > 0
		})
		got := kube.stdoutLines()
		slices.Sort(want)
		slices.Sort(got)
		assert.Equal(t, want, got, "round %d: log lines", round)
		waitFor(t, 20*time.Second, "the same series from both collectors", func() bool {
			return istioSeries(files.exposition(t)) == istioSeries(kube.exposition(t))
		})
		return httpReports
	}
	httpReports := same(1)
	out := strings.Join(files.stdoutLines(), "\n")
	// newlog's fields need request attributes: a TCP report makes no entry.
	require.Equal(t, httpReports, strings.Count(out, `"instance":"newlog.instance.istio-system"`), "a newlog line per HTTP report")
	require.Contains(t, out, `"instance":"accesslog.logentry.istio-system"`)
	require.Contains(t, out, `"instance":"tcpaccesslog.logentry.istio-system"`)

	// A control-plane restart: while the server is down the collector keeps
	// the configuration it has, and once the server is back its watches
	// resume and see the walkthrough's edit (newlog for details only).
	// The outage is logged once, though all ten informers retry, and shows
	// in the collector's telemetry and on the collector dashboard, read by
	// a real Prometheus.
	assert.Equal(t, "otelcol_istio_config_kubernetes_api_up 1", metricLines(kube.collector, "otelcol_istio_config_kubernetes_api_up"))
	prom := startPrometheus(t, kube.Telemetry)
	cutOff := panelQuery(t, "otelcol-istio-collector", "Configuration", "C", map[string]string{"instance": ".*"})
	dashboardShows := func(want float64) func() bool {
		return func() bool {
			v := prom.query(t, cutOff)
			return len(v) == 1 && v[0].Value == want
		}
	}
	waitFor(t, 30*time.Second, "the dashboard to count no collector cut off", dashboardShows(0))
	api.stop()
	waitFor(t, 30*time.Second, "the collector to notice the API server is gone", func() bool {
		return strings.Contains(kube.Stderr.String(), "Kubernetes API server unreachable")
	})
	assert.Equal(t, "otelcol_istio_config_kubernetes_api_up 0", metricLines(kube.collector, "otelcol_istio_config_kubernetes_api_up"))
	waitFor(t, 30*time.Second, "the dashboard to count one collector cut off", dashboardShows(1))
	same(2)
	api.start(t)
	applied := ownMetric(kube.collector, "otelcol_istio_config_reloads", `outcome="applied"`)
	api.apply(t, "log-entry-details.yaml", readSeed(t, "log-entry-details.yaml"))
	waitFor(t, time.Minute, "the collector to load the edit made through the API after its restart", func() bool {
		return ownMetric(kube.collector, "otelcol_istio_config_reloads", `outcome="applied"`) > applied
	})
	log := kube.Stderr.String()
	assert.Equal(t, 1, strings.Count(log, "Kubernetes API server unreachable"), "warnings of the outage")
	assert.Equal(t, 1, strings.Count(log, "Kubernetes API server answers again"), "notes of the server's return")
	assert.NotContains(t, log, "cannot list or watch", "the outage reported again by the informers")
	assert.Equal(t, "otelcol_istio_config_kubernetes_api_up 1", metricLines(kube.collector, "otelcol_istio_config_kubernetes_api_up"))
	assert.Empty(t, metricLines(files.collector, "otelcol_istio_config_kubernetes_api_up"), "a collector without a Kubernetes client")
	waitFor(t, 30*time.Second, "the dashboard to count no collector cut off again", dashboardShows(0))
	writeConfig(t, files.collector, dir, "log-entry.yaml", readSeed(t, "log-entry-details.yaml"))
	before := len(files.stdoutLines())
	same(3)
	newlog := 0
	for _, l := range files.stdoutLines()[before:] {
		if strings.Contains(l, `"instance":"newlog.instance.istio-system"`) {
			newlog++
			assert.Contains(t, l, `"destination":"details"`)
		}
	}
	assert.Equal(t, 4, newlog, "newlog lines: productpage → details, reported by both sides, in two page loads")
}

// TestIstioConfigChangedWhileCutOff: changes made while the collector
// cannot reach the API server (a rule deleted, a log entry added) are in
// force once it can again. Its watches cannot resume from where they were
// (the restarted server has no history before its start), so its
// informers list afresh, and the deletion, which no watch delivered, comes
// from comparing the new listing with what they held.
func TestIstioConfigChangedWhileCutOff(t *testing.T) {
	api := startAPIServer(t)
	rulesChangedWhileAway(t, api, api.startCollector(t), api.elsewhere)
	// How the informers caught up, from the server's side: since its
	// return it has served the rules as a listing, not only a watch
	// resumed from where the collector had been.
	assert.Positive(t, api.rulesListings(t), "listings of the rules since the server's return")
}

// TestIstioConfigChangedWhilePartitioned: the network between the collector
// and a running API server goes down and comes back. What changed meanwhile
// (a rule deleted, a log entry added) is in force afterwards. Unlike after
// a restart (TestIstioConfigChangedWhileCutOff), the server kept its
// history, so the informers resume their watches from where they broke off
// and the deletion arrives as a watch event: nothing is listed again.
func TestIstioConfigChangedWhilePartitioned(t *testing.T) {
	api := startAPIServer(t)
	link, kube := api.collectorThroughLink(t)

	var listed float64
	rulesChangedWhileAway(t, api, kube, func(t *testing.T, change func()) {
		listed = api.rulesListings(t)
		link.cutOff(t, kube)
		change()
		link.restore(t)
	})
	assert.Equal(t, listed, api.rulesListings(t), "listings of the rules after the collector came back: the watches resumed")
	assert.Equal(t, "otelcol_istio_config_kubernetes_api_up 1", metricLines(kube.collector, "otelcol_istio_config_kubernetes_api_up"))
	log := kube.Stderr.String()
	assert.Equal(t, 1, strings.Count(log, "Kubernetes API server unreachable"), "warnings of the partition")
	assert.Equal(t, 1, strings.Count(log, "Kubernetes API server answers again"), "notes of its end")
}

// TestIstioConfigChangedPastTheServersHistory: as in
// TestIstioConfigChangedWhilePartitioned, the network between the collector
// and the API server goes down and comes back, but meanwhile the server
// compacts its history past the version the collector's watches had
// reached. Resuming them fails with 410 Gone, client-go's informers list
// afresh, and what changed meanwhile (a rule deleted, a log entry added) is
// in force. The server runs without its watch cache, which would answer
// from a window of events of its own, and compacts etcd every second, not
// every five minutes.
func TestIstioConfigChangedPastTheServersHistory(t *testing.T) {
	api := startAPIServerAt(t, "127.0.0.1", "-watch-cache=false", "-compaction-interval=1s")
	link, kube := api.collectorThroughLink(t)
	rules := schema.GroupVersionResource{Group: "config.istio.io", Version: "v1alpha2", Resource: "rules"}

	var listed float64
	rulesChangedWhileAway(t, api, kube, func(t *testing.T, change func()) {
		// The collector's watches have reached at most the version of a
		// listing made now.
		list, err := api.dynamic.Resource(rules).List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		reached, err := strconv.ParseUint(list.GetResourceVersion(), 10, 64)
		require.NoError(t, err)
		link.cutOff(t, kube)
		change()
		// A watch resumes with the version after the one it reached; once
		// that version cannot be read, the watch cannot resume.
		waitFor(t, 30*time.Second, "the server to compact its history past the collector's watches", func() bool {
			_, err := api.dynamic.Resource(rules).List(context.Background(), metav1.ListOptions{
				ResourceVersion: strconv.FormatUint(reached+1, 10), ResourceVersionMatch: metav1.ResourceVersionMatchExact})
			return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
		})
		listed = api.rulesListings(t)
		link.restore(t)
	})
	assert.Greater(t, api.rulesListings(t), listed, "listings of the rules after the collector came back: its watches could not resume")
	assert.Equal(t, "otelcol_istio_config_kubernetes_api_up 1", metricLines(kube.collector, "otelcol_istio_config_kubernetes_api_up"))
	log := kube.Stderr.String()
	assert.Equal(t, 1, strings.Count(log, "Kubernetes API server unreachable"), "warnings of the partition")
	assert.Equal(t, 1, strings.Count(log, "Kubernetes API server answers again"), "notes of its end")
}

// cutOff cuts the link and waits until kube, on its other side, notices.
func (l *tcpLink) cutOff(t *testing.T, kube *mixerCollector) {
	t.Helper()
	l.cut()
	waitFor(t, 30*time.Second, "the collector to notice it is cut off", func() bool {
		return metricLines(kube.collector, "otelcol_istio_config_kubernetes_api_up") == "otelcol_istio_config_kubernetes_api_up 0"
	})
}

// collectorThroughLink starts a collector that reads its Istio
// configuration from the server, as its admin, through a tcpLink the test
// can cut.
func (s *apiServer) collectorThroughLink(t *testing.T) (*tcpLink, *mixerCollector) {
	t.Helper()
	link := newTCPLink(t, strings.TrimPrefix(s.URL, "https://"))
	kubeconfig := filepath.Join(t.TempDir(), "via-link.kubeconfig")
	admin, err := os.ReadFile(s.adminKubeconfig())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(kubeconfig, bytes.ReplaceAll(admin, []byte(s.URL), []byte("https://"+link.Addr)), 0o600))
	return link, startMixerCollector(t, t.TempDir(), "      - kubernetes: {}\n", collectorOptions{Env: []string{"KUBECONFIG=" + kubeconfig}})
}

// rulesChangedWhileAway is the scenario of the two tests above: the
// walkthrough's metrics rule counts through a collector reading the
// configuration from api; away keeps the collector from the server while
// it runs change, which deletes that rule and adds the walkthrough's log
// entry; then both changes are in force.
func rulesChangedWhileAway(t *testing.T, api *apiServer, kube *mixerCollector, away func(t *testing.T, change func())) {
	t.Helper()
	api.applyFiles(t, filepath.Join(deployDir, "namespace.yaml"), filepath.Join(deployDir, "crds.yaml"), istio11Profile)
	api.apply(t, "metrics.yaml", readSeed(t, "metrics.yaml"))
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 5, Enriched: true, MTLS: true})
	doubled := func() float64 { return counterValue(kube.exposition(t), "istio_double_request_count") }
	newlog := func() int {
		return strings.Count(strings.Join(kube.stdoutLines(), "\n"), `"instance":"newlog.instance.istio-system"`)
	}
	waitFor(t, 20*time.Second, "the walkthrough's double count", func() bool {
		kube.report(t, g.Next())
		return doubled() > 0
	})
	require.Zero(t, newlog(), "no newlog rule yet")

	away(t, func() {
		api.delete(t, schema.GroupVersionResource{Group: "config.istio.io", Version: "v1alpha2", Resource: "rules"}, "istio-system", "doubleprom")
		api.apply(t, "log-entry.yaml", readSeed(t, "log-entry.yaml"))
		kube.report(t, g.Next())
	})
	// Both rule changes come in one listing or in consecutive watch
	// events: the first report that makes a newlog line no longer meets
	// doubleprom.
	waitFor(t, time.Minute, "the log rule added while the collector was cut off", func() bool {
		kube.report(t, g.Next())
		return newlog() > 0
	})
	before, lines := doubled(), newlog()
	kube.report(t, g.Next())
	waitFor(t, 20*time.Second, "the next report's log lines", func() bool { return newlog() > lines })
	assert.Equal(t, before, doubled(), "the rule deleted while the collector was cut off still counts")
}

// rulesListings counts the listings of the rules the server has served:
// client-go's streaming watch-list, or a plain LIST.
func (s *apiServer) rulesListings(t *testing.T) float64 {
	t.Helper()
	metrics, err := s.clients.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	require.NoError(t, err)
	return counterValue(string(metrics), "apiserver_watch_list_duration_seconds_count", `resource="rules"`) +
		counterValue(string(metrics), "apiserver_request_total", `resource="rules"`, `verb="LIST"`)
}

// tcpLink forwards loopback connections to a server, and can be cut: while
// it is, nothing listens at its address, as when a network path is down,
// and the connections it carried are closed.
type tcpLink struct {
	Addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newTCPLink(t *testing.T, target string) *tcpLink {
	t.Helper()
	l := &tcpLink{Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), target: target, conns: map[net.Conn]bool{}}
	l.restore(t)
	t.Cleanup(l.cut)
	return l
}

// restore listens again at Addr.
func (l *tcpLink) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", l.Addr)
	require.NoError(t, err, "the link's port, free a moment ago")
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go l.forward(c)
		}
	}()
}

func (l *tcpLink) forward(c net.Conn) {
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		c.Close()
		return
	}
	if !l.track(c, up) {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	l.mu.Lock()
	delete(l.conns, c)
	delete(l.conns, up)
	l.mu.Unlock()
}

// track records a forwarded pair, unless the link was cut meanwhile.
func (l *tcpLink) track(c, up net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		c.Close()
		up.Close()
		return false
	}
	l.conns[c], l.conns[up] = true, true
	return true
}

// cut stops listening and closes every forwarded connection.
func (l *tcpLink) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}

// TestNamespacedAccessOnAPIServer runs the collector with least privilege:
// the config source limited to two namespaces and the pod cache to one,
// under a service account that rbac.yaml's ClusterRoles are granted to by
// RoleBindings in just those namespaces. Nothing is refused, the
// configuration and the pods of those namespaces are read, and a resource
// in another namespace is not.
func TestNamespacedAccessOnAPIServer(t *testing.T) {
	api := startAPIServer(t)
	api.applyDeploy(t)
	bindings := "apiVersion: v1\nkind: Namespace\nmetadata: {name: elsewhere}\n---\n" +
		"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: scoped, namespace: " + deployNamespace + "}\n"
	for _, b := range []struct{ name, namespace, clusterRole string }{
		{"scoped-config", deployNamespace, "otelcol-istio"},
		{"scoped-config", "default", "otelcol-istio"},
		{"scoped-pods", "default", "otelcol-istio-enrichment"},
	} {
		bindings += fmt.Sprintf("---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: %s, namespace: %s}\n"+
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %s}\n"+
			"subjects: [{kind: ServiceAccount, name: scoped, namespace: %s}]\n", b.name, b.namespace, b.clusterRole, deployNamespace)
	}
	api.apply(t, "role bindings", []byte(bindings))
	api.applyFiles(t, istio11Profile, doubleRequestCount)
	api.apply(t, "a broken rule elsewhere", []byte("apiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {name: unseen, namespace: elsewhere}\nspec: {match: 'request.size >'}\n"))
	inDefault := []*bookinfo.Workload{bookinfo.ProductPage, bookinfo.Details, bookinfo.ReviewsV1, bookinfo.ReviewsV2,
		bookinfo.ReviewsV3, bookinfo.Ratings, bookinfo.RatingsV2, bookinfo.MongoDB}
	api.bookinfoPods(t, append(inDefault, bookinfo.Gateway))

	kubeconfig := api.serviceAccountConfig(t, deployNamespace, "scoped")
	m := startMixerCollector(t, t.TempDir(), "      - kubernetes: {namespaces: ["+deployNamespace+", default]}\n", collectorOptions{
		Env:  []string{"KUBECONFIG=" + kubeconfig},
		Args: []string{"--set=extensions.istio_config.kubernetes_enrichment.namespaces=[default]"},
	})
	waitFor(t, 20*time.Second, "the pod cache to hold the pods of default", func() bool {
		return ownMetric(m.collector, "otelcol_istio_config_kubernetes_pods") == float64(len(inDefault))
	})
	m.report(t, bookinfo.NewGenerator(bookinfo.Options{Seed: 5, MTLS: true}).Next())
	waitFor(t, 20*time.Second, "the double count of productpage → details, its workloads from the pods", func() bool {
		return strings.Contains(m.exposition(t), `istio_double_request_count{destination="details-v1",message="twice the fun!",reporter="client",source="productpage-v1"} 2`)
	})
	// The gateway's pod is in istio-system, whose pods are not read.
	assert.Contains(t, m.exposition(t), `istio_double_request_count{destination="productpage-v1",message="twice the fun!",reporter="server",source="unknown"} 2`)
	for _, refused := range []string{"access denied", "forbidden", "unseen"} {
		assert.NotContains(t, m.Stderr.String(), refused)
	}
	assert.Zero(t, ownMetric(m.collector, "otelcol_istio_config_resources", `status="rejected"`))
}

// istioSeries is the istio_* samples of an exposition, sorted.
func istioSeries(exposition string) string {
	var out []string
	for _, l := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(l, "istio_") {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// metricLines is a metric's samples on the collector's own metrics endpoint.
func metricLines(c *collector, name string) string {
	var out []string
	for _, l := range strings.Split(httpBody("http://"+c.Telemetry+"/metrics"), "\n") {
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// ownMetric sums the samples of a metric on the collector's own metrics
// endpoint whose lines contain every one of labels (`kind="rule"`): 0 when
// there is none, as for a gauge not observed yet.
func ownMetric(c *collector, name string, labels ...string) float64 {
	return counterValue(httpBody("http://"+c.Telemetry+"/metrics"), name, labels...)
}
