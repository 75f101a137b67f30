package accesslog

import (
	"net/netip"
	"strings"
)

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
