package als

import (
	"github.com/otelcol-istio/otelcol-istio/internal/envoycluster"
)

// direction says which side of the request the reporting proxy is on, from
// the cluster name, the route name and the node (envoy-sources.md §1b);
// "" when it cannot tell.
func (r *reporter) direction(upstreamCluster, route string, localIP ipOrNone) string {
	if d := envoycluster.Direction(upstreamCluster, route); d != "" {
		return d
	}
	switch {
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
