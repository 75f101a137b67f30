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
	fs.StringVar(&c.target, "target", "localhost:9091", "collector's Mixer API address")
	fs.StringVar(&c.protocol, "protocol", "mixer", "how to send: mixer (Mixer Report API)")
	fs.BoolVar(&c.useTLS, "tls", false, "use TLS")
	fs.StringVar(&c.caFile, "ca", "", "PEM file of the CA that signed the server certificate (with --tls)")
	fs.StringVar(&c.serverName, "server-name", "", "TLS server name (with --tls)")
	fs.Float64Var(&c.rate, "rate", 0, "page loads per second; 0 sends as fast as the collector takes them")
	fs.IntVar(&c.requests, "requests", 100, "page loads to send (0: until --duration ends)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: after --requests)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the traffic: the same seed sends the same reports")
	fs.IntVar(&c.batch, "batch", 100, "reports per Report request (Istio 1.1 proxies sent up to 100)")
	fs.IntVar(&c.globalWords, "global-words", 221, "global dictionary words the client knows (221: Istio 1.1, 222: 1.3+; 0: none)")
	fs.BoolVar(&c.enriched, "enriched", true, "include the workload attributes Mixer's kubernetesenv adapter added")
	fs.BoolVar(&c.mtls, "mtls", true, "sidecars use mutual TLS (principals, connection.mtls)")
	fs.IntVar(&c.tcpEvery, "tcp-every", 0, "also send one TCP connection (ratings → mongodb) every N page loads (0: none)")
	fs.BoolVar(&c.progress, "progress", isTerminal(stdout), "print a live progress line")
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
	sum, err := loadgenMixer(ctx, c, stdout)
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

func (c *loadgenConfig) check() error {
	switch {
	case c.protocol != "mixer":
		return fmt.Errorf("--protocol %q: only mixer is supported", c.protocol)
	case c.requests < 0, c.rate < 0, c.batch < 1, c.tcpEvery < 0:
		return errors.New("--requests, --rate and --tcp-every must not be negative; --batch must be at least 1")
	case c.requests == 0 && c.duration == 0:
		return errors.New("give --requests or --duration")
	case c.globalWords < 0 || c.globalWords > 222:
		return errors.New("--global-words must be 0 to 222")
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
	out := fmt.Sprintf("sent %d page loads (%d TCP connections): %d reports in %d Report requests in %s (%.0f reports/s); %d reports refused",
		s.pageLoads, s.tcpConnections, s.reports, s.requests, s.elapsed.Round(time.Millisecond), rate, s.failedReports)
	if s.lastErr != "" {
		out += "; last error: " + s.lastErr
	}
	return out
}

func loadgenMixer(ctx context.Context, c loadgenConfig, stdout io.Writer) (loadgenSummary, error) {
	var sum loadgenSummary
	creds := insecure.NewCredentials()
	if c.useTLS {
		tc := &tls.Config{ServerName: c.serverName, MinVersion: tls.VersionTLS12}
		if c.caFile != "" {
			pem, err := os.ReadFile(c.caFile)
			if err != nil {
				return sum, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return sum, fmt.Errorf("--ca %s: no certificate found", c.caFile)
			}
			tc.RootCAs = pool
		}
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient(c.target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return sum, err
	}
	defer conn.Close()
	client := mixerpb.NewMixerClient(conn)
	enc := mixerreport.NewDefaultEncoder()
	layout := mixerreport.ProxyLayout(c.globalWords)
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
	batch := make([]mixerreport.Bag, 0, c.batch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		req, err := enc.Encode(batch, layout)
		if err != nil {
			return err
		}
		sum.requests++
		if _, err := client.Report(ctx, req); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			sum.failedReports += len(batch)
			sum.lastErr = err.Error()
		}
		sum.reports += len(batch)
		sent.Store(int64(sum.reports))
		batch = batch[:0]
		return nil
	}
	add := func(bags []bookinfo.Bag) error {
		for _, b := range bags {
			rb := make(mixerreport.Bag, 0, len(b))
			for _, a := range b {
				rb = append(rb, mixerreport.FromValue(a.Name, a.Value))
			}
			batch = append(batch, rb)
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
	if runErr == nil || errors.Is(runErr, context.DeadlineExceeded) {
		// The last partial batch goes out even when --duration ended the run.
		flushCtx := ctx
		if ctx.Err() != nil {
			var cancel context.CancelFunc
			flushCtx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
		}
		ctx = flushCtx
		runErr = flush()
	}
	sum.elapsed = time.Since(began)
	if errors.Is(runErr, context.DeadlineExceeded) {
		runErr = nil
	}
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
