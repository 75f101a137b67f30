package istioconfig

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/otelcol-istio/otelcol-istio/internal/kubeconn"
)

// KubernetesResources are the config.istio.io/v1alpha2 resources the
// Kubernetes source watches: the generic kinds and the legacy kinds of
// Istio's default config (including kubernetes and kubernetesenv, which
// drive attribute generation).
var KubernetesResources = []string{
	"attributemanifests", "rules", "instances", "handlers",
	"metrics", "logentries", "prometheuses", "stdios",
	"kuberneteses", "kubernetesenvs",
}

// KubernetesOptions configure a KubernetesSource.
type KubernetesOptions struct {
	// Namespaces to watch; empty means all namespaces.
	Namespaces []string
	// SyncTimeout bounds how long Start waits for the first listing of each
	// resource; resources whose CRD is missing stay empty and keep being
	// retried in the background. 0 means 30s.
	SyncTimeout time.Duration
	Logger      *zap.Logger
}

// KubernetesSource reads resources from the Kubernetes API through dynamic
// informers: the API server pushes changes, and each change rebuilds the
// snapshot from the informers' caches.
type KubernetesSource struct {
	client dynamic.Interface
	opts   KubernetesOptions

	mu        sync.Mutex
	informers []*kubeInformer
	// missing holds the informers whose resource the API server does not
	// serve (no CRD): Start need not wait for them.
	missing sync.Map // *kubeInformer → bool
	// forbidden holds the informers whose refusal was logged at warn level;
	// failing is set once another error answer was.
	forbidden sync.Map // *kubeInformer → bool
	failing   atomic.Bool
}

type kubeInformer struct {
	gvr       schema.GroupVersionResource
	namespace string
	inf       cache.SharedIndexInformer
}

// NewKubernetesSource returns a source reading through client.
func NewKubernetesSource(client dynamic.Interface, opts KubernetesOptions) *KubernetesSource {
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &KubernetesSource{client: client, opts: opts}
}

func (s *KubernetesSource) String() string {
	if len(s.opts.Namespaces) == 0 {
		return "kubernetes (all namespaces)"
	}
	return "kubernetes (namespaces " + strings.Join(s.opts.Namespaces, ", ") + ")"
}

// Start starts one informer per resource and namespace and waits, at most
// SyncTimeout, for their first listing.
func (s *KubernetesSource) Start(ctx context.Context, changed func()) error {
	namespaces := s.opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{""} // metav1.NamespaceAll
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { changed() },
		UpdateFunc: func(any, any) { changed() },
		DeleteFunc: func(any) { changed() },
	}
	var infs []*kubeInformer
	for _, ns := range namespaces {
		// No periodic resync: the watch delivers every change.
		f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(s.client, 0, ns, nil)
		for _, res := range KubernetesResources {
			gvr := schema.GroupVersionResource{Group: "config.istio.io", Version: "v1alpha2", Resource: res}
			inf := f.ForResource(gvr).Informer()
			if _, err := inf.AddEventHandler(handler); err != nil {
				return fmt.Errorf("watching %s: %w", res, err)
			}
			ki := &kubeInformer{gvr: gvr, namespace: ns, inf: inf}
			_ = inf.SetWatchErrorHandlerWithContext(s.watchError(ki))
			infs = append(infs, ki)
		}
		f.Start(ctx.Done())
	}
	s.mu.Lock()
	s.informers = infs
	s.mu.Unlock()

	syncCtx, cancel := context.WithTimeout(ctx, s.opts.SyncTimeout)
	defer cancel()
	// Resources the server does not serve, or refuses, are not waited for:
	// neither changes without someone installing a CRD or granting access.
	var missing, unanswered []string
	for _, i := range infs {
		ready := func() bool {
			gone, refused := s.settled(i)
			return gone || refused || i.inf.HasSynced()
		}
		if !cache.WaitForCacheSync(syncCtx.Done(), ready) || !i.inf.HasSynced() {
			gone, refused := s.settled(i)
			switch {
			case gone:
				missing = append(missing, i.describe())
			case !refused: // a refusal was warned of already
				unanswered = append(unanswered, i.describe())
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(missing) > 0 {
		s.opts.Logger.Warn("Kubernetes resources not served: is their CustomResourceDefinition installed? (deploy/kubernetes/crds.yaml); they are retried in the background",
			zap.Strings("resources", missing))
	}
	if len(unanswered) > 0 {
		s.opts.Logger.Warn("Kubernetes resources not listed within the sync timeout (is the API server reachable?); they are retried in the background and loaded when listed",
			zap.Strings("resources", unanswered), zap.Duration("waited", s.opts.SyncTimeout))
	}
	return nil
}

// settled reports whether the server does not serve i's resource (no CRD)
// or refuses to list it: either stays so until someone acts.
func (s *KubernetesSource) settled(i *kubeInformer) (gone, refused bool) {
	_, gone = s.missing.Load(i)
	_, refused = s.forbidden.Load(i)
	return gone, refused
}

func (i *kubeInformer) describe() string {
	if i.namespace == "" {
		return i.gvr.Resource
	}
	return i.gvr.Resource + " in " + i.namespace
}

// watchError notes resources the server does not know (their informer keeps
// retrying, and picks them up once the CRD is installed; Start reports
// them). A refusal is logged at warn level once per resource, since a
// missing RBAC rule leaves that kind out of the configuration for good;
// other error answers once per source, since the informers keep what they
// have and resume by themselves. A server that does not answer at all is
// the client's kubeconn.Monitor's to report, once per outage. The rest goes
// to debug.
func (s *KubernetesSource) watchError(i *kubeInformer) cache.WatchErrorHandlerWithContext {
	return func(_ context.Context, _ *cache.Reflector, err error) {
		log := s.opts.Logger.With(zap.String("resource", i.describe()), zap.Error(err))
		switch {
		case apierrors.IsNotFound(err):
			s.missing.Store(i, true)
		case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
			if _, seen := s.forbidden.LoadOrStore(i, true); !seen {
				log.Warn("Kubernetes config source: access denied; grant get, list and watch on the config.istio.io resources (deploy/kubernetes/rbac.yaml); resources of this kind are left out, retrying")
				return
			}
		case kubeconn.Unreachable(err):
		case !isExpired(err):
			if s.failing.CompareAndSwap(false, true) {
				log.Warn("Kubernetes config source: cannot list or watch; the configuration in force stays, retrying (later failures are logged at debug level)")
				return
			}
		}
		log.Debug("Kubernetes watch error")
	}
}

// isExpired reports the routine end of a watch whose resource version the
// server no longer has; the informer lists again.
func isExpired(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

// Load returns the informers' current contents.
func (s *KubernetesSource) Load() (Input, error) {
	s.mu.Lock()
	infs := s.informers
	s.mu.Unlock()
	if infs == nil {
		return Input{}, fmt.Errorf("%s: not started", s)
	}
	var in Input
	for _, i := range infs {
		for _, obj := range i.inf.GetStore().List() {
			u, ok := obj.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			r, err := FromUnstructured(u)
			if err != nil {
				in.Problems = append(in.Problems, Problem{Kind: strings.ToLower(u.GetKind()),
					Namespace: u.GetNamespace(), Name: u.GetName(), Message: err.Error()})
				continue
			}
			in.Resources = append(in.Resources, r)
		}
	}
	SortResources(in.Resources)
	return in, nil
}

// FromUnstructured converts an object read from the API into a Resource.
// Its spec becomes a YAML node without positions.
func FromUnstructured(u *unstructured.Unstructured) (*Resource, error) {
	r := &Resource{
		APIVersion:  u.GetAPIVersion(),
		Kind:        strings.ToLower(u.GetKind()),
		Name:        u.GetName(),
		Namespace:   u.GetNamespace(),
		Annotations: u.GetAnnotations(),
	}
	spec, ok := u.Object["spec"]
	if !ok || spec == nil {
		return r, nil
	}
	var n yaml.Node
	if err := n.Encode(spec); err != nil {
		return nil, fmt.Errorf("spec: %v", err)
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("spec: must be a mapping, not %s", describe(&n))
	}
	r.Spec = &n
	return r, nil
}
