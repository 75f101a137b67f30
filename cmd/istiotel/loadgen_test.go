package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// slowMixer answers every Report after a delay, so that --duration ends
// while a request is in flight.
type slowMixer struct {
	mixerpb.UnimplementedMixerServer
	delay   time.Duration
	reports atomic.Int64
}

func (m *slowMixer) Report(_ context.Context, req *mixerpb.ReportRequest) (*mixerpb.ReportResponse, error) {
	time.Sleep(m.delay)
	m.reports.Add(int64(len(req.Attributes)))
	return &mixerpb.ReportResponse{}, nil
}

// serveMixer serves m's Report on a loopback port until the test ends and
// returns the address.
func serveMixer(t *testing.T, m mixerpb.MixerServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	mixerpb.RegisterMixerServer(srv, m)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// TestLoadgenDurationFinishesInFlight: the request in flight when
// --duration ends is delivered, not cancelled and counted as refused.
func TestLoadgenDurationFinishesInFlight(t *testing.T) {
	m := &slowMixer{delay: 300 * time.Millisecond}
	target := serveMixer(t, m)

	var stdout, stderr bytes.Buffer
	code := runLoadgen([]string{"--target", target, "--requests", "0", "--duration", "500ms",
		"--batch", "10", "--progress=false", "--start", "2020-07-01T10:00:00Z"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, " 0 reports refused") {
		t.Errorf("summary: %s", out)
	}
	// Every report the summary counts reached the server.
	var sent int64
	if i := strings.Index(out, " reports in "); i > 0 {
		fs := strings.Fields(out[:i])
		sent, _ = strconv.ParseInt(fs[len(fs)-1], 10, 64)
	}
	if sent == 0 || m.reports.Load() != sent {
		t.Errorf("server got %d reports, summary says %d: %s", m.reports.Load(), sent, out)
	}
}

// --duration without --requests runs for the duration, past the default of
// 100 page loads; with --requests as well, whichever ends first stops it.
func TestLoadgenDurationAlone(t *testing.T) {
	target := serveMixer(t, &slowMixer{})

	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		base := []string{"--target", target, "--progress=false", "--rate", "1000", "--start", "2020-07-01T10:00:00Z"}
		if code := runLoadgen(append(base, args...), &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	pageLoads := func(out string) int {
		t.Helper()
		var n int
		if _, err := fmt.Sscanf(out, "sent %d page loads", &n); err != nil {
			t.Fatalf("summary %q: %v", out, err)
		}
		return n
	}
	// Up to 1 000 page loads a second for 1.5 s: past the default of 100
	// even on a machine busy enough (the race detector, other tests) to send
	// only a tenth of that rate.
	if n := pageLoads(run("--duration", "1500ms")); n <= 100 {
		t.Errorf("--duration 1500ms alone sent %d page loads, not past the default of 100", n)
	}
	if n := pageLoads(run("--duration", "500ms", "--requests", "50")); n != 50 {
		t.Errorf("--duration 500ms --requests 50 sent %d page loads", n)
	}
}
