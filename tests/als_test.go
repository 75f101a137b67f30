package tests

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// The same Bookinfo traffic through Envoy's Access Log Service and through
// Mixer reports, each into a collector running the embedded default
// telemetry config: the Prometheus series must be the same.

// alsLabelsThatDiffer are the labels the two paths legitimately disagree
// on, with what makes the ALS value the Mixer one.
// None today: principals lose their spiffe:// scheme in the mapper, as Istio
// 1.1's authn filter dropped it.
var alsLabelsThatDiffer = map[string]func(string) string{}

// alsComparedMetrics are the metric families compared (with a histogram's
// _bucket, _sum and _count).
var alsComparedMetrics = []string{
	"istio_requests_total",
	"istio_request_duration_seconds",
	"istio_request_bytes",
	"istio_response_bytes",
	"istio_tcp_sent_bytes_total",
	"istio_tcp_received_bytes_total",
	"istio_tcp_connections_opened_total",
	"istio_tcp_connections_closed_total",
}

func TestALSMatchesMixer(t *testing.T) {
	const pageLoads, seed, tcpEvery = 40, 9, 4
	httpReports, tcpReports, connections := alsExpectedTraffic(seed, pageLoads, tcpEvery)
	require.Positive(t, connections)

	viaALS := startEmbeddedCollector(t, "")
	viaMixer := startEmbeddedCollector(t, "")
	args := []string{"--requests", strconv.Itoa(pageLoads), "--seed", strconv.Itoa(seed), "--tcp-every", strconv.Itoa(tcpEvery)}
	out := loadgen(t, viaALS.Mixer, append(args, "--protocol", "als")...)
	require.Contains(t, out, fmt.Sprintf(": %d reports in ", httpReports+tcpReports), out)
	require.Contains(t, out, "; 0 reports refused", out)
	loadgen(t, viaMixer.Mixer, append(args, "--protocol", "mixer")...)

	// Both collectors have taken everything once every request and every
	// connection is counted (each report once per reporter).
	complete := func(s alsSeries) bool {
		return s.sum("istio_requests_total") == float64(httpReports) &&
			s.sum("istio_tcp_connections_opened_total") == float64(2*connections) &&
			s.sum("istio_tcp_connections_closed_total") == float64(2*connections)
	}
	var gotALS, gotMixer alsSeries
	waitFor(t, 30*time.Second, "both collectors to count every report", func() bool {
		gotALS = alsParseExposition(t, viaALS.exposition(t), alsLabelsThatDiffer)
		gotMixer = alsParseExposition(t, viaMixer.exposition(t), nil)
		return complete(gotALS) && complete(gotMixer)
	})
	for _, name := range alsComparedMetrics {
		assertSameFamily(t, name, gotMixer, gotALS)
	}
	// The server side's series are there, with its principals.
	assert.Contains(t, gotALS, alsKeyWith(gotALS, "istio_requests_total",
		`connection_security_policy="mutual_tls"`, `reporter="destination"`, `source_workload="istio-ingressgateway"`,
		`source_principal="cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"`,
		`destination_version="v1"`, `destination_workload="productpage-v1"`))

	// One accesslog line per HTTP report, one tcpaccesslog line per TCP one.
	waitFor(t, 10*time.Second, "an accesslog line per HTTP report", func() bool {
		return strings.Count(viaALS.Stdout.String(), `"instance":"accesslog.logentry.istio-system"`) == httpReports
	})
	assert.Equal(t, tcpReports, strings.Count(viaALS.Stdout.String(), `"instance":"tcpaccesslog.logentry.istio-system"`))

	t.Run("prometheus", func(t *testing.T) {
		prom := startPrometheus(t, promTarget(viaALS))
		waitFor(t, 30*time.Second, "Prometheus to count every HTTP report", func() bool {
			return prom.sum(t, "sum(istio_requests_total)") == float64(httpReports)
		})
		assert.Equal(t, float64(2*connections), prom.sum(t, "sum(istio_tcp_connections_closed_total)"))
		assert.Equal(t, float64(pageLoads), prom.sum(t, `sum(istio_requests_total{reporter="destination", destination_workload="productpage-v1"})`))
	})
}

// assertSameFamily checks that got has the series of want's family name,
// with the same values.
func assertSameFamily(t *testing.T, name string, want, got alsSeries) {
	t.Helper()
	w, g := want.family(name), got.family(name)
	require.NotEmpty(t, w, name)
	t.Logf("%s: %d series", name, len(w))
	assert.ElementsMatch(t, keysOf(w), keysOf(g), "%s: the same series", name)
	for k, wv := range w {
		if gv, ok := g[k]; ok {
			// Histogram sums add floats in arrival order, which differs.
			assert.InDelta(t, wv, gv, 1e-9*math.Max(1, math.Abs(wv)), "%s", k)
		}
	}
}

// alsExpectedTraffic counts what `istiotel loadgen --tcp-every` sends:
// HTTP reports, TCP reports and TCP connections.
func alsExpectedTraffic(seed uint64, pageLoads, tcpEvery int) (httpReports, tcpReports, connections int) {
	g := bookinfo.NewGenerator(bookinfo.Options{Seed: seed, Enriched: true, MTLS: true})
	for i := 1; i <= pageLoads; i++ {
		httpReports += len(g.Next())
		if i%tcpEvery == 0 {
			tcpReports += len(g.TCPConnection())
			connections++
		}
	}
	return httpReports, tcpReports, connections
}

// alsSeries maps series (name and sorted labels) to values.
type alsSeries map[string]float64

// family returns the series of a metric family.
func (s alsSeries) family(name string) alsSeries {
	out := alsSeries{}
	for k, v := range s {
		n, _, _ := strings.Cut(k, "{")
		if n == name || n == name+"_bucket" || n == name+"_sum" || n == name+"_count" {
			out[k] = v
		}
	}
	return out
}

func (s alsSeries) sum(name string) float64 {
	total := 0.0
	for k, v := range s {
		if n, _, _ := strings.Cut(k, "{"); n == name {
			total += v
		}
	}
	return total
}

func keysOf(s alsSeries) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	return out
}

// alsKeyWith returns the first series of a family that has all the labels.
func alsKeyWith(s alsSeries, name string, labels ...string) string {
	keys := keysOf(s.family(name))
	slices.Sort(keys)
	for _, k := range keys {
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(k, l)
		}
		if ok {
			return k
		}
	}
	return "no " + name + " series with " + strings.Join(labels, ",")
}

// alsParseExposition reads the samples of a Prometheus text exposition,
// rewriting the values of the labels in rewrite.
func alsParseExposition(t *testing.T, text string, rewrite map[string]func(string) string) alsSeries {
	t.Helper()
	out := alsSeries{}
	for line := range strings.SplitSeq(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels, rest, err := alsParseSample(line)
		require.NoError(t, err, line)
		for i := range labels {
			if f := rewrite[labels[i][0]]; f != nil {
				labels[i][1] = f(labels[i][1])
			}
		}
		slices.SortFunc(labels, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		var b strings.Builder
		b.WriteString(name + "{")
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l[0] + "=" + strconv.Quote(l[1]))
		}
		b.WriteByte('}')
		fields := strings.Fields(rest)
		require.NotEmpty(t, fields, line)
		v, err := strconv.ParseFloat(fields[0], 64)
		require.NoError(t, err, line)
		require.NotContains(t, out, b.String(), "series twice")
		out[b.String()] = v
	}
	return out
}

// alsParseSample splits `name{a="x",b="y"} value` into its parts.
func alsParseSample(line string) (name string, labels [][2]string, rest string, err error) {
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return "", nil, "", fmt.Errorf("no value")
	}
	name, line = line[:i], line[i:]
	if line[0] != '{' {
		return name, nil, line, nil
	}
	line = line[1:]
	for {
		line = strings.TrimLeft(line, ", ")
		if strings.HasPrefix(line, "}") {
			return name, labels, line[1:], nil
		}
		k, v, ok := strings.Cut(line, `="`)
		if !ok {
			return "", nil, "", fmt.Errorf("label without a quoted value")
		}
		var val strings.Builder
		j := 0
		for ; j < len(v) && v[j] != '"'; j++ {
			if v[j] == '\\' && j+1 < len(v) {
				j++
				if v[j] == 'n' {
					val.WriteByte('\n')
					continue
				}
			}
			val.WriteByte(v[j])
		}
		if j == len(v) {
			return "", nil, "", fmt.Errorf("unterminated label value")
		}
		labels = append(labels, [2]string{k, val.String()})
		line = v[j+1:]
	}
}

// TestALSv2: ALS v2, as the Envoys of Istio 1.3 to 1.8 streamed it, into
// the embedded default: every HTTP request once per reporter, every TCP
// connection's close on both sides, the reporting workloads from the node
// metadata; the peers' workloads, which those Envoys did not log, are
// unknown.
func TestALSv2(t *testing.T) {
	const pageLoads, seed, tcpEvery = 20, 9, 4
	httpReports, _, connections := alsExpectedTraffic(seed, pageLoads, tcpEvery)
	c := startEmbeddedCollector(t, "")
	out := loadgen(t, c.Mixer, "--protocol", "als-v2", "--requests", strconv.Itoa(pageLoads), "--seed", strconv.Itoa(seed),
		"--tcp-every", strconv.Itoa(tcpEvery))
	require.Contains(t, out, "; 0 reports refused", out)
	var got alsSeries
	waitFor(t, 30*time.Second, "every request and every connection's close", func() bool {
		got = alsParseExposition(t, c.exposition(t), nil)
		return got.sum("istio_requests_total") == float64(httpReports) &&
			got.sum("istio_tcp_connections_closed_total") == float64(2*connections)
	})
	assert.Zero(t, got.sum("istio_tcp_connections_opened_total"), "v2 logs a connection when it closes")
	productpage := 0.0
	for k, v := range got.family("istio_requests_total") {
		if strings.Contains(k, `reporter="destination"`) && strings.Contains(k, `destination_workload="productpage-v1"`) {
			assert.Contains(t, k, `source_workload="unknown"`)
			productpage += v
		}
	}
	assert.Equal(t, float64(pageLoads), productpage, "productpage's requests, reported by productpage-v1")
	waitFor(t, 10*time.Second, "an accesslog line per HTTP report", func() bool {
		return strings.Count(c.Stdout.String(), `"instance":"accesslog.logentry.istio-system"`) == httpReports
	})
}
