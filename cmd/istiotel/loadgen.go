package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerpb"
	"github.com/otelcol-istio/otelcol-istio/internal/mixerreport"
)

func init() {
	register("loadgen", "send Bookinfo traffic reports to a collector (Mixer API)", runLoadgen)
}

// loadgenConfig is what the flags say.
type loadgenConfig struct {
	target      string
	protocol    string
	useTLS      bool
	caFile      string
	serverName  string
	rate        float64
	requests    int
	duration    time.Duration
	seed        uint64
	batch       int
	globalWords int
	enriched    bool
	mtls        bool
	tcpEvery    int
	progress    bool
	start       string
	dir         string
	format      string
}

// runLoadgen sends the reports of simulated Bookinfo page loads (each: the
// gateway → productpage → details and reviews, reviews v2/v3 → ratings; both
// reporters of every call) as Istio 1.1 proxies sent them: INDEPENDENT
// batches that share default_words. Exit status: 0 when every report was
// accepted, 1 when some were not, 2 for usage errors.
func runLoadgen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c loadgenConfig
	fs.StringVar(&c.target, "target", "localhost:9091", "collector's address: its Mixer API for mixer, als and als-v2, its OTLP receiver for otlp and otel-als")
	fs.StringVar(&c.protocol, "protocol", "mixer", "how to send: "+strings.Join(protocolNames(), ", ")+" (mixer: the Mixer Report API)")
	fs.BoolVar(&c.useTLS, "tls", false, "use TLS")
	fs.StringVar(&c.caFile, "ca", "", "PEM file of the CA that signed the server certificate (with --tls)")
	fs.StringVar(&c.serverName, "server-name", "", "TLS server name (with --tls)")
	fs.Float64Var(&c.rate, "rate", 0, "page loads per second; 0 sends as fast as the collector takes them")
	fs.IntVar(&c.requests, "requests", 100, "page loads to send (0, or --duration without --requests: until --duration ends)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: after --requests)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the traffic: the same seed sends the same reports")
	fs.IntVar(&c.batch, "batch", 100, "reports per request (Istio 1.1 proxies sent up to 100 per Report)")
	fs.IntVar(&c.globalWords, "global-words", 221, "global dictionary words the client knows (221: Istio 1.1, 222: 1.3+; 0: none)")
	fs.BoolVar(&c.enriched, "enriched", true, "include the workload attributes Mixer's kubernetesenv adapter added")
	fs.BoolVar(&c.mtls, "mtls", true, "sidecars use mutual TLS (principals, connection.mtls)")
	fs.IntVar(&c.tcpEvery, "tcp-every", 0, "also send one TCP connection (ratings → mongodb) every N page loads (0: none)")
	fs.BoolVar(&c.progress, "progress", isTerminal(stdout), "print a live progress line")
	fs.StringVar(&c.dir, "dir", "", "accesslog: the pod-log directory to write into (as /var/log/pods)")
	fs.StringVar(&c.format, "format", "istio-1.24", "accesslog, otel-als: the istio-proxy access-log format (istio-1.N or json)")
	fs.StringVar(&c.start, "start", "", "request time of the first page load, RFC 3339 (default: now); with --seed it makes the reports identical run to run")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: istiotel loadgen [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// --duration alone means a run of that length, not the default count
	// of page loads, which would end it after a fraction of a second.
	if c.duration > 0 && !flagSet(fs, "requests") {
		c.requests = 0
	}
	if err := c.check(); err != nil || fs.NArg() > 0 {
		if err != nil {
			fmt.Fprintf(stderr, "istiotel loadgen: %v\n", err)
		}
		fs.Usage()
		return 2
	}
	ctx := context.Background()
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	sum, err := loadgenRun(ctx, c, stdout)
	fmt.Fprintln(stdout, sum.String())
	if err != nil {
		fmt.Fprintf(stderr, "istiotel loadgen: %v\n", err)
		return 1
	}
	if sum.failedReports > 0 {
		return 1
	}
	return 0
}

// flagSet reports whether the command line gave flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func protocolNames() []string {
	names := make([]string, 0, len(loadgenProtocols))
	for n := range loadgenProtocols {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (c *loadgenConfig) check() error {
	switch {
	case loadgenProtocols[c.protocol] == nil:
		return fmt.Errorf("--protocol %q: one of %s", c.protocol, strings.Join(protocolNames(), ", "))
	case c.requests < 0, c.rate < 0, c.batch < 1, c.tcpEvery < 0:
		return errors.New("--requests, --rate and --tcp-every must not be negative; --batch must be at least 1")
	case c.requests == 0 && c.duration == 0:
		return errors.New("give --requests or --duration")
	case c.globalWords < 0 || c.globalWords > 222:
		return errors.New("--global-words must be 0 to 222")
	case c.protocol == "accesslog" && c.dir == "":
		return errors.New("--protocol accesslog needs --dir")
	}
	if c.start != "" {
		if _, err := time.Parse(time.RFC3339Nano, c.start); err != nil {
			return fmt.Errorf("--start: %v", err)
		}
	}
	return nil
}

// loadgenSummary counts what was sent.
type loadgenSummary struct {
	pageLoads, reports, requests, failedReports int
	tcpConnections                              int
	elapsed                                     time.Duration
	lastErr                                     string
}

func (s loadgenSummary) String() string {
	rate := 0.0
	if s.elapsed > 0 {
		rate = float64(s.reports) / s.elapsed.Seconds()
	}
	out := fmt.Sprintf("sent %d page loads (%d TCP connections): %d reports in %d requests in %s (%.0f reports/s); %d reports refused",
		s.pageLoads, s.tcpConnections, s.reports, s.requests, s.elapsed.Round(time.Millisecond), rate, s.failedReports)
	if s.lastErr != "" {
		out += "; last error: " + s.lastErr
	}
	return out
}

// reportSender sends batches of bags over one protocol. A protocol
// registers its constructor in loadgenProtocols from its own file.
type reportSender interface {
	// send delivers one batch; it returns how many bags were refused and an
	// error only when the run cannot go on.
	send(ctx context.Context, bags []bookinfo.Bag) (refused int, err error)
	close() error
}

// loadgenProtocols maps --protocol values to their senders.
var loadgenProtocols = map[string]func(c loadgenConfig) (reportSender, error){
	"mixer": newMixerSender,
}

// mixerSender sends Report requests as Istio 1.1 proxies did.
// sendTimeout bounds one request (or one batch of ALS messages, OTLP
// export, access-log write); a collector that takes longer fails the run.
const sendTimeout = 30 * time.Second

type mixerSender struct {
	conn   *grpc.ClientConn
	client mixerpb.MixerClient
	enc    *mixerreport.Encoder
	layout mixerreport.Layout
}

func newMixerSender(c loadgenConfig) (reportSender, error) {
	conn, err := dial(c, envoyHTTP2...)
	if err != nil {
		return nil, err
	}
	return &mixerSender{conn: conn, client: mixerpb.NewMixerClient(conn), enc: mixerreport.NewDefaultEncoder(), layout: mixerreport.ProxyLayout(c.globalWords)}, nil
}

func (m *mixerSender) send(ctx context.Context, bags []bookinfo.Bag) (int, error) {
	batch := make([]mixerreport.Bag, 0, len(bags))
	for _, b := range bags {
		rb := make(mixerreport.Bag, 0, len(b))
		for _, a := range b {
			rb = append(rb, mixerreport.FromValue(a.Name, a.Value))
		}
		batch = append(batch, rb)
	}
	req, err := m.enc.Encode(batch, m.layout)
	if err != nil {
		return 0, err
	}
	if _, err := m.client.Report(ctx, req); err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return len(bags), refusal{err}
	}
	return 0, nil
}

func (m *mixerSender) close() error { return m.conn.Close() }

// refusal is a batch the collector did not take; the run goes on.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// envoyWindow is Envoy's default HTTP/2 flow-control window, stream and
// connection (Http2ProtocolOptions initial_stream_window_size and
// initial_connection_window_size: 256 MiB).
const envoyWindow = 256 << 20

// envoyHTTP2 makes a gRPC client's HTTP/2 behave as an Envoy proxy's toward
// Mixer or an ALS server: fixed windows. gRPC's own client grows its windows
// by sending a PING with each response it reads, which Envoy never does, and
// which would make the collector answer one more frame per request.
var envoyHTTP2 = []grpc.DialOption{
	grpc.WithInitialWindowSize(envoyWindow),
	grpc.WithInitialConnWindowSize(envoyWindow),
}

// dial connects to the target with the TLS flags.
func dial(c loadgenConfig, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if c.useTLS {
		tc := &tls.Config{ServerName: c.serverName, MinVersion: tls.VersionTLS12}
		if c.caFile != "" {
			pem, err := os.ReadFile(c.caFile)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca %s: no certificate found", c.caFile)
			}
			tc.RootCAs = pool
		}
		creds = credentials.NewTLS(tc)
	}
	return grpc.NewClient(c.target, append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, opts...)...)
}

func loadgenRun(ctx context.Context, c loadgenConfig, stdout io.Writer) (loadgenSummary, error) {
	var sum loadgenSummary
	sender, err := loadgenProtocols[c.protocol](c)
	if err != nil {
		return sum, err
	}
	closed := false
	defer func() {
		if !closed {
			_ = sender.close()
		}
	}()
	start := time.Now().UTC()
	if c.start != "" {
		start, _ = time.Parse(time.RFC3339Nano, c.start)
	}
	gen := bookinfo.NewGenerator(bookinfo.Options{Seed: c.seed, Enriched: c.enriched, MTLS: c.mtls, Start: start})

	var sent atomic.Int64
	stopProgress := startProgress(c.progress, stdout, &sent)
	defer stopProgress()

	var tick *time.Ticker
	if c.rate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) / c.rate))
		defer tick.Stop()
	}
	began := time.Now()
	batch := make([]bookinfo.Bag, 0, c.batch)
	// --duration stops generating, not sending: a request in flight when
	// it ends completes under its own timeout instead of being cancelled.
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
		refused, err := sender.send(sctx, batch)
		cancel()
		sum.requests++
		var r refusal
		if errors.As(err, &r) {
			sum.lastErr, err = r.Error(), nil
		}
		if err != nil {
			return err
		}
		sum.failedReports += refused
		sum.reports += len(batch)
		sent.Store(int64(sum.reports))
		batch = batch[:0]
		return nil
	}
	add := func(bags []bookinfo.Bag) error {
		for _, b := range bags {
			batch = append(batch, b)
			if len(batch) == c.batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var runErr error
loop:
	for c.requests == 0 || sum.pageLoads < c.requests {
		if tick != nil {
			select {
			case <-ctx.Done():
				break loop
			case <-tick.C:
			}
		} else if ctx.Err() != nil {
			break
		}
		if runErr = add(gen.Next()); runErr != nil {
			break
		}
		sum.pageLoads++
		if c.tcpEvery > 0 && sum.pageLoads%c.tcpEvery == 0 {
			if runErr = add(gen.TCPConnection()); runErr != nil {
				break
			}
			sum.tcpConnections++
		}
	}
	if runErr == nil {
		// The last partial batch goes out even when --duration ended the run.
		runErr = flush()
	}
	// Closing can still report a refusal (an ALS stream the collector ended).
	closed = true
	if err := sender.close(); err != nil && runErr == nil {
		runErr = err
	}
	sum.elapsed = time.Since(began)
	return sum, runErr
}

// startProgress redraws a progress line twice a second on a terminal.
func startProgress(on bool, w io.Writer, sent *atomic.Int64) (stop func()) {
	if !on {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				n := sent.Load()
				el := time.Since(start).Seconds()
				fmt.Fprintf(w, "\r\033[K%d reports sent, %.0f reports/s", n, float64(n)/el)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
