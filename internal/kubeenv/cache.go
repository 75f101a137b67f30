package kubeenv

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/otelcol-istio/otelcol-istio/internal/kubeconn"
)

// Pods finds the pods of a request. Cache implements it against a cluster;
// tests and tools may implement it over fixed data.
type Pods interface {
	// Lookup finds the source and destination pods of in, each by its uid
	// when in gives one, else by its IP (unless unspecified). It must be
	// safe for concurrent use and should not allocate.
	Lookup(in *Input) Result
}

// Input is what a kubernetes instance evaluated from the request bag.
type Input struct {
	SourceUID       string
	SourceIP        []byte
	DestinationUID  string
	DestinationIP   []byte
	DestinationPort int64
}

// Result is what a lookup found. A nil pod was not found (its workload is
// nil too); the pointers are shared and read only.
type Result struct {
	Source, Destination                 *Pod
	SourceWorkload, DestinationWorkload *Workload
	// DestinationContainer declares the destination port; "" when none does.
	DestinationContainer string
}

// Defaults of Options.
const (
	DefaultMaxPods     = 100_000
	DefaultSyncTimeout = 10 * time.Second
)

// Options configure a Cache.
type Options struct {
	// Namespaces to watch; empty means all.
	Namespaces []string
	// NodeName, when set, keeps only the pods scheduled on that node (a
	// field selector on spec.nodeName). Peers on other nodes are then not
	// found: see docs/kubernetes-enrichment.md.
	NodeName string
	// ResyncPeriod is the informers' full resync period; 0 means none (the
	// watch delivers every change).
	ResyncPeriod time.Duration
	// SyncTimeout bounds how long WaitForSync waits for the first listing; 0 means
	// DefaultSyncTimeout.
	SyncTimeout time.Duration
	// MaxPods caps the pods held; further pods are not cached (and counted).
	// 0 means DefaultMaxPods.
	MaxPods int
	Logger  *zap.Logger
}

// Stats counts lookups, per side of a request.
type Stats struct {
	ByUID    uint64 // found by uid
	ByIP     uint64 // found by IP
	NotFound uint64 // a uid or IP was given but no pod has it
	NoInput  uint64 // neither uid nor IP: nothing to look up
	// Overflow counts pods not cached because MaxPods was reached.
	Overflow uint64
}

// Cache is a pod cache fed by informers on pods, ReplicaSets and Jobs. It is
// safe for concurrent use; lookups take a read lock and allocate nothing.
type Cache struct {
	client kubernetes.Interface
	opts   Options
	log    *zap.Logger

	mu     sync.RWMutex
	pods   map[nsName]*Pod
	byIP   map[netip.Addr]*Pod   // the best pod holding each IP
	ipPods map[netip.Addr][]*Pod // every pod holding it
	// Root workload of each ReplicaSet and Job that has a controller (one
	// without is itself the workload, which its pods already know).
	replicaSets map[nsName]*Workload
	jobs        map[nsName]*Workload

	// synced reports, per informer, that our handler has seen its first
	// listing (the informer's own HasSynced only covers its store).
	synced []cache.InformerSynced
	// waitFor is what WaitForSync waits for: synced, less the refused.
	waitFor []cache.InformerSynced
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	byUID, byIPHits, notFound, noInput, overflow atomic.Uint64
	warned                                       sync.Map // informer name → true: watch problem logged
	refused                                      sync.Map // informer name → true: listing refused (RBAC)
}

type nsName struct{ namespace, name string }

// NewCache returns a cache reading through client; Start fills it.
func NewCache(client kubernetes.Interface, opts Options) *Cache {
	if opts.MaxPods <= 0 {
		opts.MaxPods = DefaultMaxPods
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = DefaultSyncTimeout
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Cache{
		client:      client,
		opts:        opts,
		log:         opts.Logger,
		pods:        map[nsName]*Pod{},
		byIP:        map[netip.Addr]*Pod{},
		ipPods:      map[netip.Addr][]*Pod{},
		replicaSets: map[nsName]*Workload{},
		jobs:        map[nsName]*Workload{},
	}
}

// Start runs the informers and waits for their first listing: Run, then
// WaitForSync.
func (c *Cache) Start(ctx context.Context) error {
	if err := c.Run(); err != nil {
		return err
	}
	return c.WaitForSync(ctx)
}

// Run starts the informers without waiting for them; Stop stops them.
func (c *Cache) Run() error {
	namespaces := c.opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var onNode func(*metav1.ListOptions)
	if c.opts.NodeName != "" {
		sel := fields.OneTermEqualSelector("spec.nodeName", c.opts.NodeName).String()
		onNode = func(o *metav1.ListOptions) { o.FieldSelector = sel }
	}
	type named struct {
		name string
		inf  cache.SharedIndexInformer
		reg  cache.ResourceEventHandlerRegistration
	}
	var infs []named
	for _, ns := range namespaces {
		where := ns
		if where == "" {
			where = "all namespaces"
		}
		pods := coreinformers.NewFilteredPodInformer(c.client, ns, c.opts.ResyncPeriod, cache.Indexers{}, onNode)
		_ = pods.SetTransform(toPodObj)
		podReg, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    c.podChanged,
			UpdateFunc: func(_, obj any) { c.podChanged(obj) },
			DeleteFunc: c.podDeleted,
		})
		if err != nil {
			return err
		}
		rs := appsinformers.NewFilteredReplicaSetInformer(c.client, ns, c.opts.ResyncPeriod, cache.Indexers{}, nil)
		_ = rs.SetTransform(toCtrlObj)
		rsReg, err := rs.AddEventHandler(c.controllerHandler(&c.replicaSets))
		if err != nil {
			return err
		}
		jobs := batchinformers.NewFilteredJobInformer(c.client, ns, c.opts.ResyncPeriod, cache.Indexers{}, nil)
		_ = jobs.SetTransform(toCtrlObj)
		jobReg, err := jobs.AddEventHandler(c.controllerHandler(&c.jobs))
		if err != nil {
			return err
		}
		infs = append(infs, named{"pods in " + where, pods, podReg}, named{"replicasets in " + where, rs, rsReg},
			named{"jobs in " + where, jobs, jobReg})
	}

	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for _, n := range infs {
		_ = n.inf.SetWatchErrorHandlerWithContext(c.watchError(n.name))
		c.synced = append(c.synced, n.reg.HasSynced)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			n.inf.RunWithContext(runCtx)
		}()
	}

	// An informer whose listing is refused is not waited for: that takes
	// someone granting access (watchError says so).
	for _, n := range infs {
		c.waitFor = append(c.waitFor, func() bool { _, refused := c.refused.Load(n.name); return refused || n.reg.HasSynced() })
	}
	return nil
}

// WaitForSync waits, at most SyncTimeout, for the first listing of the
// informers Run started. A cache that has not synced by then keeps filling
// in the background; until it has, unknown pods get the bindings' defaults.
// It returns an error, and stops the informers, only when ctx ends first.
func (c *Cache) WaitForSync(ctx context.Context) error {
	syncCtx, done := context.WithTimeout(ctx, c.opts.SyncTimeout)
	defer done()
	if !cache.WaitForCacheSync(syncCtx.Done(), c.waitFor...) || !c.Synced() {
		if ctx.Err() != nil {
			c.Stop()
			return ctx.Err()
		}
		c.log.Warn("Kubernetes pod cache not synced yet; it keeps filling in the background, and pods it does not hold yet get the attribute bindings' defaults",
			zap.Duration("waited", c.opts.SyncTimeout))
		return nil
	}
	c.log.Info("Kubernetes pod cache synced", zap.Int("pods", c.Len()),
		zap.Strings("namespaces", c.opts.Namespaces), zap.String("node", c.opts.NodeName))
	return nil
}

// Stop stops the informers; lookups keep answering from what was cached.
func (c *Cache) Stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
}

// Synced reports whether the first listing of every informer is in the
// cache.
func (c *Cache) Synced() bool {
	if len(c.synced) == 0 {
		return false
	}
	for _, ok := range c.synced {
		if !ok() {
			return false
		}
	}
	return true
}

// Len returns the number of pods held.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pods)
}

// Stats returns the lookup counters.
func (c *Cache) Stats() Stats {
	return Stats{ByUID: c.byUID.Load(), ByIP: c.byIPHits.Load(), NotFound: c.notFound.Load(),
		NoInput: c.noInput.Load(), Overflow: c.overflow.Load()}
}

// watchError logs the first error answer of each informer at warn level (a
// missing RBAC rule shows here), later ones at debug. A server that does
// not answer at all is the client's kubeconn.Monitor's to report.
func (c *Cache) watchError(name string) cache.WatchErrorHandlerWithContext {
	return func(_ context.Context, _ *cache.Reflector, err error) {
		if apierrors.IsForbidden(err) {
			c.refused.Store(name, true)
		}
		if !kubeconn.Unreachable(err) {
			if _, seen := c.warned.LoadOrStore(name, true); !seen {
				msg := "Kubernetes pod cache: cannot list or watch; retrying"
				if apierrors.IsForbidden(err) {
					msg = "Kubernetes pod cache: forbidden; grant get, list and watch on pods, replicasets and jobs (deploy/kubernetes/rbac-enrichment.yaml); retrying"
				}
				c.log.Warn(msg, zap.String("informer", name), zap.Error(err))
				return
			}
		}
		c.log.Debug("Kubernetes pod cache: watch error", zap.String("informer", name), zap.Error(err))
	}
}

// Lookup implements Pods.
func (c *Cache) Lookup(in *Input) Result {
	var r Result
	c.mu.RLock()
	if p := c.find(in.DestinationUID, in.DestinationIP); p != nil {
		r.Destination, r.DestinationWorkload = p, c.workload(p)
		r.DestinationContainer = p.ContainerFor(in.DestinationPort)
	}
	if p := c.find(in.SourceUID, in.SourceIP); p != nil {
		r.Source, r.SourceWorkload = p, c.workload(p)
	}
	c.mu.RUnlock()
	return r
}

// find follows kubernetesenv: the uid decides when there is one (an unknown
// uid does not fall back to the IP, which may since belong to another pod);
// else the IP, unless it is unspecified.
func (c *Cache) find(uid string, ip []byte) *Pod {
	if uid != "" {
		if p := c.byUIDLocked(uid); p != nil {
			c.byUID.Add(1)
			return p
		}
		c.notFound.Add(1)
		return nil
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok || a.Unmap().IsUnspecified() {
		c.noInput.Add(1)
		return nil
	}
	if p := c.byIP[a.Unmap()]; p != nil {
		c.byIPHits.Add(1)
		return p
	}
	c.notFound.Add(1)
	return nil
}

// byUIDLocked resolves kubernetes://<pod>.<namespace>; like kubernetesenv it
// also takes <pod>.<namespace> without the prefix and a bare IP address. The
// namespace follows the last dot: pod names may contain dots, namespaces not.
func (c *Cache) byUIDLocked(uid string) *Pod {
	full, prefixed := strings.CutPrefix(uid, kubePrefix)
	if !prefixed {
		if a, err := netip.ParseAddr(uid); err == nil {
			return c.byIP[a.Unmap()]
		}
	}
	i := strings.LastIndexByte(full, '.')
	if i < 0 {
		return nil
	}
	return c.pods[nsName{namespace: full[i+1:], name: full[:i]}]
}

// workload resolves a pod's root controller from the cached ReplicaSets and
// Jobs; an unknown ReplicaSet or Job is itself the workload, as in Mixer.
func (c *Cache) workload(p *Pod) *Workload {
	var m map[nsName]*Workload
	switch p.ctrl.kind {
	case ctrlReplicaSet:
		m = c.replicaSets
	case ctrlJob:
		m = c.jobs
	default:
		return p.own
	}
	if w := m[nsName{p.Namespace, p.ctrl.name}]; w != nil {
		return w
	}
	return p.own
}

func (c *Cache) podChanged(obj any) {
	o, ok := obj.(*podObj)
	if !ok {
		return
	}
	p := o.pod
	key := nsName{p.Namespace, p.Name}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.pods[key]
	if old == nil && len(c.pods) >= c.opts.MaxPods {
		if c.overflow.Add(1) == 1 {
			c.log.Warn("Kubernetes pod cache is full; further pods are not cached and get the attribute bindings' defaults",
				zap.Int("max_pods", c.opts.MaxPods))
		}
		return
	}
	if old != nil {
		c.unindex(old)
	}
	c.pods[key] = p
	c.index(p)
}

func (c *Cache) podDeleted(obj any) {
	key, ok := deletedKey(obj)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.pods[key]; old != nil {
		c.unindex(old)
		delete(c.pods, key)
	}
}

func (c *Cache) index(p *Pod) {
	for _, a := range p.addrs {
		c.ipPods[a] = append(c.ipPods[a], p)
		if cur := c.byIP[a]; cur == nil || p.better(cur) {
			c.byIP[a] = p
		}
	}
}

func (c *Cache) unindex(p *Pod) {
	for _, a := range p.addrs {
		list := c.ipPods[a]
		for i, q := range list {
			if q == p {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(c.ipPods, a)
			delete(c.byIP, a)
			continue
		}
		c.ipPods[a] = list
		best := list[0]
		for _, q := range list[1:] {
			if q.better(best) {
				best = q
			}
		}
		c.byIP[a] = best
	}
}

// controllerHandler keeps the root workload of ReplicaSets (or Jobs) in *m.
func (c *Cache) controllerHandler(m *map[nsName]*Workload) cache.ResourceEventHandler {
	set := func(obj any) {
		o, ok := obj.(*ctrlObj)
		if !ok {
			return
		}
		key := nsName{o.Namespace, o.Name}
		c.mu.Lock()
		if o.root != nil {
			(*m)[key] = o.root
		} else {
			delete(*m, key) // the object itself is the workload: pods know that already
		}
		c.mu.Unlock()
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			key, ok := deletedKey(obj)
			if !ok {
				return
			}
			c.mu.Lock()
			delete(*m, key)
			c.mu.Unlock()
		},
	}
}

// deletedKey is the key of an object an informer deleted: the object
// itself, or the tombstone it hands over when it missed the deletion.
func deletedKey(obj any) (nsName, bool) {
	k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return nsName{}, false
	}
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return nsName{}, false
	}
	return nsName{ns, name}, true
}
