// Package envoycluster reads the names Istio gives Envoy clusters, SNIs and
// routes: which side of a request a proxy is on and which service it called;
// and the ids it gives Envoy nodes: which pod a proxy is. The ALS mapper and
// the access-log processor both rely on it.
package envoycluster // import "github.com/otelcol-istio/otelcol-istio/internal/envoycluster"

import (
	"strconv"
	"strings"
)

// Cluster is a parsed Istio cluster name, direction|port|subset|host
// (pilot's BuildSubsetKey), or its SNI form direction_.port_.subset_.host.
type Cluster struct {
	Direction string // "outbound" or "inbound"
	Port      int64  // 0 when absent
	Subset    string
	Host      string
}

// Parse reads a cluster name or SNI.
func Parse(s string) (Cluster, bool) {
	sep := "|"
	if strings.Count(s, "|") != 3 {
		if strings.Count(s, "_.") < 3 {
			return Cluster{}, false
		}
		sep = "_."
	}
	dir, rest, _ := strings.Cut(s, sep)
	port, rest, _ := strings.Cut(rest, sep)
	subset, host, _ := strings.Cut(rest, sep)
	if dir != "outbound" && dir != "inbound" {
		return Cluster{}, false
	}
	c := Cluster{Direction: dir, Subset: subset, Host: host}
	if port != "" {
		p, err := strconv.ParseInt(port, 10, 32)
		if err != nil || p < 0 {
			return Cluster{}, false
		}
		c.Port = p
	}
	return c, true
}

// Cluster names Istio gives traffic without a service, and the route names
// that stand for them when no upstream host was picked.
const (
	Passthrough   = "PassthroughCluster"
	BlackHole     = "BlackHoleCluster"
	AllowAnyRoute = "allow_any"
	BlockAllRoute = "block_all"
)

// Direction tells the reporting proxy's side from the cluster and route
// names: "outbound" (a client sidecar or gateway), "inbound", or "" when the
// names do not say.
func Direction(upstreamCluster, route string) string {
	switch {
	case strings.HasPrefix(upstreamCluster, "outbound|"), strings.HasPrefix(upstreamCluster, "outbound_."),
		upstreamCluster == Passthrough, upstreamCluster == BlackHole,
		route == AllowAnyRoute, route == BlockAllRoute:
		return "outbound"
	case strings.HasPrefix(upstreamCluster, "inbound|"), strings.HasPrefix(upstreamCluster, "inbound_."),
		strings.HasPrefix(upstreamCluster, "InboundPassthroughCluster"):
		return "inbound"
	}
	return ""
}

// Service is a destination service derived from a host name.
type Service struct {
	Host, Name, Namespace, UID string
}

// ServiceFromHost splits <name>.<namespace>.svc.<domain>; for other hosts
// only the first label is known, as the name.
func ServiceFromHost(host string) Service {
	s := Service{Host: host}
	name, rest, _ := strings.Cut(host, ".")
	s.Name = name
	if ns, rest, ok := strings.Cut(rest, "."); ok && (rest == "svc" || strings.HasPrefix(rest, "svc.")) {
		s.Namespace = ns
		s.UID = "istio://" + ns + "/services/" + name
	}
	return s
}

// HostFromAuthority drops the port of an HTTP authority.
func HostFromAuthority(a string) string {
	if strings.HasPrefix(a, "[") {
		if i := strings.Index(a, "]"); i > 0 {
			return a[1:i]
		}
		return a
	}
	if i := strings.LastIndexByte(a, ':'); i >= 0 && strings.Count(a, ":") == 1 {
		return a[:i]
	}
	return a
}

// NodeID is an Envoy node id as Istio sets it,
// <type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>. Pod and Namespace
// are empty when the third part is not <pod>.<namespace>.
type NodeID struct {
	Type, IP       string
	Pod, Namespace string
}

// ParseNodeID reads a node id of four parts. The pod ends at the third
// part's last dot: namespaces have no dots, pod names may.
func ParseNodeID(id string) (NodeID, bool) {
	parts := strings.Split(id, "~")
	if len(parts) != 4 {
		return NodeID{}, false
	}
	n := NodeID{Type: parts[0], IP: parts[1]}
	if i := strings.LastIndexByte(parts[2], '.'); i > 0 && i < len(parts[2])-1 {
		n.Pod, n.Namespace = parts[2][:i], parts[2][i+1:]
	}
	return n, true
}
