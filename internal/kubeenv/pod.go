package kubeenv

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// kubePrefix starts the uid Istio gives a pod: kubernetes://<pod>.<namespace>.
const kubePrefix = "kubernetes://"

// Pod is what kubernetesenv reports about a pod. A Pod is immutable once
// cached: lookups hand out the pointer without copying.
type Pod struct {
	Name      string
	Namespace string
	// UID is Istio's uid of the pod, kubernetes://<name>.<namespace>.
	UID string
	// Labels is nil when the pod has none. Shared: read only.
	Labels         *attribute.StringMap
	ServiceAccount string
	// IP and HostIP are in the 16-byte form of net.ParseIP, as Mixer
	// produced them; nil when not known yet.
	IP, HostIP []byte

	containers []container

	// ctrl is the pod's controller when it may lead further (a ReplicaSet
	// to its Deployment, a Job to its CronJob); own is the workload when it
	// does not, or when that object is unknown.
	ctrl ctrlRef
	own  *Workload

	// For choosing among pods that share an IP.
	addrs       []netip.Addr
	terminated  bool
	hostNetwork bool
	created     time.Time
}

type container struct {
	name  string
	ports []int32
}

// ctrlKind is a controller kind whose own controller names the workload.
type ctrlKind uint8

const (
	ctrlNone ctrlKind = iota
	ctrlReplicaSet
	ctrlJob
)

type ctrlRef struct {
	kind ctrlKind
	name string
}

// Workload is a pod's workload: its root controller (ReplicaSet followed to
// its Deployment, Job to its CronJob), or the pod itself when it has no
// controller.
type Workload struct {
	Name      string
	Namespace string
	// UID is istio://<namespace>/workloads/<name>.
	UID string
	// Owner is kubernetes://apis/<apiVersion>/namespaces/<ns>/<kind>s/<name>
	// for a controller; "" for a pod without one (Mixer used the pod's
	// selfLink, which Kubernetes no longer sets).
	Owner string
}

// ContainerFor returns the name of the container that declares port, ""
// when none does (or port is not positive).
func (p *Pod) ContainerFor(port int64) string {
	if port <= 0 {
		return ""
	}
	for i := range p.containers {
		for _, cp := range p.containers[i].ports {
			if int64(cp) == port {
				return p.containers[i].name
			}
		}
	}
	return ""
}

func newWorkload(name, namespace, owner string) *Workload {
	return &Workload{Name: name, Namespace: namespace, UID: "istio://" + namespace + "/workloads/" + name, Owner: owner}
}

// ownerWorkload is the workload named by a controller reference.
func ownerWorkload(namespace string, ref *metav1.OwnerReference) *Workload {
	owner := kubePrefix + "apis/" + ref.APIVersion + "/namespaces/" + namespace + "/" + strings.ToLower(ref.Kind) + "s/" + ref.Name
	return newWorkload(ref.Name, namespace, owner)
}

// newPod converts a Kubernetes pod into what lookups return.
func newPod(k *corev1.Pod) *Pod {
	p := &Pod{
		Name:           k.Name,
		Namespace:      k.Namespace,
		UID:            kubePrefix + k.Name + "." + k.Namespace,
		ServiceAccount: k.Spec.ServiceAccountName,
		IP:             parseIP(k.Status.PodIP),
		HostIP:         parseIP(k.Status.HostIP),
		terminated:     k.Status.Phase == corev1.PodSucceeded || k.Status.Phase == corev1.PodFailed,
		hostNetwork:    k.Spec.HostNetwork,
		created:        k.CreationTimestamp.Time,
	}
	if len(k.Labels) > 0 {
		p.Labels = attribute.StringMapOf(k.Labels)
	}
	for _, c := range k.Spec.Containers {
		ct := container{name: c.Name}
		for _, port := range c.Ports {
			ct.ports = append(ct.ports, port.ContainerPort)
		}
		p.containers = append(p.containers, ct)
	}
	if ref := metav1.GetControllerOfNoCopy(k); ref != nil {
		p.own = ownerWorkload(k.Namespace, ref)
		switch {
		case ref.Kind == "ReplicaSet":
			p.ctrl = ctrlRef{ctrlReplicaSet, ref.Name}
		case ref.Kind == "Job" && strings.HasPrefix(ref.APIVersion, "batch/"):
			p.ctrl = ctrlRef{ctrlJob, ref.Name}
		}
	} else {
		p.own = newWorkload(k.Name, k.Namespace, "")
	}
	// Every address of the pod is indexed; status.podIP is the first.
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil && !a.IsUnspecified() && !slices.Contains(p.addrs, a.Unmap()) {
			p.addrs = append(p.addrs, a.Unmap())
		}
	}
	add(k.Status.PodIP)
	for _, ip := range k.Status.PodIPs {
		add(ip.IP)
	}
	return p
}

func parseIP(s string) []byte {
	if s == "" {
		return nil
	}
	return net.ParseIP(s) // 16 bytes, as Mixer's adapter produced
}

// better reports whether p is a better answer than q for an IP both have:
// a running pod over a finished one (finished pods may keep an IP that was
// given out again), a pod network pod over a host network one (which shares
// its node's IP), then the newer pod.
func (p *Pod) better(q *Pod) bool {
	if p.terminated != q.terminated {
		return !p.terminated
	}
	if p.hostNetwork != q.hostNetwork {
		return !p.hostNetwork
	}
	if !p.created.Equal(q.created) {
		return p.created.After(q.created)
	}
	return p.Namespace+"/"+p.Name < q.Namespace+"/"+q.Name // deterministic
}

// The informers store compact objects instead of the API's: a pod becomes
// the Pod lookups return, a ReplicaSet or Job the workload it leads to. That
// keeps a cache of every pod of a large cluster small (a Pod with its API
// object would take several kilobytes, most of it never read). The embedded
// ObjectMeta holds just what the informer needs: the key and the
// resourceVersion.

// podObj is a cached pod.
type podObj struct {
	metav1.ObjectMeta
	pod *Pod
}

// ctrlObj is a cached ReplicaSet or Job: the workload its controller names,
// nil when it has none.
type ctrlObj struct {
	metav1.ObjectMeta
	root *Workload
}

func storedMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion}
}

// toPodObj is the pod informer's transform. Other objects (tombstones, and
// objects transformed already) pass unchanged.
func toPodObj(obj any) (any, error) {
	if k, ok := obj.(*corev1.Pod); ok {
		return &podObj{ObjectMeta: storedMeta(&k.ObjectMeta), pod: newPod(k)}, nil
	}
	return obj, nil
}

// toCtrlObj is the ReplicaSet and Job informers' transform.
func toCtrlObj(obj any) (any, error) {
	var m *metav1.ObjectMeta
	switch o := obj.(type) {
	case *appsv1.ReplicaSet:
		m = &o.ObjectMeta
	case *batchv1.Job:
		m = &o.ObjectMeta
	default:
		return obj, nil
	}
	c := &ctrlObj{ObjectMeta: storedMeta(m)}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		c.root = ownerWorkload(m.Namespace, ref)
	}
	return c, nil
}
