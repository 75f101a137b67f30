// Package istioconfig is the Istio config model of otelcol-istio: decoding of
// config.istio.io/v1alpha2 resources, name resolution, validation against the
// attribute vocabulary, and the sources the resources come from.
package istioconfig // import "github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
