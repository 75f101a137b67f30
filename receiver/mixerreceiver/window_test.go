package mixerreceiver

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"golang.org/x/net/http2"
)

// serverWindows opens a raw HTTP/2 connection to the receiver and returns
// the stream window of its SETTINGS and the connection window its first
// WINDOW_UPDATE grants beyond HTTP/2's initial 65535 bytes (0 if none).
func serverWindows(t *testing.T, addr string) (stream, connExtra uint32) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)
	fr := http2.NewFramer(c, c)
	require.NoError(t, fr.WriteSettings())
	stream = 65535
	gotSettings := false
	for range 8 {
		f, err := fr.ReadFrame()
		if err != nil {
			break
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			gotSettings = true
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				stream = v
			}
			require.NoError(t, fr.WriteSettingsAck())
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				return stream, f.Increment
			}
		}
		if gotSettings && connExtra == 0 {
			// gRPC sends its connection WINDOW_UPDATE right after SETTINGS,
			// if at all; a short read deadline ends the wait for it.
			require.NoError(t, c.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		}
	}
	require.True(t, gotSettings, "no SETTINGS from the server")
	return stream, 0
}

func TestFlowControlWindows(t *testing.T) {
	tests := []struct {
		name             string
		stream, conn     int32
		wantStream       uint32
		wantConnIncrease uint32
	}{
		{"default", 1 << 20, 1 << 20, 1 << 20, 1<<20 - 65535},
		{"larger connection window", 256 << 10, 4 << 20, 256 << 10, 4<<20 - 65535},
		{"gRPC's own", 0, 0, 65535, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := started(t, new(consumertest.LogsSink), func(c *Config) {
				c.InitialWindowSize, c.InitialConnWindowSize = tt.stream, tt.conn
			})
			stream, connExtra := serverWindows(t, r.addr.String())
			assert.Equal(t, tt.wantStream, stream)
			assert.Equal(t, tt.wantConnIncrease, connExtra)
		})
	}
}
