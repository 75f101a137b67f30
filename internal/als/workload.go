package als

import (
	"net/netip"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"

	"github.com/otelcol-istio/otelcol-istio/internal/envoycluster"
)

// workload is what we know about one side of a request: the reporting proxy
// (from its node metadata) or its peer (from filter state).
type workload struct {
	name           string // pod
	namespace      string
	workloadName   string
	owner          string
	serviceAccount string
	principal      string
	labels         []string // key, value, ... sorted by key

	// derived by finish, once per workload rather than per entry
	uid, workloadUID string

	// The packed pairs put writes, per side, made on first use: a stream's
	// entries name the same few workloads over and over.
	packed [2][]byte
}

// finish sorts the labels and derives the uids.
func (w *workload) finish() {
	w.sortLabels()
	if w.name != "" && w.namespace != "" {
		w.uid = "kubernetes://" + w.name + "." + w.namespace
	}
	if w.workloadName != "" && w.namespace != "" {
		w.workloadUID = "istio://" + w.namespace + "/workloads/" + w.workloadName
	}
}

// side names the attributes of one side.
type side struct {
	index                                                          int // of workload.packed
	name, namespace, uid, owner, labels, serviceAccount, principal string
	workloadName, workloadNamespace, workloadUID                   string
}

var (
	sourceSide = side{
		name: "source.name", namespace: "source.namespace", uid: "source.uid", owner: "source.owner",
		labels: "source.labels", serviceAccount: "source.serviceAccount", principal: "source.principal",
		workloadName: "source.workload.name", workloadNamespace: "source.workload.namespace",
		workloadUID: "source.workload.uid",
	}
	destinationSide = side{
		name: "destination.name", namespace: "destination.namespace", uid: "destination.uid", owner: "destination.owner",
		labels: "destination.labels", serviceAccount: "destination.serviceAccount", principal: "destination.principal",
		workloadName: "destination.workload.name", workloadNamespace: "destination.workload.namespace",
		workloadUID: "destination.workload.uid", index: 1,
	}
)

// put writes the workload's attributes in the forms kubernetesenv gave them
// (mixer-semantics.md §b.4).
func (w *workload) put(m *bagrecord.Writer, s *side) {
	if !m.Packed() {
		w.putEach(m, s)
		return
	}
	if p := w.packed[s.index]; p != nil {
		m.Pairs(p)
		return
	}
	at := m.Mark()
	w.putEach(m, s)
	w.packed[s.index] = append([]byte{}, m.Since(at)...)
}

func (w *workload) putEach(m *bagrecord.Writer, s *side) {
	if w.name != "" {
		m.String(s.name, w.name)
	}
	if w.namespace != "" {
		m.String(s.namespace, w.namespace)
		m.String(s.workloadNamespace, w.namespace)
	}
	if w.uid != "" {
		m.String(s.uid, w.uid)
	}
	if w.workloadName != "" {
		m.String(s.workloadName, w.workloadName)
	}
	if w.workloadUID != "" {
		m.String(s.workloadUID, w.workloadUID)
	}
	if w.owner != "" {
		m.String(s.owner, w.owner)
	}
	if w.serviceAccount != "" {
		m.String(s.serviceAccount, w.serviceAccount)
	}
	if w.principal != "" {
		m.String(s.principal, w.principal)
	}
	if len(w.labels) > 0 {
		m.BeginStringMap(s.labels, len(w.labels)/2)
		for i := 0; i+1 < len(w.labels); i += 2 {
			m.StringMapEntry(w.labels[i], w.labels[i+1])
		}
		m.EndStringMap()
	}
}

func (w *workload) empty() bool {
	return w.name == "" && w.namespace == "" && w.workloadName == "" && w.owner == "" &&
		w.serviceAccount == "" && w.principal == "" && len(w.labels) == 0
}

// addLabel adds a label unless the key is there already.
func (w *workload) addLabel(k, v string) {
	if v == "" {
		return
	}
	for i := 0; i < len(w.labels); i += 2 {
		if w.labels[i] == k {
			return
		}
	}
	w.labels = append(w.labels, k, v)
}

func (w *workload) sortLabels() {
	type kv struct{ k, v string }
	pairs := make([]kv, 0, len(w.labels)/2)
	for i := 0; i+1 < len(w.labels); i += 2 {
		pairs = append(pairs, kv{w.labels[i], w.labels[i+1]})
	}
	slices.SortFunc(pairs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	w.labels = w.labels[:0]
	for _, p := range pairs {
		w.labels = append(w.labels, p.k, p.v)
	}
}

// reporter is the proxy that sent the stream, from the stream identifier.
type reporter struct {
	workload
	nodeType     string // sidecar, router, waypoint, ztunnel
	proxyVersion string
	instanceIPs  []netip.Addr
}

// newReporter reads the node's metadata (pkg/model/proxy.go keys) and, for
// what is missing, the node id "<type>~<ip>~<pod>.<namespace>~<domain>".
func newReporter(n *corev3.Node) reporter {
	var r reporter
	md := n.GetMetadata().GetFields()
	r.name = str(md, "NAME")
	r.namespace = str(md, "NAMESPACE")
	r.workloadName = str(md, "WORKLOAD_NAME")
	r.owner = str(md, "OWNER")
	r.serviceAccount = str(md, "SERVICE_ACCOUNT")
	r.proxyVersion = str(md, "ISTIO_VERSION")
	for k, v := range md["LABELS"].GetStructValue().GetFields() {
		if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
			r.labels = append(r.labels, k, s.StringValue)
		}
	}
	for ip := range strings.SplitSeq(str(md, "INSTANCE_IPS"), ",") {
		if a, err := netip.ParseAddr(strings.TrimSpace(ip)); err == nil {
			r.instanceIPs = append(r.instanceIPs, a.Unmap())
		}
	}

	if id, ok := envoycluster.ParseNodeID(n.GetId()); ok {
		r.nodeType = id.Type
		if len(r.instanceIPs) == 0 {
			if a, err := netip.ParseAddr(id.IP); err == nil {
				r.instanceIPs = append(r.instanceIPs, a.Unmap())
			}
		}
		if id.Pod != "" {
			if r.name == "" {
				r.name = id.Pod
			}
			if r.namespace == "" {
				r.namespace = id.Namespace
			}
		}
	}
	r.finish()
	return r
}

func (r *reporter) isInstanceIP(a netip.Addr) bool {
	return slices.Contains(r.instanceIPs, a.Unmap())
}

func str(md map[string]*structpb.Value, k string) string {
	return md[k].GetStringValue()
}

// ownerAPI maps the workload type in Istio's peer metadata to the API group
// of its controller, to rebuild kubernetesenv's owner URI.
var ownerAPI = map[string]string{
	"deployment":  "apps/v1",
	"daemonset":   "apps/v1",
	"statefulset": "apps/v1",
	"replicaset":  "apps/v1",
	"job":         "batch/v1",
	"cronjob":     "batch/v1",
}

// peerFromStruct reads the peer metadata Istio ≥ 1.24 logs as a Struct
// (keys type, workload, name, cluster, namespace, service, revision, app,
// version, and in newer releases identity and labels).
func peerFromStruct(st *structpb.Struct) workload {
	f := st.GetFields()
	w := workload{
		name:         str(f, "name"),
		namespace:    str(f, "namespace"),
		workloadName: str(f, "workload"),
		principal:    principal(str(f, "identity")),
	}
	if api, ok := ownerAPI[strings.ToLower(str(f, "type"))]; ok && w.namespace != "" && w.workloadName != "" {
		w.owner = "kubernetes://apis/" + api + "/namespaces/" + w.namespace + "/" + strings.ToLower(str(f, "type")) + "s/" + w.workloadName
	}
	for k, v := range f["labels"].GetStructValue().GetFields() {
		if s, ok := v.GetKind().(*structpb.Value_StringValue); ok {
			w.labels = append(w.labels, k, s.StringValue)
		}
	}
	w.addLabel("app", str(f, "app"))
	w.addLabel("version", str(f, "version"))
	w.addLabel("service.istio.io/canonical-name", str(f, "service"))
	w.addLabel("service.istio.io/canonical-revision", str(f, "revision"))
	if sa := spiffeField(w.principal, "sa"); sa != "" {
		w.serviceAccount = sa
	}
	w.finish()
	return w
}

// spiffeField returns the value after "/<key>/" in an Istio SPIFFE
// identity (spiffe://<trust domain>/ns/<namespace>/sa/<service account>).
func spiffeField(id, key string) string {
	_, rest, ok := strings.Cut(id, "/"+key+"/")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, "/")
	return v
}
