package kubeconn

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// apiServer answers /version on a fixed loopback address, so that it can
// go away and come back where the client expects it.
type apiServer struct {
	addr   string
	status int
	srv    *http.Server
}

func (s *apiServer) up(t *testing.T) {
	t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port was just released; another process may hold it briefly
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, err)
	s.addr = l.Addr().String()
	s.srv = &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if s.status != 0 {
			w.WriteHeader(s.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.2"}`))
	})}
	go func() { _ = s.srv.Serve(l) }()
}

func (s *apiServer) down() { _ = s.srv.Close() }

func TestMonitorLogsOutagesOnce(t *testing.T) {
	api := &apiServer{addr: "127.0.0.1:0"}
	api.up(t)
	t.Cleanup(api.down)

	core, logs := observer.New(zapcore.InfoLevel)
	m := NewMonitor(zap.New(core))
	clock := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return clock }
	cfg := &rest.Config{Host: "http://" + api.addr, Timeout: 5 * time.Second}
	assert.False(t, m.Attached())
	m.Attach(cfg)
	assert.True(t, m.Attached())
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	version := func(ctx context.Context) error {
		_, err := client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
		return err
	}
	messages := func() (out []string) {
		for _, e := range logs.TakeAll() {
			out = append(out, e.Level.String()+": "+e.Message)
		}
		return out
	}

	require.NoError(t, version(t.Context()))
	assert.True(t, m.Reachable())
	assert.Empty(t, messages(), "nothing to say while the server answers")

	api.down()
	require.Error(t, version(t.Context()))
	require.Error(t, version(t.Context()))
	assert.False(t, m.Reachable())
	entries := logs.All()
	require.Len(t, entries, 1, "one warning for the outage, not one per request")
	assert.Equal(t, api.addr, entries[0].ContextMap()["server"])
	assert.Contains(t, entries[0].ContextMap()["error"], "connection refused")
	assert.Equal(t, []string{"warn: Kubernetes API server unreachable; what was read from it stays in force while the informers retry"}, messages())

	clock = clock.Add(90 * time.Second)
	api.up(t)
	require.NoError(t, version(t.Context()))
	assert.True(t, m.Reachable())
	entries = logs.All()
	require.Len(t, entries, 1)
	assert.Equal(t, 90*time.Second, entries[0].ContextMap()["unreachable_for"])
	assert.Equal(t, []string{"info: Kubernetes API server answers again; the informers resume and catch up"}, messages())

	// An error status is an answer: the server is there.
	api.status = http.StatusServiceUnavailable
	require.Error(t, version(t.Context()))
	assert.True(t, m.Reachable())
	assert.Empty(t, messages())

	// A request its caller gives up (the collector shutting down) says
	// nothing about the server.
	api.down()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.Error(t, version(ctx))
	assert.True(t, m.Reachable())
	assert.Empty(t, messages())

	// The next outage is reported again.
	require.Error(t, version(t.Context()))
	assert.False(t, m.Reachable())
	assert.Len(t, messages(), 1)
}

func TestConfig(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600))
	for _, tt := range []struct {
		name         string
		env          map[string]string
		explicitOnly bool
		wantHow      string
		wantHost     string
		wantErr      string
	}{
		{name: "nothing, explicit only: no connection", explicitOnly: true},
		{name: "nothing: no kubeconfig either", wantErr: "no in-cluster config and no usable kubeconfig"},
		{name: "KUBECONFIG", env: map[string]string{"KUBECONFIG": kubeconfig}, explicitOnly: true,
			wantHow: Kubeconfig, wantHost: "https://127.0.0.1:6443"},
		{name: "in a pod without its service account's files",
			env:     map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"},
			wantErr: "in-cluster Kubernetes config"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", "")
			t.Setenv("KUBECONFIG", "")
			if _, err := os.Stat(clientcmd.RecommendedHomeFile); err == nil && tt.wantErr != "" {
				t.Skip("this account has a ~/.kube/config") // read at init; HOME cannot hide it
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, how, err := Config(tt.explicitOnly)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantHow, how)
			if tt.wantHost == "" {
				assert.Nil(t, cfg)
				return
			}
			assert.Equal(t, tt.wantHost, cfg.Host)
			assert.Equal(t, "otelcol-istio", cfg.UserAgent)
		})
	}
}
