package istioconfigextension

import "github.com/otelcol-istio/otelcol-istio/internal/istioconfig"

// StdioParams returns the params of a stdio handler of the current snapshot;
// the istio_stdio exporter looks its handlers up with it.
func (e *configExtension) StdioParams(fqn string) (istioconfig.StdioParams, bool) {
	if s := e.Snapshot(); s != nil {
		if h := s.Handlers[fqn]; h != nil && h.Stdio != nil {
			return *h.Stdio, true
		}
	}
	return istioconfig.StdioParams{}, false
}
