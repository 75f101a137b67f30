package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	alsdata "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otelcol-istio/otelcol-istio/internal/als"
)

// alsRecorder is an ALS server that maps what it gets, like the mixer
// receiver, and remembers how each stream went.
type alsRecorder struct {
	alsv3.UnimplementedAccessLogServiceServer
	mu      sync.Mutex
	streams []*recordedStream
	records int
	// refuseAfter closes a stream with Unavailable after that many
	// messages, once (0: never).
	refuseAfter int
	// v3Only counts the entries that have a field ALS v2 did not have,
	// or peer metadata; tcp the records of TCP entries.
	v3Only, tcp int
}

type recordedStream struct {
	node, logName string
	messages      int
	identifiers   []int // indexes of the messages that had one
	ended         bool  // the client half-closed it
}

func (r *alsRecorder) StreamAccessLogs(stream alsv3.AccessLogService_StreamAccessLogsServer) error {
	rs := &recordedStream{}
	r.mu.Lock()
	r.streams = append(r.streams, rs)
	r.mu.Unlock()
	m := als.NewMapper()
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			r.mu.Lock()
			rs.ended = true
			r.mu.Unlock()
			return stream.SendAndClose(&alsv3.StreamAccessLogsResponse{})
		}
		if err != nil {
			return err
		}
		out := plog.NewLogRecordSlice()
		n := m.Map(msg, out, time.Now())
		r.mu.Lock()
		if id := msg.GetIdentifier(); id != nil {
			rs.identifiers = append(rs.identifiers, rs.messages)
			rs.node, rs.logName = id.GetNode().GetId(), id.GetLogName()
		}
		rs.messages++
		r.records += n
		r.v3Only += v3OnlyEntries(msg)
		if msg.GetTcpLogs() != nil {
			r.tcp += n
		}
		refuse := r.refuseAfter > 0 && rs.messages == r.refuseAfter
		if refuse {
			r.refuseAfter = 0
			r.records -= n // the pipeline did not take them
		}
		r.mu.Unlock()
		if refuse {
			return status.Error(codes.Unavailable, "pipeline full")
		}
	}
}

// v3OnlyEntries counts msg's entries with a field that ALS v2 did not
// have, or peer metadata.
func v3OnlyEntries(msg *alsv3.StreamAccessLogsMessage) int {
	var commons []*alsdata.AccessLogCommon
	for _, e := range msg.GetHttpLogs().GetLogEntry() {
		commons = append(commons, e.GetCommonProperties())
	}
	for _, e := range msg.GetTcpLogs().GetLogEntry() {
		commons = append(commons, e.GetCommonProperties())
	}
	n := 0
	for _, c := range commons {
		if c.GetDuration() != nil || c.GetAccessLogType() != alsdata.AccessLogType_NotSet || c.GetStreamId() != "" ||
			c.GetDownstreamWireBytesSent() != 0 || c.GetDownstreamWireBytesReceived() != 0 || len(c.GetFilterStateObjects()) > 0 {
			n++
		}
	}
	return n
}

func startALSRecorder(t *testing.T, r *alsRecorder) string {
	t.Helper()
	return startALSRecorderOn(t, r, &alsv3.AccessLogService_ServiceDesc)
}

// startALSRecorderOn serves r as the service of desc (ALS v3's, or v2's).
func startALSRecorderOn(t *testing.T, r *alsRecorder, desc *grpc.ServiceDesc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	srv.RegisterService(desc, r)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

// runALSLoadgen sends 20 page loads and 4 TCP connections over protocol to
// addr, requires them all taken, and returns loadgen's summary.
func runALSLoadgen(t *testing.T, protocol, addr string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runLoadgen([]string{"--protocol", protocol, "--target", addr, "--requests", "20", "--tcp-every", "5",
		"--batch", "30", "--progress=false", "--start", "2020-07-01T10:00:00Z"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	assert.Contains(t, stdout.String(), "sent 20 page loads (4 TCP connections)")
	assert.Contains(t, stdout.String(), "; 0 reports refused")
	return stdout.String()
}

// Every report arrives, one stream per workload and logger, the identifier
// in each stream's first message only, and every stream closed at the end.
func TestLoadgenALS(t *testing.T) {
	r := &alsRecorder{}
	stdout := runALSLoadgen(t, "als", startALSRecorder(t, r))

	// The summary counts the reports; every one of them became a record.
	m := reportsSent.FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	r.mu.Lock()
	defer r.mu.Unlock()
	assert.Equal(t, m[1], strconv.Itoa(r.records))

	nodes := map[string]bool{}
	tcp := 0
	for _, s := range r.streams {
		assert.Equal(t, []int{0}, s.identifiers, "stream of %s", s.node)
		assert.True(t, s.ended, "stream of %s was not closed", s.node)
		key := s.node + " " + s.logName
		assert.False(t, nodes[key], "two streams for %s", key)
		nodes[key] = true
		if s.logName == als.TCPLogName {
			tcp++
		}
	}
	assert.Len(t, r.streams, 9, "gateway, productpage, details, 3 reviews, ratings; ratings-v2 and mongodb over TCP")
	assert.Equal(t, 2, tcp)
}

// ALS v2: the v2 service, entries with v2's fields only, and a TCP
// connection once per side, when it closes.
func TestLoadgenALSv2(t *testing.T) {
	r := &alsRecorder{}
	v2 := alsv3.AccessLogService_ServiceDesc
	v2.ServiceName = "envoy.service.accesslog.v2.AccessLogService"
	runALSLoadgen(t, "als-v2", startALSRecorderOn(t, r, &v2))

	// The same traffic on v3: its HTTP entries, and its TCP connections'
	// open and periodic entries besides the closes.
	r3 := &alsRecorder{}
	runALSLoadgen(t, "als", startALSRecorder(t, r3))
	r.mu.Lock()
	defer r.mu.Unlock()
	r3.mu.Lock()
	defer r3.mu.Unlock()
	tcpV3 := 0
	for _, s := range r3.streams {
		if s.logName == als.TCPLogName {
			tcpV3++
		}
	}
	require.Equal(t, 2, tcpV3)
	assert.Zero(t, r.v3Only, "entries with fields v2 did not have")
	assert.Positive(t, r3.v3Only)
	assert.Equal(t, r3.records-r3.tcp, r.records-r.tcp, "the same HTTP entries")
	assert.Equal(t, 2*4, r.tcp, "one entry per side and connection, when it closes")
	assert.Greater(t, r3.tcp, r.tcp)
}

// A stream the collector closes: the next message's entries count as
// refused and a new stream, identifier first, takes over.
func TestLoadgenALSRefused(t *testing.T) {
	r := &alsRecorder{refuseAfter: 1}
	addr := startALSRecorder(t, r)
	var stdout, stderr bytes.Buffer
	// Page loads 20ms apart: the client has heard of the refusal before the
	// stream's next message.
	code := runLoadgen([]string{"--protocol", "als", "--target", addr, "--requests", "10", "--rate", "50",
		"--batch", "8", "--progress=false"}, &stdout, &stderr)
	assert.Equal(t, 1, code, "some reports were refused")
	assert.Contains(t, stdout.String(), "Unavailable")
	assert.Contains(t, stdout.String(), "pipeline full")
	assert.NotContains(t, stdout.String(), "; 0 reports refused")
	r.mu.Lock()
	defer r.mu.Unlock()
	reopened := 0
	for _, s := range r.streams {
		assert.Equal(t, []int{0}, s.identifiers)
		if s.messages > 0 && !s.ended {
			reopened++
		}
	}
	assert.Equal(t, 1, reopened, "one stream was refused")
}

func TestLoadgenALSUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, runLoadgen([]string{"--protocol", "nosuch"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "als")
}

var reportsSent = regexp.MustCompile(`: (\d+) reports in `)
