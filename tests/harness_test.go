// Package tests holds the end-to-end tests: they build the real otelcol-istio
// and istiotel binaries once per `go test` run and drive them over loopback.
package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	collectorBin string // path of the built otelcol-istio
	istiotelBin  string // path of the built istiotel
)

// buildDir holds the binaries the tests build, for the whole run.
var buildDir string

// TestMain builds both binaries once. OTELCOL_ISTIO_BIN / ISTIOTEL_BIN point
// at prebuilt ones instead (for example the output of `make build`).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == podExecArg {
		err := podExec(os.Args[2:]) // returns only when it fails
		fmt.Fprintln(os.Stderr, "pod-exec:", err)
		os.Exit(127)
	}
	dir, err := os.MkdirTemp("", "otelcol-istio-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := func() int {
		defer os.RemoveAll(dir)
		var err error
		if collectorBin, err = binary("OTELCOL_ISTIO_BIN", dir, "otelcol-istio", "./cmd/otelcol-istio"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if istiotelBin, err = binary("ISTIOTEL_BIN", dir, "istiotel", "./cmd/istiotel"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func binary(env, dir, name, pkg string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if !filepath.IsAbs(p) { // relative to the repository root, like make's paths
			p = filepath.Join("..", p)
		}
		return filepath.Abs(p)
	}
	out := filepath.Join(dir, name)
	// As `make build` and the image build it (static, and with the same profile,
	// cmd/otelcol-istio/default.pgo): the tests run the binary that ships, and the builds
	// share Go's cache.
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut[port] {
			handedOut[port] = true
			return port
		}
	}
	t.Fatal("no loopback port that was not handed out before, in 100 tries")
	return 0
}

// handedOut holds the ports freePort gave. The kernel may give a port that
// was just closed again, and two endpoints of one collector (or of two
// collectors running side by side) must not share one.
var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{}
)

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// collector is a running otelcol-istio process.
type collector struct {
	t         *testing.T
	cmd       *exec.Cmd
	Stdout    *syncBuffer
	Stderr    *syncBuffer
	Health    string // health_check endpoint, host:port
	Telemetry string // the collector's own metrics, host:port
	done      chan struct{}
	err       error // exit error, valid after done is closed
	// terminated is set once the test has sent SIGTERM itself.
	terminated bool
}

// collectorOptions says how to start the collector.
type collectorOptions struct {
	Config string   // YAML written to a temporary file and passed as --config; empty: none
	Args   []string // further arguments
	Health string   // health_check endpoint the configuration serves
	Env    []string // extra environment
	// WrapStdout, when set, puts a writer of the test's between the
	// process's stdout pipe and Stdout (to hold the pipe up, say).
	WrapStdout func(io.Writer) io.Writer
	// Prefix, when set, is a command that execs the collector binary and
	// arguments that follow it (unshare …, say).
	Prefix []string
	// Telemetry, when set, is where the configuration itself serves the
	// collector's own metrics; otherwise the harness serves them on a free
	// loopback port.
	Telemetry string
}

// startCollector starts otelcol-istio and waits until health_check reports it
// healthy. The process is stopped gracefully when the test ends, and the test
// fails if it exited on its own, did not exit cleanly, or printed a panic.
func startCollector(t *testing.T, o collectorOptions) *collector {
	t.Helper()
	args := append([]string{}, o.Args...)
	dir := t.TempDir()
	if o.Config != "" {
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(o.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config=file:"+path)
	}
	// The collector's own metrics go to a free port too (the default,
	// localhost:8888, would clash between collectors), in a file merged
	// last. A run without --config names the embedded default explicitly,
	// since any --config turns the implicit default off.
	telemetry := o.Telemetry
	if telemetry == "" {
		telemetry = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		host, port, _ := strings.Cut(telemetry, ":")
		tpath := filepath.Join(dir, "telemetry.yaml")
		tcfg := fmt.Sprintf("service:\n  telemetry:\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: %s\n                port: %s\n", host, port)
		if err := os.WriteFile(tpath, []byte(tcfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if !hasConfigFlag(args) {
			args = append(args, "--config=embedded:default")
		}
		args = append(args, "--config=file:"+tpath)
	}
	c := &collector{t: t, Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, Health: o.Health, Telemetry: telemetry, done: make(chan struct{})}
	argv := append(append(slices.Clone(o.Prefix), collectorBin), args...)
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Stdout, c.cmd.Stderr = c.Stdout, c.Stderr
	if o.WrapStdout != nil {
		c.cmd.Stdout = o.WrapStdout(c.Stdout)
	}
	c.cmd.Env = append(os.Environ(), o.Env...)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(c.stop)
	c.waitHealthy(60 * time.Second)
	return c
}

func hasConfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--config" || strings.HasPrefix(a, "--config=") {
			return true
		}
	}
	return false
}

func (c *collector) waitHealthy(limit time.Duration) {
	c.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			c.t.Fatalf("collector exited before it was healthy: %v\nstderr:\n%s", c.err, c.Stderr)
		default:
		}
		resp, err := client.Get("http://" + c.Health + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("collector not healthy at %s after %s\nstderr:\n%s", c.Health, limit, c.Stderr)
}

var panicRE = regexp.MustCompile(`(?m)^panic: |^goroutine \d+ \[running\]`)

// terminate sends SIGTERM and waits up to limit for the process to exit,
// which it sees from /proc: Wait (c.done) also waits for the copy of stdout,
// which a test may be holding up.
func (c *collector) terminate(limit time.Duration) {
	c.t.Helper()
	c.terminated = true
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatal(err)
	}
	stat := fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid)
	waitFor(c.t, limit, "the collector to exit after SIGTERM", func() bool {
		b, err := os.ReadFile(stat)
		if err != nil {
			return true // reaped
		}
		// pid (comm) state ...: exited and not yet reaped is Z.
		_, rest, _ := strings.Cut(string(b), ") ")
		return strings.HasPrefix(rest, "Z")
	})
}

// stop sends SIGTERM, waits for a clean exit and checks the output.
func (c *collector) stop() {
	if c.terminated {
		<-c.done
		if c.err != nil {
			c.t.Errorf("collector did not exit cleanly: %v\nstderr:\n%s", c.err, c.Stderr)
		}
		c.checkOutput()
		return
	}
	select {
	case <-c.done:
		c.t.Errorf("collector exited on its own: %v\nstderr:\n%s", c.err, c.Stderr)
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		if c.err != nil {
			c.t.Errorf("collector did not exit cleanly: %v\nstderr:\n%s", c.err, c.Stderr)
		}
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		c.t.Errorf("collector did not stop within 30s of SIGTERM\nstderr:\n%s", c.Stderr)
	}
	c.checkOutput()
}

// checkOutput fails the test if the collector panicked.
func (c *collector) checkOutput() {
	for _, out := range []string{c.Stdout.String(), c.Stderr.String()} {
		if panicRE.MatchString(out) {
			c.t.Errorf("collector panicked:\n%s", out)
		}
	}
}

// waitFor polls cond every 100ms until it returns true or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", limit, what)
}

// runBinary runs a binary to completion (bounded by a minute) and returns its
// combined output and exit code.
func runBinary(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %s %s: %v", bin, strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// Every port freePort hands out is a new one, as the endpoints of one
// collector need.
func TestFreePortDistinct(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p := freePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
