package tests

import (
	"os"
	"path/filepath"
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
