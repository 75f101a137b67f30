// Package kubeconn connects the collector to the Kubernetes API server: it
// finds the credentials, and it says when the server stops answering and
// when it answers again. client-go's informers retry a refused connection
// inside their reflectors without reporting it, for as long as the outage
// lasts, so without this an API server that is down leaves no trace in the
// collector's log while its configuration and pod cache go stale.
package kubeconn

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Connection names how Config found its credentials, for the log.
const (
	InCluster  = "in-cluster service account"
	Kubeconfig = "kubeconfig"
)

// Config returns a client configuration: the pod's service account when
// running in Kubernetes, else the kubeconfig that KUBECONFIG names, else
// ~/.kube/config. With explicitOnly, a process that has neither in-cluster
// credentials nor KUBECONFIG gets a nil configuration and no error (it is
// not meant to connect), rather than falling back to ~/.kube/config.
func Config(explicitOnly bool) (cfg *rest.Config, how string, err error) {
	cfg, err = rest.InClusterConfig()
	how = InCluster
	if err != nil {
		if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
			return nil, "", fmt.Errorf("in-cluster Kubernetes config: %w", err)
		}
		if explicitOnly && os.Getenv("KUBECONFIG") == "" {
			return nil, "", nil
		}
		rules := clientcmd.NewDefaultClientConfigLoadingRules() // KUBECONFIG, else ~/.kube/config
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, "", fmt.Errorf("no in-cluster config and no usable kubeconfig: %w", err)
		}
		how = Kubeconfig
	}
	cfg.UserAgent = "otelcol-istio"
	return cfg, how, nil
}

// Monitor follows every request of the clients attached to it. The first
// request that cannot reach the server is logged at warn level, the first
// answer after that at info level with how long the server was away: one
// pair per outage, however many informers keep retrying meanwhile.
type Monitor struct {
	log *zap.Logger
	now func() time.Time

	mu       sync.Mutex
	attached bool
	since    time.Time // when the server stopped answering; zero while it answers
}

// NewMonitor returns a Monitor that logs to log.
func NewMonitor(log *zap.Logger) *Monitor {
	if log == nil {
		log = zap.NewNop()
	}
	return &Monitor{log: log, now: time.Now}
}

// Attach makes the clients built from cfg report to m.
func (m *Monitor) Attach(cfg *rest.Config) {
	m.mu.Lock()
	m.attached = true
	m.mu.Unlock()
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper { return &monitored{next: next, m: m} })
}

// Attached reports whether a client was attached: whether there is a
// server to follow at all.
func (m *Monitor) Attached() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.attached
}

// Reachable reports whether the last request reached the server (true
// before the first request).
func (m *Monitor) Reachable() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.since.IsZero()
}

func (m *Monitor) answered() {
	m.mu.Lock()
	since := m.since
	m.since = time.Time{}
	m.mu.Unlock()
	if !since.IsZero() {
		m.log.Info("Kubernetes API server answers again; the informers resume and catch up",
			zap.Duration("unreachable_for", m.now().Sub(since).Round(time.Millisecond)))
	}
}

func (m *Monitor) failed(host string, err error) {
	m.mu.Lock()
	first := m.since.IsZero()
	if first {
		m.since = m.now()
	}
	m.mu.Unlock()
	if first {
		m.log.Warn("Kubernetes API server unreachable; what was read from it stays in force while the informers retry",
			zap.String("server", host), zap.Error(err))
	}
}

type monitored struct {
	next http.RoundTripper
	m    *Monitor
}

func (t *monitored) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	switch {
	case err == nil:
		t.m.answered() // any status: the server is there
	case req.Context().Err() == nil:
		t.m.failed(req.URL.Host, err) // not a request given up by its caller (shutdown)
	}
	return resp, err
}

// WrappedRoundTripper lets client-go's debugging wrappers see through.
func (t *monitored) WrappedRoundTripper() http.RoundTripper { return t.next }

// Unreachable reports whether err is a request that got no answer from the
// server (the HTTP client's error, however wrapped), as opposed to an error
// status the server answered with. A Monitor attached to the client has
// logged those, so error handlers need not.
func Unreachable(err error) bool {
	var u *url.Error
	return errors.As(err, &u)
}
