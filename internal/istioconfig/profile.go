package istioconfig

import (
	"embed"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Embedded profiles: complete configurations shipped in the binary, so a
// collector on a laptop works without any file. Add a profile by adding its
// YAML under profiles/ and a line to profiles.
//
//go:embed profiles/*.yaml
var profileFS embed.FS

var profiles = map[string]string{
	// Istio 1.1.17's default telemetry (metrics, access logs, kubernetesenv).
	"istio-1.1": "profiles/istio-1.1.yaml",
	// Telemetry v2's standard metrics (istio_request_duration_milliseconds,
	// canonical service labels, Envoy's buckets) from the same attributes,
	// for Kiali and current dashboards. An alternative to istio-1.1, not an
	// addition: both define istio_requests_total.
	"istio-telemetry-v2": "profiles/istio-telemetry-v2.yaml",
}

// ProfileNames lists the embedded profiles, sorted.
func ProfileNames() []string { return slices.Sorted(maps.Keys(profiles)) }

// Profile returns the YAML of an embedded profile.
func Profile(name string) ([]byte, error) {
	p, ok := profiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown embedded profile %q (known: %s)", name, strings.Join(ProfileNames(), ", "))
	}
	return profileFS.ReadFile(p)
}
