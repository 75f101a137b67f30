package istioconfig

import "strings"

// This file adds behaviour to the param types of params.go: the names and
// bucket bounds Mixer's prometheus adapter derived from them (§e).

// SanitizeName is the adapter's sanitising of metric and label names: strip
// one leading "/", turn "/", "." and " " into "_", delete "-".
func SanitizeName(n string) string {
	return nameReplacer.Replace(strings.TrimPrefix(n, "/"))
}

func safeName(n string) string { return SanitizeName(n) }

var nameReplacer = strings.NewReplacer("/", "_", ".", "_", " ", "_", "-", "")

// PrometheusName is the exported metric name: namespace (default "istio")
// and name (default the instance name), sanitised and joined with "_". No
// "_total" is appended.
func (m *MetricInfo) PrometheusName() string {
	ns := "istio"
	if m.Namespace != "" {
		ns = safeName(m.Namespace)
	}
	name := m.Name
	if name == "" {
		name = m.InstanceName
	}
	name = safeName(name)
	switch {
	case ns == "":
		return name
	case name == "":
		return ns
	}
	return ns + "_" + name
}

// Help is the HELP text: the description, else the unsanitised name.
func (m *MetricInfo) Help() string {
	switch {
	case m.Description != "":
		return m.Description
	case m.Name != "":
		return m.Name
	}
	return m.InstanceName
}

// SanitizedLabelNames returns the label names as exported. Dimension keys
// are not sanitised, so they must already be in this form.
func (m *MetricInfo) SanitizedLabelNames() []string {
	out := make([]string, len(m.LabelNames))
	for i, l := range m.LabelNames {
		out[i] = safeName(l)
	}
	return out
}

// DefaultBuckets are the Prometheus client's default histogram bounds.
var DefaultBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Bounds returns the finite bucket bounds, computed in float64 exactly as the
// Prometheus client's LinearBuckets and ExponentialBuckets do (float error
// included: it shows in the "le" labels). A nil definition gives the
// default buckets.
func (b *BucketsDefinition) Bounds() []float64 {
	switch {
	case b == nil:
		return append([]float64(nil), DefaultBuckets...)
	case b.Linear != nil:
		n := int(b.Linear.NumFiniteBuckets) + 1
		out := make([]float64, n)
		start := b.Linear.Offset
		for i := range out {
			out[i] = start
			start += b.Linear.Width
		}
		return out
	case b.Exponential != nil:
		n := int(b.Exponential.NumFiniteBuckets) + 1
		out := make([]float64, n)
		start := b.Exponential.Scale
		for i := range out {
			out[i] = start
			start *= b.Exponential.GrowthFactor
		}
		return out
	case b.Explicit != nil:
		return append([]float64(nil), b.Explicit.Bounds...)
	}
	return append([]float64(nil), DefaultBuckets...)
}
