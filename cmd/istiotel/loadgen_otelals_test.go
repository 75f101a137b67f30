package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/otelcol-istio/otelcol-istio/internal/accesslog"
)

// TestLoadgenOTelALS: records as Envoy's OpenTelemetry access logger sends
// them, one resource per proxy, each body a line of the format that names
// the proxy the record's labels name.
func TestLoadgenOTelALS(t *testing.T) {
	addr, sink := startOTLPSink(t)
	var stdout, stderr bytes.Buffer
	code := runLoadgen([]string{"--protocol", "otel-als", "--target", addr, "--requests", "3",
		"--tcp-every", "1", "--batch", "10", "--progress=false", "--start", "2020-07-01T10:00:00Z"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "0 reports refused") {
		t.Errorf("summary: %s", stdout.String())
	}

	format, err := accesslog.Preset("istio-1.24")
	if err != nil {
		t.Fatal(err)
	}
	parser := accesslog.NewParser(format)
	var e accesslog.Entry
	sink.mu.Lock()
	defer sink.mu.Unlock()
	records, tcp := 0, 0
	for i, ld := range sink.requests {
		if ld.LogRecordCount() > 10 {
			t.Errorf("request %d carries %d records; batches are of 10 reports", i, ld.LogRecordCount())
		}
		seen := map[string]bool{}
		for _, rl := range ld.ResourceLogs().All() {
			if rl.Resource().Attributes().Len() != 0 {
				t.Errorf("resource attributes %v; Istio turns Envoy's built-in labels off", rl.Resource().Attributes().AsRaw())
			}
			proxy := ""
			for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
				records++
				attrs := lr.Attributes().AsRaw()
				pod := attrs["k8s.namespace.name"].(string) + "/" + attrs["k8s.pod.name"].(string)
				if proxy != "" && pod != proxy {
					t.Errorf("request %d: records of %s and %s under one resource", i, proxy, pod)
				}
				proxy = pod
				body := lr.Body().Str()
				if !strings.HasSuffix(body, "\n") {
					t.Errorf("body %q does not end with a newline, as Envoy's TEXT lines do", body)
				}
				if err := parser.Parse(body, &e); err != nil {
					t.Errorf("body %q: %v", body, err)
				}
				if strings.Contains(body, `"- - -"`) {
					tcp++
				}
				if got := lr.Timestamp().AsTime().Format("2006-01-02T15:04"); got != "2020-07-01T10:00" {
					t.Errorf("timestamp %s, want the request's start", got)
				}
			}
			if seen[proxy] {
				t.Errorf("request %d: two resources for %s", i, proxy)
			}
			seen[proxy] = true
		}
	}
	// Three page loads: 3 or 4 calls each, two reports per call; and three
	// TCP connections, of which Envoy logs the close, on both sides.
	if records < 18+6 || records > 24+6 || tcp != 6 {
		t.Fatalf("%d records, %d of TCP connections, for 3 page loads", records, tcp)
	}
}
