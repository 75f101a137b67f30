package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"

	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
)

// otlpSink is an OTLP logs server that keeps what it receives.
type otlpSink struct {
	plogotlp.UnimplementedGRPCServer
	mu       sync.Mutex
	requests []plog.Logs
}

func (s *otlpSink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ld := plog.NewLogs()
	req.Logs().CopyTo(ld)
	s.requests = append(s.requests, ld)
	return plogotlp.NewExportResponse(), nil
}

// startOTLPSink serves an otlpSink on a free loopback port until the test
// ends.
func startOTLPSink(t *testing.T) (string, *otlpSink) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	sink := &otlpSink{}
	plogotlp.RegisterGRPCServer(srv, sink)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), sink
}

func TestLoadgenOTLP(t *testing.T) {
	addr, sink := startOTLPSink(t)
	var stdout, stderr bytes.Buffer
	code := runLoadgen([]string{"--protocol", "otlp", "--target", addr, "--requests", "3",
		"--batch", "10", "--progress=false", "--start", "2020-07-01T10:00:00Z"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "0 reports refused") {
		t.Errorf("summary: %s", stdout.String())
	}

	sink.mu.Lock()
	defer sink.mu.Unlock()
	records := 0
	for i, ld := range sink.requests {
		n := ld.LogRecordCount()
		if n > 10 || (n < 10 && i != len(sink.requests)-1) {
			t.Errorf("request %d carries %d records; batches are of 10", i, n)
		}
		records += n
	}
	// Three page loads: 3 or 4 calls each, two reports per call.
	if records < 18 || records > 24 {
		t.Fatalf("%d records for 3 page loads", records)
	}
	lr := sink.requests[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	if !bagrecord.IsBag(lr) {
		t.Errorf("event name %q, want a bag record", lr.EventName())
	}
	if got := lr.Timestamp().AsTime().Format("2006-01-02T15:04"); got != "2020-07-01T10:00" {
		t.Errorf("timestamp %s, want the request time", got)
	}
	attrs := lr.Attributes()
	for name, typ := range map[string]pcommon.ValueType{
		"context.protocol":  pcommon.ValueTypeStr,
		"response.code":     pcommon.ValueTypeInt,
		"request.time":      pcommon.ValueTypeInt,
		"response.duration": pcommon.ValueTypeInt,
		"destination.ip":    pcommon.ValueTypeBytes,
		"request.headers":   pcommon.ValueTypeMap,
		"connection.mtls":   pcommon.ValueTypeBool,
	} {
		if v, ok := attrs.Get(name); !ok || v.Type() != typ {
			t.Errorf("attribute %s: %v (present %v), want %v", name, v.Type(), ok, typ)
		}
	}
}
