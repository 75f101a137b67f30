package als

import (
	"strconv"
	"strings"
)

// cluster is a parsed Istio cluster name: direction|port|subset|host
// (pilot's BuildSubsetKey) or the SNI form direction_.port_.subset_.host.
type cluster struct {
	direction string // "outbound" or "inbound"
	port      int64  // 0 when absent
	subset    string
	host      string
}

func parseCluster(s string) (cluster, bool) {
	sep := "|"
	if strings.Count(s, "|") != 3 {
		if strings.Count(s, "_.") < 3 {
			return cluster{}, false
		}
		sep = "_."
	}
	dir, rest, _ := strings.Cut(s, sep)
	port, rest, _ := strings.Cut(rest, sep)
	subset, host, _ := strings.Cut(rest, sep)
	if dir != "outbound" && dir != "inbound" {
		return cluster{}, false
	}
	c := cluster{direction: dir, subset: subset, host: host}
	if port != "" {
		p, err := strconv.ParseInt(port, 10, 32)
		if err != nil || p < 0 {
			return cluster{}, false
		}
		c.port = p
	}
	return c, true
}

// Cluster names Istio gives traffic without a service.
const (
	passthroughCluster = "PassthroughCluster"
	blackHoleCluster   = "BlackHoleCluster"
)

// direction says which side of the request the reporting proxy is on, from
// the cluster name, the route name and the node (envoy-sources.md §1b);
// "" when it cannot tell.
func (r *reporter) direction(upstreamCluster, route string, localIP ipOrNone) string {
	switch {
	case strings.HasPrefix(upstreamCluster, "outbound|"), strings.HasPrefix(upstreamCluster, "outbound_."),
		upstreamCluster == passthroughCluster, upstreamCluster == blackHoleCluster,
		route == "allow_any", route == "block_all":
		return "outbound"
	case strings.HasPrefix(upstreamCluster, "inbound|"), strings.HasPrefix(upstreamCluster, "inbound_."),
		strings.HasPrefix(upstreamCluster, "InboundPassthroughCluster"):
		return "inbound"
	case r.nodeType == "router":
		// Gateways report as the client side.
		return "outbound"
	case localIP.ok && len(r.instanceIPs) > 0:
		// An inbound listener sees the pod's own address as the original
		// destination; an outbound one sees a service VIP or remote IP.
		if r.isInstanceIP(localIP.addr) {
			return "inbound"
		}
		return "outbound"
	}
	return ""
}

// service is a destination service derived from a host name.
type service struct {
	host, name, namespace, uid string
}

// serviceFromHost splits <name>.<namespace>.svc.<domain>; for other hosts
// only the first label is known as the name.
func serviceFromHost(host string) service {
	s := service{host: host}
	name, rest, _ := strings.Cut(host, ".")
	s.name = name
	if ns, rest, ok := strings.Cut(rest, "."); ok && (rest == "svc" || strings.HasPrefix(rest, "svc.")) {
		s.namespace = ns
		s.uid = "istio://" + ns + "/services/" + name
	}
	return s
}

// hostFromAuthority drops the port of an HTTP authority.
func hostFromAuthority(a string) string {
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
