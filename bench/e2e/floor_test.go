package main

import (
	"net"
	"net/http/httptest"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// The floor server answers a real client's Reports over loopback and
// counts their reports, which its metrics page then shows.
func TestFloorServesReports(t *testing.T) {
	f := newFloor()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := f.server()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := mixerpb.NewMixerClient(conn)
	for _, n := range []int{3, 0, 100} {
		req := &mixerpb.ReportRequest{DefaultWords: []string{"a", "b"}, GlobalWordCount: 221}
		for range n {
			req.Attributes = append(req.Attributes, &mixerpb.CompressedAttributes{Strings: map[int32]int32{-1: -2}})
		}
		if _, err := client.Report(t.Context(), req); err != nil {
			t.Fatalf("Report of %d: %v", n, err)
		}
	}

	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	e, err := parseExposition(rec.Body.String())
	if err != nil {
		t.Fatal(err)
	}
	if total, _ := e.sum(floorReportsMetric); total != 103 {
		t.Errorf("%s = %v, want 103\n%s", floorReportsMetric, total, rec.Body)
	}
}

func TestCountReports(t *testing.T) {
	elem := func(n int) []byte {
		req := &mixerpb.ReportRequest{GlobalWordCount: 222, DefaultWords: []string{"x"}}
		for range n {
			req.Attributes = append(req.Attributes, &mixerpb.CompressedAttributes{Int64S: map[int32]int64{-3: 7}})
		}
		b, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		in      []byte
		want    int
		wantErr bool
	}{
		{"empty", nil, 0, false},
		{"one", elem(1), 1, false},
		{"many", elem(57), 57, false},
		{"truncated", elem(2)[:5], 0, true},
		{"bad tag", []byte{0x80}, 0, true},
		// Field 1 as a varint is not a report.
		{"wrong wire type", protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 5), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := countReports(tc.in)
			if (err != nil) != tc.wantErr || (err == nil && n != tc.want) {
				t.Errorf("countReports = %d, %v; want %d, error %v", n, err, tc.want, tc.wantErr)
			}
		})
	}
}

// Whatever protobuf-go reads as a ReportRequest, countReports reads too,
// with one report per element; nothing makes it panic.
func FuzzCountReports(f *testing.F) {
	for _, n := range []int{0, 1, 3} {
		req := &mixerpb.ReportRequest{DefaultWords: []string{"w"}, GlobalWordCount: 221}
		for range n {
			req.Attributes = append(req.Attributes, &mixerpb.CompressedAttributes{Strings: map[int32]int32{-1: 5}})
		}
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := countReports(b)
		var req mixerpb.ReportRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		if err != nil || n != len(req.Attributes) {
			t.Fatalf("countReports = %d, %v; protobuf-go read %d reports", n, err, len(req.Attributes))
		}
	})
}

// Only variants fed Mixer Reports are set against the floor, and only when
// it was measured.
func TestAboveFloor(t *testing.T) {
	var vs []variant
	for _, n := range []string{"default", "none", "als", "otlp-prom", "grpc-floor", "peer"} {
		v, err := lookupVariant(n)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	medians := map[string]float64{"default": 15.5, "none": 8.25, "als": 16, "otlp-prom": 18, "grpc-floor": 2, "peer": 40}
	got := aboveFloor(vs, medians)
	want := []string{
		"default: 13.5 CPU-µs per report over the bare gRPC server's 2.0",
		"none: 6.2 CPU-µs per report over the bare gRPC server's 2.0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("aboveFloor = %q, want %q", got, want)
	}
	delete(medians, "grpc-floor")
	if got := aboveFloor(vs, medians); got != nil {
		t.Errorf("without the floor: %q", got)
	}
}
