package als

import (
	"strings"

	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
)

// responseFlags renders the flags as Envoy's %RESPONSE_FLAGS% does: short
// codes in Envoy's order joined by ",", "-" when none is set. That string is
// what Mixer's context.proxy_error_code carried.
func responseFlags(f *alsdata.ResponseFlags) string {
	if f == nil {
		return "-"
	}
	set := [...]struct {
		on   bool
		code string
	}{
		{f.GetFailedLocalHealthcheck(), "LH"},
		{f.GetNoHealthyUpstream(), "UH"},
		{f.GetUpstreamRequestTimeout(), "UT"},
		{f.GetLocalReset(), "LR"},
		{f.GetUpstreamRemoteReset(), "UR"},
		{f.GetUpstreamConnectionFailure(), "UF"},
		{f.GetUpstreamConnectionTermination(), "UC"},
		{f.GetUpstreamOverflow(), "UO"},
		{f.GetNoRouteFound(), "NR"},
		{f.GetDelayInjected(), "DI"},
		{f.GetFaultInjected(), "FI"},
		{f.GetRateLimited(), "RL"},
		{f.GetUnauthorizedDetails() != nil, "UAEX"},
		{f.GetRateLimitServiceError(), "RLSE"},
		{f.GetDownstreamConnectionTermination(), "DC"},
		{f.GetUpstreamRetryLimitExceeded(), "URX"},
		{f.GetStreamIdleTimeout(), "SI"},
		{f.GetInvalidEnvoyRequestHeaders(), "IH"},
		{f.GetDownstreamProtocolError(), "DPE"},
		{f.GetUpstreamMaxStreamDurationReached(), "UMSDR"},
		{f.GetResponseFromCacheFilter(), "RFCF"},
		{f.GetNoFilterConfigFound(), "NFCF"},
		{f.GetDurationTimeout(), "DT"},
		{f.GetUpstreamProtocolError(), "UPE"},
		{f.GetNoClusterFound(), "NC"},
		{f.GetOverloadManager(), "OM"},
		{f.GetDnsResolutionFailure(), "DF"},
		{f.GetDownstreamRemoteReset(), "DR"},
	}
	var b strings.Builder
	one := ""
	n := 0
	for _, s := range set {
		if !s.on {
			continue
		}
		n++
		if n == 1 {
			one = s.code
			continue
		}
		if n == 2 {
			b.WriteString(one)
		}
		b.WriteByte(',')
		b.WriteString(s.code)
	}
	switch n {
	case 0:
		return "-"
	case 1:
		return one // no allocation for the common single flag
	}
	return b.String()
}
