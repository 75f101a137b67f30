package accesslog

import (
	"net/netip"
	"strconv"
	"strings"
)

// The cluster-name and host rules below are the ones internal/als applies
// to ALS entries (envoy-sources.md §1b); they are unexported there, and
// the two sources must agree, so a change to one belongs in both.

// cluster is a parsed Istio cluster name: direction|port|subset|host
// (pilot's BuildSubsetKey) or the SNI form direction_.port_.subset_.host.
type cluster struct {
	direction string
	port      int64
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

// Cluster names Istio gives traffic without a service, and the route names
// that stand for them when no upstream host was picked.
const (
	passthroughCluster = "PassthroughCluster"
	blackHoleCluster   = "BlackHoleCluster"
	allowAnyRoute      = "allow_any"
	blockAllRoute      = "block_all"
)

// direction tells the reporting proxy's side from the cluster and route
// names: "outbound" (client sidecar or gateway), "inbound", or "" when the
// line does not say (no cluster, e.g. NR).
func direction(upstreamCluster, route string) string {
	switch {
	case strings.HasPrefix(upstreamCluster, "outbound|"), strings.HasPrefix(upstreamCluster, "outbound_."),
		upstreamCluster == passthroughCluster, upstreamCluster == blackHoleCluster,
		route == allowAnyRoute, route == blockAllRoute:
		return "outbound"
	case strings.HasPrefix(upstreamCluster, "inbound|"), strings.HasPrefix(upstreamCluster, "inbound_."),
		strings.HasPrefix(upstreamCluster, "InboundPassthroughCluster"):
		return "inbound"
	}
	return ""
}

// service is a destination service derived from a host name.
type service struct {
	host, name, namespace, uid string
}

// serviceFromHost splits <name>.<namespace>.svc.<domain>; for other hosts
// only the first label is known, as the name.
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

// parseAddress reads ip:port, [ip]:port or a bare ip (the _WITHOUT_PORT
// operators); port is 0 when absent.
func parseAddress(s string) (netip.Addr, uint16, bool) {
	// Choose the parser first: a failed parse allocates its error.
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap.Addr().Unmap(), ap.Port(), true
		}
		return netip.Addr{}, 0, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), 0, true
	}
	return netip.Addr{}, 0, false
}
