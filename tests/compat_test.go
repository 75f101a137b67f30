package tests

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// TestCOMPATThroughTheBinary: the built collector evaluates resources
// annotated policy.istio.io/lang: COMPAT with COMPAT's semantics and the
// others with CEXL's, and with the istio_config extension's language option
// (Mixer's ISTIO_LANG) all of them as COMPAT. The resources are the runtime's
// fixture: a COMPAT rule and instance, and CEXL twins that fail on the
// principal Bookinfo reports do not carry.
func TestCOMPATThroughTheBinary(t *testing.T) {
	data, err := os.ReadFile("../internal/runtime/testdata/compat.yaml")
	require.NoError(t, err)
	start := func(args ...string) *mixerCollector {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "compat.yaml"), data, 0o600))
		return startMixerCollector(t, dir, "", collectorOptions{Args: args})
	}
	annotated := start()
	everything := start("--set=extensions::istio_config::language=COMPAT")

	bags := bookinfo.NewGenerator(bookinfo.Options{Seed: 3, Enriched: true}).Next() // one page load
	annotated.report(t, bags)
	everything.report(t, bags)
	// productpage → details is reported once inbound: the COMPAT rule
	// counts it once; under the option the two CEXL rules, now COMPAT,
	// count it for the twin instance once each.
	series := func(c *mixerCollector, metric string) func() float64 {
		return func() float64 { return counterValue(c.exposition(t), metric, `principal=""`) }
	}
	waitFor(t, 20*time.Second, "the COMPAT instance's series", func() bool {
		return series(annotated, "istio_compat_requests")() == 1 && series(everything, "istio_cexl_requests")() == 2
	})
	assert.Equal(t, float64(1), series(everything, "istio_compat_requests")())
	assert.NotContains(t, annotated.exposition(t), "istio_cexl_requests", "the CEXL twins fail on the absent principal")
}

// TestCELThroughTheBinary: the default config's request count and access
// log written in CEL's own syntax (the runtime's fixture cel.yaml) give, in
// the built collector, the istio_requests_total series and the access-log
// lines that the CEXL originals give in another.
func TestCELThroughTheBinary(t *testing.T) {
	start := func(src, name string) *mixerCollector {
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
		return startMixerCollector(t, dir, "")
	}
	cel := start("../internal/runtime/testdata/cel.yaml", "cel.yaml")
	cexl := start("../internal/istioconfig/profiles/istio-1.1.yaml", "istio-1.1.yaml")

	g := bookinfo.NewGenerator(bookinfo.Options{Seed: 5, Enriched: true, MTLS: true})
	var bags []bookinfo.Bag
	for range 4 {
		bags = append(bags, g.Next()...)
	}
	cel.report(t, bags)
	cexl.report(t, bags)

	requests := func(c *mixerCollector) []string {
		var out []string
		for _, l := range strings.Split(c.exposition(t), "\n") {
			if strings.HasPrefix(l, "istio_requests_total{") {
				out = append(out, l)
			}
		}
		slices.Sort(out)
		return out
	}
	accessLog := func(c *mixerCollector) []string {
		var out []string
		for _, l := range c.stdoutLines() {
			if strings.Contains(l, `"instance":"accesslog.logentry.istio-system"`) {
				out = append(out, l)
			}
		}
		slices.Sort(out)
		return out
	}
	waitFor(t, 20*time.Second, "both collectors' series and access-log lines", func() bool {
		return len(requests(cexl)) > 0 && len(accessLog(cexl)) == len(bags) &&
			len(requests(cel)) == len(requests(cexl)) && len(accessLog(cel)) == len(bags)
	})
	assert.Equal(t, requests(cexl), requests(cel))
	assert.Equal(t, accessLog(cexl), accessLog(cel))
}
