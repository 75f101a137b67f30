package istiorulesconnector

import (
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// labelKey joins the values of the named labels; with no names, every label.
func labelKey(attrs pcommon.Map, names []string) string {
	if len(names) == 0 {
		for k := range attrs.All() {
			names = append(names, k)
		}
		sort.Strings(names)
	}
	vals := make([]string, len(names))
	for i, n := range names {
		if v, ok := attrs.Get(n); ok {
			vals[i] = v.Str()
		}
	}
	return strings.Join(vals, ",")
}

func replaceAll(s, old, repl string) string { return strings.ReplaceAll(s, old, repl) }

func forEachMetric(md pmetric.Metrics, fn func(pmetric.Metric)) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				fn(ms.At(k))
			}
		}
	}
}
