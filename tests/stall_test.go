package tests

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gate passes writes on while open and holds them while shut, as a
// container runtime that stops reading a container's stdout does: the
// pipe fills and the collector's writes block.
type gate struct {
	mu   sync.Mutex
	cond *sync.Cond
	shut bool
	next io.Writer
}

func newGate(next io.Writer, shut bool) *gate {
	g := &gate{shut: shut, next: next}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	for g.shut {
		g.cond.Wait()
	}
	g.mu.Unlock()
	return g.next.Write(p)
}

func (g *gate) open() {
	g.mu.Lock()
	g.shut = false
	g.mu.Unlock()
	g.cond.Broadcast()
}

var sentRE = regexp.MustCompile(`: (\d+) reports in \d+ \w+.*; (\d+) reports refused`)

// sentAndRefused reads loadgen's summary: the reports it sent and how many
// of them the collector refused.
func sentAndRefused(t *testing.T, out string) (sent, refused int) {
	t.Helper()
	m := sentRE.FindStringSubmatch(out)
	require.NotNil(t, m, "loadgen's summary: %s", out)
	sent, _ = strconv.Atoi(m[1])
	refused, _ = strconv.Atoi(m[2])
	return sent, refused
}

// A stdout that nobody reads (the container runtime stalled) fills the
// pipe, then the istio_stdio queue, which is bounded in lines. From then
// on the accesslog lines are lost and counted, while every report is still
// accepted and counted in the metrics, over Mixer Reports and over Envoy
// ALS streams alike. When stdout is read again the queued lines come out,
// and only the counted ones are missing.
func TestStalledStdoutKeepsMetrics(t *testing.T) {
	var stdout *gate
	m := startEmbeddedCollectorWith(t, "", collectorOptions{
		WrapStdout: func(w io.Writer) io.Writer { stdout = newGate(w, true); return stdout },
	})
	c, mixer := m.collector, m.Mixer
	// Before the collector is stopped, whatever the test's outcome: it
	// drains its queue to stdout on the way out.
	t.Cleanup(stdout.open)
	metrics, self := m.Metrics, "http://"+c.Telemetry+"/metrics"

	// More reports than the queue's 20 000 lines and the pipe hold, one
	// accesslog line each.
	sent, refused := sentAndRefused(t, loadgen(t, mixer, "--requests", "3500"))
	require.Greater(t, sent, 21_000)
	assert.Zero(t, refused, "Reports are accepted while stdout is stalled")
	alsSent, alsRefused := sentAndRefused(t, loadgen(t, mixer, "--protocol", "als", "--requests", "300", "--seed", "2"))
	assert.Zero(t, alsRefused, "ALS streams stay open while stdout is stalled")
	sent += alsSent

	waitFor(t, 20*time.Second, "every report counted in istio_requests_total", func() bool {
		return counterValue(httpBody(metrics), "istio_requests_total") == float64(sent)
	})
	tel := httpBody(self)
	lost := counterValue(tel, "otelcol_istio_rules_records_refused")
	assert.Positive(t, lost, "lines were lost")
	assert.Equal(t, lost, counterValue(tel, "otelcol_exporter_enqueue_failed_log_records", `exporter="istio_stdio"`),
		"the connector counts what the exporter's full queue refused")
	assert.Equal(t, 20_000.0, counterValue(tel, "otelcol_exporter_queue_size", `exporter="istio_stdio"`), "the queue is full, at its bound")
	assert.Zero(t, counterValue(tel, "otelcol_receiver_refused_log_records"), "the receiver refused nothing")
	assert.True(t, strings.Contains(c.Stderr.String(), "the logs pipeline refused instance records"), "the loss is logged")

	// Read again: everything queued comes out, and new reports' lines follow.
	stdout.open()
	more, _ := sentAndRefused(t, loadgen(t, mixer, "--requests", "20", "--seed", "3"))
	want := sent + more - int(lost)
	lines := func() int { return strings.Count(c.Stdout.String(), "\n") }
	waitFor(t, 30*time.Second, fmt.Sprintf("%d accesslog lines", want), func() bool { return lines() >= want })
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, want, lines(), "the lines written are those sent less those counted as lost")
	assert.Equal(t, lost, counterValue(httpBody(self), "otelcol_istio_rules_records_refused"), "nothing lost once stdout is read")
}

// Bag records relayed over OTLP come in whatever batches their sender
// makes. One larger than the istio_stdio queue used to be refused whole,
// even by an empty queue; now it is queued in parts, which wait for room
// with block_on_overflow, and every line comes out.
func TestBatchLargerThanStdioQueue(t *testing.T) {
	otlp := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	m := startEmbeddedCollectorWith(t, "", collectorOptions{Args: []string{
		"--set=receivers.otlp.protocols.grpc.endpoint=" + otlp,
		// A batch of 5 000 bag records is about 10 MB.
		"--set=receivers.otlp.protocols.grpc.max_recv_msg_size_mib=64",
		"--set=service.pipelines.logs/bags.receivers=[mixer,otlp]",
		"--set=exporters.istio_stdio.sending_queue.queue_size=3000",
		"--set=exporters.istio_stdio.sending_queue.block_on_overflow=true",
	}})
	c := m.collector

	sent, refused := sentAndRefused(t, loadgen(t, otlp, "--protocol", "otlp", "--batch", "5000", "--requests", "700"))
	require.Greater(t, sent, 5_000, "one batch of 5 000 reports, more than the queue holds")
	assert.Zero(t, refused)

	lines := func() int {
		return strings.Count(c.Stdout.String(), `"instance":"accesslog.logentry.istio-system"`)
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("%d accesslog lines", sent), func() bool { return lines() >= sent })
	assert.Equal(t, sent, lines(), "one accesslog line per report")
	waitFor(t, 20*time.Second, "every report counted in istio_requests_total", func() bool {
		return counterValue(httpBody(m.Metrics), "istio_requests_total") == float64(sent)
	})
	tel := httpBody("http://" + c.Telemetry + "/metrics")
	assert.Zero(t, counterValue(tel, "otelcol_istio_rules_records_refused"))
	assert.Zero(t, counterValue(tel, "otelcol_exporter_enqueue_failed_log_records", `exporter="istio_stdio"`))
}
