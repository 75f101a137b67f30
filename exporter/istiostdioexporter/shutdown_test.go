//go:build linux

package istiostdioexporter

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.uber.org/zap"
)

// blockingPipe returns a pipe whose write end is in blocking mode and
// outside Go's poller, as a container's stdout is for the collector.
func blockingPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var fds [2]int
	require.NoError(t, syscall.Pipe2(fds[:], syscall.O_CLOEXEC))
	r, w = os.NewFile(uintptr(fds[0]), "pipe"), os.NewFile(uintptr(fds[1]), "stdout")
	t.Cleanup(func() { _ = r.Close(); _ = w.Close() })
	require.False(t, nonBlocking(t, w))
	return r, w
}

// nonBlocking reads O_NONBLOCK of f's open file description (without
// f.Fd(), which would change it).
func nonBlocking(t *testing.T, f *os.File) bool {
	t.Helper()
	rc, err := f.SyscallConn()
	require.NoError(t, err)
	var flags int
	var ferr error
	require.NoError(t, rc.Control(func(fd uintptr) {
		flags, ferr = fcntlGetFlags(int(fd))
	}))
	require.NoError(t, ferr)
	return flags&syscall.O_NONBLOCK != 0
}

func fcntlGetFlags(fd int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// Shutdown writes out the queue to a stdout pipe that is read, and gives
// up on one that is not after shutdown_timeout, instead of waiting until
// the collector is killed. The pipe's descriptor keeps its blocking mode.
func TestShutdownStdoutPipe(t *testing.T) {
	// About 4 000 lines of some 230 bytes: many times what a pipe holds.
	const batches, perBatch = 400, 10
	tests := []struct {
		name  string
		read  bool
		grace time.Duration
	}{
		{name: "read", read: true, grace: 5 * time.Second},
		{name: "stalled", read: false, grace: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w := blockingPipe(t)
			cfg := createDefaultConfig().(*Config)
			cfg.ShutdownTimeout = tt.grace
			e := newStdioExporter(cfg, zap.NewNop())
			e.stdout = w
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
			set := exportertest.NewNopSettings(componentType)
			set.TelemetrySettings = tel.NewTelemetrySettings()
			exp, err := newLogsExporter(context.Background(), set, e)
			require.NoError(t, err)
			require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

			var got bytes.Buffer
			copied := make(chan struct{})
			readAll := func() { _, _ = io.Copy(&got, r); close(copied) }
			if tt.read {
				go readAll()
			}
			records := make([]record, perBatch)
			for i := range records {
				records[i] = newlog("info", i)
			}
			for range batches {
				require.NoError(t, exp.ConsumeLogs(context.Background(), buildLogs(stdioScope("h.stdio.istio-system", records...))))
			}

			done := make(chan error, 1)
			go func() { done <- exp.Shutdown(context.Background()) }()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Fatal("Shutdown still waits for the pipe after 30s")
			}
			assert.False(t, nonBlocking(t, w), "the descriptor keeps its blocking mode")

			// Shutdown closed its own description of the pipe; with the
			// test's closed too, the reader gets what the pipe holds.
			require.NoError(t, w.Close())
			if !tt.read {
				go readAll()
			}
			<-copied
			whole := bytes.Count(got.Bytes(), []byte("\n"))
			lines := bytes.SplitAfter(got.Bytes(), []byte("\n"))
			for _, l := range lines[:whole] {
				require.True(t, json.Valid(l), "a whole line: %q", l)
			}
			failed := sentFailed(t, tel)
			if tt.read {
				assert.Equal(t, batches*perBatch, whole, "every line written")
				assert.Empty(t, lines[whole], "ends with a whole line")
				assert.Zero(t, failed)
				return
			}
			assert.Positive(t, whole, "the pipe took some lines")
			assert.Less(t, whole, batches*perBatch, "the rest were given up")
			// The batch being written when the deadline passed may have
			// left whole lines and a cut one in the pipe, and counts as
			// failed whole.
			assert.GreaterOrEqual(t, whole+int(failed), batches*perBatch, "lines given up are counted")
			assert.Equal(t, failed, e.dropped.Load(), "the summary logged counts what exporterhelper counts")
			assert.LessOrEqual(t, whole+int(failed), batches*perBatch+perBatch)
		})
	}
}

// sentFailed is exporterhelper's count of log records it gave up on.
func sentFailed(t *testing.T, tel *componenttest.Telemetry) int64 {
	t.Helper()
	return logRecordsCounted(t, tel, "otelcol_exporter_send_failed_log_records")
}
