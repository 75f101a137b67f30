package tests

import (
	"context"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SIGTERM while the proxies are sending: the collector stops taking
// Reports and exits cleanly, and every report it accepted before that has
// its accesslog line on stdout.
func TestShutdownUnderLoad(t *testing.T) {
	m := startEmbeddedCollector(t, "")
	c := m.collector

	// loadgen exits non-zero once reports are refused: its summary is
	// what counts.
	done := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _ := exec.CommandContext(ctx, istiotelBin, "loadgen", "--target", m.Mixer, "--progress=false",
			"--start", "2020-07-01T10:00:00Z", "--duration", "10s").CombinedOutput()
		done <- string(out)
	}()
	waitFor(t, 20*time.Second, "reports flowing", func() bool {
		return counterValue(httpBody(m.Metrics), "istio_requests_total") > 5000
	})
	c.terminate(30 * time.Second)
	<-c.done
	require.NoError(t, c.err, "exit status")

	out := <-done
	sent, refused := sentAndRefused(t, out)
	require.Positive(t, refused, "loadgen outlived the collector: %s", out)
	assert.Contains(t, out, "connection refused", "the later reports found no collector")
	accepted := sent - refused
	assert.Equal(t, accepted, strings.Count(c.Stdout.String(), "\n"), "one accesslog line per report accepted")
}

// A stdout that stays stalled does not hold shutdown: istio_stdio gives the
// queued lines its shutdown_timeout (5 s by default), then drops the rest
// and says so, and the collector exits cleanly.
func TestStalledStdoutShutdown(t *testing.T) {
	var stdout *gate
	m := startEmbeddedCollectorWith(t, "", collectorOptions{
		WrapStdout: func(w io.Writer) io.Writer { stdout = newGate(w, true); return stdout },
	})
	c := m.collector
	t.Cleanup(stdout.open)

	// Far more accesslog lines than the pipe holds.
	sent, refused := sentAndRefused(t, loadgen(t, m.Mixer, "--requests", "300"))
	require.Zero(t, refused)
	waitFor(t, 20*time.Second, "every report counted", func() bool {
		return counterValue(httpBody(m.Metrics), "istio_requests_total") == float64(sent)
	})
	queued := counterValue(httpBody("http://"+c.Telemetry+"/metrics"), "otelcol_exporter_queue_size", `exporter="istio_stdio"`)
	require.Positive(t, queued, "lines wait in the queue")

	c.terminate(30 * time.Second)
	stdout.open()
	<-c.done
	require.NoError(t, c.err, "exit status")
	lines := strings.Count(c.Stdout.String(), "\n")
	d := droppedRE.FindStringSubmatch(c.Stderr.String())
	require.NotNil(t, d, "the lines dropped are logged\n%s", c.Stderr)
	dropped, _ := strconv.Atoi(d[1])
	assert.Less(t, lines, sent, "stdout did not take every line")
	// The batch being written when the time ran out may have put some of
	// its lines out and still counts as dropped whole: at most 100.
	assert.GreaterOrEqual(t, lines+dropped, sent, "every line is written or dropped")
	assert.LessOrEqual(t, lines+dropped, sent+100)
	assert.Equal(t, 1, strings.Count(c.Stderr.String(), "shutdown_timeout passed with lines still queued"), "said once, when")
}

var droppedRE = regexp.MustCompile(`lines dropped at shutdown: .*"lines": (\d+)`)
