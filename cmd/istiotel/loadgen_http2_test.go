package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"

	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
)

// recordingListener keeps, per accepted connection, the bytes the client
// sent, so that a test can read the client's HTTP/2 frames.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*bytes.Buffer
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	buf := &bytes.Buffer{}
	l.mu.Lock()
	l.conns = append(l.conns, buf)
	l.mu.Unlock()
	return &recordingConn{Conn: c, l: l, buf: buf}, nil
}

type recordingConn struct {
	net.Conn
	l   *recordingListener
	buf *bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.buf.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}

// clientFrames counts the frames of each type on every recorded
// connection, PINGs that are not acknowledgements apart.
func (l *recordingListener) clientFrames(t *testing.T) (frames map[http2.FrameType]int, pings int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	frames = map[http2.FrameType]int{}
	for _, buf := range l.conns {
		b := buf.Bytes()
		require.True(t, bytes.HasPrefix(b, []byte(http2.ClientPreface)), "connection without the HTTP/2 preface")
		fr := http2.NewFramer(io.Discard, bytes.NewReader(b[len(http2.ClientPreface):]))
		for {
			f, err := fr.ReadFrame()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			require.NoError(t, err)
			frames[f.Header().Type]++
			if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
				pings++
			}
		}
	}
	return frames, pings
}

// The loadgen's Mixer and ALS clients keep fixed HTTP/2 windows, as Envoy
// does: no PINGs to measure the connection and grow them, each of which the
// collector would have to answer.
func TestLoadgenHTTP2LikeEnvoy(t *testing.T) {
	for _, protocol := range []string{"mixer", "als"} {
		t.Run(protocol, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			rl := &recordingListener{Listener: ln}
			srv := grpc.NewServer()
			mixerpb.RegisterMixerServer(srv, &slowMixer{})
			alsv3.RegisterAccessLogServiceServer(srv, &alsRecorder{})
			go func() { _ = srv.Serve(rl) }()

			var stdout, stderr bytes.Buffer
			code := runLoadgen([]string{"--protocol", protocol, "--target", ln.Addr().String(), "--requests", "30",
				"--batch", "20", "--progress=false", "--start", "2020-07-01T10:00:00Z"}, &stdout, &stderr)
			srv.Stop()
			require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())

			frames, pings := rl.clientFrames(t)
			assert.Positive(t, frames[http2.FrameData], "no DATA frames recorded")
			assert.Zero(t, pings, "PINGs sent by the client; frames by type: %v", frames)
		})
	}
}
