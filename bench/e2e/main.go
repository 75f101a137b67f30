// Command e2e is the end-to-end benchmark of `make bench-e2e` and
// `make bench-peer`: it starts a collector on loopback, drives it with
// `istiotel loadgen` (Istio 1.1 proxy batches of Bookinfo reports, a fixed
// count, no rate limit unless -rate sets one), and reports the collector's
// CPU time per report (utime+stime from /proc/PID/stat), reports/s, the CPU
// over the load in millicores, peak RSS (VmHWM) and the
// anonymous part of RSS after the load (RssAnon), and checks the exported
// totals against what was sent.
//
// Variants (-variants): our collector with the embedded default config, with
// its Prometheus rules only and with its stdio rules only (the cuts Mixer was
// measured with), with other inputs (Envoy ALS, access-log lines from files
// or from Envoy's OpenTelemetry access logger, OTLP bag records), the
// stock contrib peer of bench/peer fed the same bags over OTLP, and no
// collector at all but a bare gRPC server (floor.go), the floor under every
// other variant.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// start is the request time of the first page load of every run: with the
// seeds below, every variant gets byte-identical bags, so their expositions
// can be compared series by series.
const start = "2020-07-01T10:00:00Z"

const (
	warmupSeed   = 1
	measuredSeed = 2
)

type options struct {
	collector, istiotel    string
	peer, peerConfig       string
	configMap              string // the DaemonSet's, for variants accesslog and otel-als
	goTool                 string
	variants               []variant
	runs                   int
	requests, warmup       int
	batch                  int
	rate                   float64 // page loads per second in the measured and profiled runs; 0: no limit
	stdout                 string
	profileDir             string
	profileSeconds         int
	metricsWait, idleLimit time.Duration
	env                    []string // added to every collector's environment
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == floorCommand {
		if err := serveFloor(os.Args[2:]); err != nil {
			fatalf("%s: %v", floorCommand, err)
		}
		return
	}
	var o options
	var names string
	flag.StringVar(&o.collector, "collector", "bin/otelcol-istio", "otelcol-istio binary")
	flag.StringVar(&o.istiotel, "istiotel", "bin/istiotel", "istiotel binary (the load generator)")
	flag.StringVar(&o.peer, "peer", "", "stock contrib collector built from bench/peer/builder-config.yaml (variant peer)")
	flag.StringVar(&o.peerConfig, "peer-config", "bench/peer/config.yaml", "the peer's collector config")
	flag.StringVar(&o.configMap, "configmap", "deploy/kubernetes/configmap.yaml", "the DaemonSet's ConfigMap, whose file_log and otlp receivers and envoy_access_log processor variants accesslog and otel-als run")
	flag.StringVar(&o.goTool, "go", "go", "go command, for `go tool pprof` with -profile")
	flag.StringVar(&names, "variants", "default,prom,stdio,none,als,accesslog,otel-als,grpc-floor", "comma-separated variants: "+variantNames())
	flag.IntVar(&o.runs, "runs", 3, "measured runs per variant, each on a fresh collector (0 with -profile: profile only)")
	flag.IntVar(&o.requests, "requests", 20000, "Bookinfo page loads per measured run (about 7.3 reports each)")
	flag.IntVar(&o.warmup, "warmup", 300, "page loads sent before measuring (connections, series, heap)")
	flag.IntVar(&o.batch, "batch", 100, "reports per request")
	flag.Float64Var(&o.rate, "rate", 0, "page loads per second in the measured and profiled runs (about 7.3 reports each); 0: as fast as the collector takes them")
	flag.StringVar(&o.stdout, "stdout", "", "the collector's stdout (the accesslog): a file, /dev/null, or empty for a pipe whose lines are counted")
	flag.StringVar(&o.profileDir, "profile", "", "directory: after the measured runs, one profiled run per variant (CPU and allocations via the pprof extension)")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 20, "length of the profiled load")
	flag.DurationVar(&o.metricsWait, "metrics-wait", 20*time.Second, "how long to wait for the exported totals (the default flush interval is 5s)")
	flag.DurationVar(&o.idleLimit, "idle-limit", 60*time.Second, "how long to wait for the collector to drain after the load")
	var env string
	flag.StringVar(&env, "env", "", "comma-separated NAME=VALUE pairs added to the environment of every collector, ours, the peer and the floor's server "+
		"(the DaemonSet's, with GOMAXPROCS=1 for its CPU limit: GOMAXPROCS=1,GOGC=200,GOMEMLIMIT=400MiB,GODEBUG=schedtrace=2147483647)")
	flag.Parse()
	if err := o.setEnv(env); err != nil {
		fatalf("-env: %v", err)
	}

	for n := range strings.SplitSeq(names, ",") {
		v, err := lookupVariant(strings.TrimSpace(n))
		if err != nil {
			fatalf("-variants: %v", err)
		}
		o.variants = append(o.variants, v)
	}
	if err := o.check(); err != nil {
		fatalf("%v", err)
	}
	if err := run(&o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/e2e: "+format+"\n", args...)
	os.Exit(1)
}

func variantNames() string {
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.name
	}
	return strings.Join(names, ", ")
}

// setEnv reads the -env list.
func (o *options) setEnv(list string) error {
	if list == "" {
		return nil
	}
	for kv := range strings.SplitSeq(list, ",") {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return fmt.Errorf("%q is not NAME=VALUE", kv)
		}
		o.env = append(o.env, kv)
	}
	return nil
}

func (o *options) check() error {
	var err error
	if o.collector, err = filepath.Abs(o.collector); err != nil {
		return err
	}
	if o.istiotel, err = filepath.Abs(o.istiotel); err != nil {
		return err
	}
	for _, p := range []string{o.collector, o.istiotel} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("binary %s: %w (make build)", p, err)
		}
	}
	var kept []variant
	for _, v := range o.variants {
		switch {
		case v.peer && o.peer == "":
			return errors.New("variant peer: give -peer (make bench-peer builds it)")
		case v.protocol == "als" && !loadgenSpeaks(o.istiotel, "als"):
			// The ALS sender of istiotel loadgen may not exist yet.
			fmt.Fprintf(os.Stderr, "variant als skipped: %s loadgen has no --protocol als\n", o.istiotel)
			continue
		}
		kept = append(kept, v)
	}
	o.variants = kept
	if len(o.variants) == 0 {
		return errors.New("no variant to run")
	}
	if o.runs < 0 || (o.runs == 0 && o.profileDir == "") || o.requests < 1 || o.warmup < 1 {
		return errors.New("-requests and -warmup must be at least 1, and so must -runs unless -profile is given")
	}
	if o.rate < 0 {
		return fmt.Errorf("-rate %g: page loads per second must not be negative (0: no limit)", o.rate)
	}
	return nil
}

// loadgenSpeaks reports whether istiotel loadgen offers a protocol, from
// its usage text.
func loadgenSpeaks(istiotel, protocol string) bool {
	out, _ := exec.Command(istiotel, "loadgen", "-h").CombinedOutput()
	m := regexp.MustCompile(`how to send: ([a-z0-9, ]+)`).FindSubmatch(out)
	return m != nil && slices.Contains(strings.Split(string(m[1]), ", "), protocol)
}

// result is one measured run.
type result struct {
	v                     variant
	reports               int           // sent in the measured window
	cpu                   cpuTimes      // the collector's, in the window
	busy                  time.Duration // from the start of the load to the end of the collector's work on it
	hwmKB                 int64
	anonKB                int64 // RssAnon after the load: heap and stacks, no file pages
	loadgenCPU, otherCPU  time.Duration
	loadBefore, loadAfter string
	checks                []string // one line per verified total
	failed                bool
	expo                  exposition
}

func (r result) usPerReport() float64 {
	return float64(r.cpu.total().Microseconds()) / float64(r.reports)
}

func (r result) systemUsPerReport() float64 {
	return float64(r.cpu.system.Microseconds()) / float64(r.reports)
}

// rate is the reports per second the collector took in: over the time it
// was busy with them, which for the access-log files it tails can be longer
// than loadgen took to write them.
func (r result) rate() float64 {
	return float64(r.reports) / r.busy.Seconds()
}

// millicores is the collector's CPU over the same time, in thousandths of a
// core: what a CPU request must cover at this rate.
func (r result) millicores() float64 {
	return float64(r.cpu.total()) / float64(r.busy) * 1000
}

func run(o *options) error {
	tmp, err := os.MkdirTemp("", "otelcol-istio-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	model, _ := exec.Command("sh", "-c", "lscpu | sed -n 's/^Model name: *//p'").Output()
	fmt.Printf("machine: %s, %d CPUs (nproc); load average %s\n", strings.TrimSpace(string(model)), cpuCount(), loadAvg())
	if len(o.env) > 0 {
		fmt.Printf("collector environment: %s\n", strings.Join(o.env, " "))
	}

	var results []result
	for _, v := range o.variants {
		for i := 1; i <= o.runs; i++ {
			r, err := measure(o, v, tmp)
			if err != nil {
				return fmt.Errorf("variant %s run %d: %w", v.name, i, err)
			}
			fmt.Printf("%-9s run %d: %7d reports, %6.2f CPU-µs/report (kernel %.2f), %6.0f reports/s, %.0f millicores, VmHWM %d MB, RssAnon %d MB, loadgen %.1f µs/report, other processes %.1f CPU-s, load %s→%s; %s\n",
				v.name, i, r.reports, r.usPerReport(), r.systemUsPerReport(), r.rate(), r.millicores(), r.hwmKB>>10, r.anonKB>>10,
				float64(r.loadgenCPU.Microseconds())/float64(r.reports), r.otherCPU.Seconds(),
				r.loadBefore, r.loadAfter, strings.Join(r.checks, "; "))
			results = append(results, r)
		}
	}
	if len(results) > 0 {
		printSummary(o, results)
	}
	failed := slices.ContainsFunc(results, func(r result) bool { return r.failed })
	if o.profileDir != "" {
		for _, v := range o.variants {
			if v.floor {
				// Not a collector: it has no pprof extension.
				fmt.Printf("%s: not profiled\n", v.name)
				continue
			}
			if err := profile(o, v, tmp); err != nil {
				return fmt.Errorf("variant %s profile: %w", v.name, err)
			}
		}
	}
	if failed {
		return errors.New("some exported totals did not match what was sent")
	}
	return nil
}

func cpuCount() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// collector is a started collector process.
type collector struct {
	cmd        *exec.Cmd
	pid        int
	exited     chan struct{}
	input      string // where loadgen sends, and what answers once the pipeline is up
	podLogs    string // variant accesslog: the pod-log directory loadgen writes and file_log tails
	metricsURL string
	selfURL    string // the collector's own metrics
	pprof      string
	piped      bool         // stdout is a pipe whose lines are counted
	lines      atomic.Int64 // accesslog lines, when piped
	stdoutFile string       // when stdout is a file
	stderrPath string
}

// startCollector starts the variant's collector on free loopback ports.
func startCollector(o *options, v variant, dir string, withPprof bool) (*collector, error) {
	addr := func() string {
		a, err := freeAddr()
		if err != nil {
			fatalf("free port: %v", err)
		}
		return a
	}
	c := &collector{exited: make(chan struct{})}
	metrics, telemetry := addr(), addr()
	c.metricsURL = "http://" + metrics + "/metrics"
	c.selfURL = "http://" + telemetry + "/metrics"
	// The collector's own metrics are on by default (localhost:8888); they
	// stay on, on a free port, so that both collectors pay for them.
	host, port, _ := strings.Cut(telemetry, ":")
	tele := filepath.Join(dir, "telemetry.yaml")
	if err := os.WriteFile(tele, fmt.Appendf(nil,
		"service:\n  telemetry:\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: %s\n                port: %s\n",
		host, port), 0o600); err != nil {
		return nil, err
	}
	var bin string
	var args []string
	switch {
	case v.floor:
		// The driver's own binary is the floor's server.
		p, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("variant %s: the driver's own binary: %w", v.name, err)
		}
		bin, c.input = p, addr()
		c.selfURL = c.metricsURL
		args = []string{floorCommand, c.input, metrics}
	case v.peer:
		bin = o.peer
		c.input = addr()
		args = []string{"--config=file:" + o.peerConfig, "--config=file:" + tele,
			"--set=receivers.otlp.protocols.grpc.endpoint=" + c.input,
			"--set=exporters.prometheus.endpoint=" + metrics}
		if withPprof {
			c.pprof = addr()
			args = append(args, "--set=extensions.pprof.endpoint="+c.pprof, "--set=service.extensions=[pprof]")
		}
	default:
		bin = o.collector
		mixer := addr()
		c.input = mixer
		args = []string{"--config=embedded:default", "--config=file:" + tele,
			"--set=extensions.health_check.endpoint=" + addr(),
			"--set=receivers.mixer.endpoint=" + mixer,
			"--set=exporters.prometheus.endpoint=" + metrics}
		if v.rules != "default" {
			cfg, err := istioRules(v.rules)
			if err != nil {
				return nil, err
			}
			path := filepath.Join(dir, "istio-"+v.rules+".yaml")
			if err := os.WriteFile(path, cfg, 0o600); err != nil {
				return nil, err
			}
			args = append(args, "--set=extensions.istio_config.sources=[{path: "+path+"}]")
		}
		if v.protocol == "otlp" {
			c.input = addr()
			args = append(args, "--set=receivers.otlp.protocols.grpc.endpoint="+c.input,
				"--set=service.pipelines.logs/bags.receivers=[mixer,otlp]")
		}
		// The variants of access-log lines add a pipeline of the
		// DaemonSet's ConfigMap in a file of their own.
		var lines []byte
		var err error
		switch v.protocol {
		case "otel-als":
			c.input = addr()
			lines, err = otelALSConfig(o.configMap, c.input)
		case "accesslog":
			c.podLogs = filepath.Join(dir, "pods")
			lines, err = fileLogConfig(o.configMap, c.podLogs)
		}
		if err != nil {
			return nil, err
		}
		if lines != nil {
			path := filepath.Join(dir, v.protocol+".yaml")
			if err := os.WriteFile(path, lines, 0o600); err != nil {
				return nil, err
			}
			args = append(args, "--config=file:"+path)
		}
		if withPprof {
			// A list replaces the default's: keep its extensions in the list.
			c.pprof = addr()
			args = append(args, "--set=extensions.pprof.endpoint="+c.pprof,
				"--set=service.extensions=[health_check,istio_config,pprof]")
		}
	}
	c.cmd = exec.Command(bin, args...)
	if len(o.env) > 0 {
		c.cmd.Env = append(os.Environ(), o.env...)
	}
	c.stderrPath = filepath.Join(dir, "collector.stderr")
	stderr, err := os.Create(c.stderrPath)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	c.cmd.Stderr = stderr
	var pipe io.ReadCloser
	switch o.stdout {
	case "":
		if pipe, err = c.cmd.StdoutPipe(); err != nil {
			return nil, err
		}
		c.piped = true
	default:
		f, err := os.Create(o.stdout)
		if err != nil {
			return nil, fmt.Errorf("-stdout: %w", err)
		}
		defer f.Close()
		c.cmd.Stdout = f
		if o.stdout != os.DevNull {
			c.stdoutFile = o.stdout
		}
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	c.pid = c.cmd.Process.Pid
	if pipe != nil {
		go c.countLines(pipe)
	}
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	// Receivers start last: once the input port answers, the pipeline is up.
	for _, a := range []string{metrics, c.input} {
		if err := waitListening(a, 30*time.Second, c.exited); err != nil {
			c.stop()
			return nil, fmt.Errorf("%w\n%s", err, c.stderrTail())
		}
	}
	return c, nil
}

// countLines counts the collector's stdout lines and discards them, the way
// a container runtime drains a pod's stdout.
func (c *collector) countLines(r io.Reader) {
	buf := make([]byte, 256<<10)
	for {
		n, err := r.Read(buf)
		c.lines.Add(int64(countNewlines(buf[:n])))
		if err != nil {
			return
		}
	}
}

func countNewlines(b []byte) int {
	n := 0
	for {
		i := slices.Index(b, '\n')
		if i < 0 {
			return n
		}
		n++
		b = b[i+1:]
	}
}

// accessLines is the number of accesslog lines written so far; -1 when
// they cannot be counted (stdout to /dev/null).
func (c *collector) accessLines() (int64, error) {
	switch {
	case c.piped:
		return c.lines.Load(), nil
	case c.stdoutFile == "":
		return -1, nil
	}
	f, err := os.Open(c.stdoutFile)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	r := bufio.NewReaderSize(f, 1<<20)
	buf := make([]byte, 1<<20)
	for {
		k, err := r.Read(buf)
		n += int64(countNewlines(buf[:k]))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

func (c *collector) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

func (c *collector) stderrTail() string {
	b, _ := os.ReadFile(c.stderrPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "collector stderr (end):\n" + string(b)
}

// sent is what one loadgen run reported.
type sent struct {
	reports, refused int
	rate             float64
	cpu              time.Duration
}

var summaryRE = regexp.MustCompile(`: (\d+) reports in \d+ (?:\w+ )?requests in \S+ \((\d+) reports/s\); (\d+) reports refused`)

// paced adds -rate to the arguments of a loadgen run under measurement.
func (o *options) paced(args ...string) []string {
	if o.rate > 0 {
		args = append(args, "--rate", strconv.FormatFloat(o.rate, 'g', -1, 64))
	}
	return args
}

// loadgen runs istiotel loadgen against the collector.
func loadgen(o *options, v variant, c *collector, seed int, extra ...string) (sent, error) {
	dest := []string{"--target", c.input}
	if c.podLogs != "" {
		dest = []string{"--dir", c.podLogs}
	}
	args := append([]string{"loadgen", "--protocol", v.protocol}, dest...)
	args = append(append(args, "--seed", strconv.Itoa(seed), "--start", start, "--batch", strconv.Itoa(o.batch),
		"--progress=false"), extra...)
	cmd := exec.Command(o.istiotel, args...)
	out, err := cmd.CombinedOutput()
	m := summaryRE.FindSubmatch(out)
	if err != nil || m == nil {
		return sent{}, fmt.Errorf("istiotel %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var s sent
	s.reports, _ = strconv.Atoi(string(m[1]))
	s.rate, _ = strconv.ParseFloat(string(m[2]), 64)
	s.refused, _ = strconv.Atoi(string(m[3]))
	s.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if s.refused > 0 {
		return s, fmt.Errorf("collector refused %d reports: %s", s.refused, out)
	}
	return s, nil
}

// measure runs one variant once on a fresh collector.
func measure(o *options, v variant, tmp string) (result, error) {
	r := result{v: v}
	dir, err := os.MkdirTemp(tmp, v.name+"-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	c, err := startCollector(o, v, dir, false)
	if err != nil {
		return r, err
	}
	defer c.stop()

	warm, err := loadgen(o, v, c, warmupSeed, "--requests", strconv.Itoa(o.warmup))
	if err != nil {
		return r, err
	}
	cpu0, _, err := waitIdle(c.pid, o.idleLimit)
	if err != nil {
		return r, err
	}
	busy0, err := systemBusy()
	if err != nil {
		return r, err
	}
	self0 := selfCPU()
	r.loadBefore = loadAvg()

	start := time.Now()
	s, err := loadgen(o, v, c, measuredSeed, o.paced("--requests", strconv.Itoa(o.requests))...)
	if err != nil {
		return r, err
	}
	cpu1, busyUntil, err := waitIdle(c.pid, o.idleLimit)
	if err != nil {
		return r, fmt.Errorf("%w\n%s", err, c.stderrTail())
	}
	busy1, err := systemBusy()
	if err != nil {
		return r, err
	}
	r.loadAfter = loadAvg()
	r.reports, r.busy, r.cpu, r.loadgenCPU = s.reports, busyUntil.Sub(start), cpu1.sub(cpu0), s.cpu
	r.otherCPU = max(0, busy1-busy0-r.cpu.total()-r.loadgenCPU-(selfCPU()-self0))
	if r.hwmKB, err = procStatusKB(c.pid, "VmHWM"); err != nil {
		return r, err
	}
	if r.anonKB, err = procStatusKB(c.pid, "RssAnon"); err != nil {
		return r, err
	}

	// Every report the loadgen sends is an HTTP request report (no TCP).
	want := warm.reports + s.reports
	if v.wantsMetrics() {
		r.expo, err = waitSum(c.metricsURL, "istio_requests_total", float64(want), o.metricsWait)
		total, series := r.expo.sum("istio_requests_total")
		r.checks = append(r.checks, fmt.Sprintf("istio_requests_total %.0f of %d sent (%d series)", total, want, series))
		if err != nil {
			r.failed = true
			r.checks = append(r.checks, err.Error())
		}
	}
	if m := v.countMetric(); m != "" {
		// No output to count: the reports taken in must be every report
		// sent.
		e, err := waitSum(c.selfURL, m, float64(want), o.metricsWait)
		total, _ := e.sum(m)
		r.checks = append(r.checks, fmt.Sprintf("%s %.0f of %d sent", m, total, want))
		if err != nil {
			r.failed = true
			r.checks = append(r.checks, err.Error())
		}
	}
	if v.wantsAccessLog() {
		lines, err := waitLines(c, int64(want), 10*time.Second)
		switch {
		case err != nil:
			return r, err
		case lines < 0:
			r.checks = append(r.checks, "accesslog lines not counted (stdout to /dev/null)")
		default:
			r.checks = append(r.checks, fmt.Sprintf("accesslog %d lines of %d sent", lines, want))
			r.failed = r.failed || lines != int64(want)
		}
	}
	return r, nil
}

// waitSum scrapes url until the sum of metric name reaches want (the
// connector flushes every flush_interval) or limit passes.
func waitSum(url, name string, want float64, limit time.Duration) (exposition, error) {
	deadline := time.Now().Add(limit)
	for {
		e, err := scrape(url)
		if err == nil {
			if total, _ := e.sum(name); total == want {
				return e, nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%s did not reach the reports sent", name)
			}
			return e, fmt.Errorf("after %s: %w", limit, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// bagsInMetric is the rules engine's count of the bags it took in, in the
// collector's own metrics.
const bagsInMetric = "otelcol_istio_rules_bags"

func waitLines(c *collector, want int64, limit time.Duration) (int64, error) {
	deadline := time.Now().Add(limit)
	for {
		n, err := c.accessLines()
		if err != nil || n < 0 || n >= want || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// printSummary prints a Markdown table of the medians per variant, the
// peer's ratio to ours, and whether the expositions agree.
func printSummary(o *options, results []result) {
	fmt.Println()
	pace := "as fast as the collector takes them"
	if o.rate > 0 {
		pace = fmt.Sprintf("at %g page loads/s", o.rate)
	}
	fmt.Printf("%d measured run(s) per variant of %d page loads each, %s, batches of %d; median (min–max)\n\n", o.runs, o.requests, pace, o.batch)
	fmt.Println("| variant | what | collector CPU-µs/report | of which kernel | reports/s | collector CPU, millicores | peak RSS (VmHWM) | RssAnon after the load | loadgen CPU-µs/report | other processes, CPU-s per run | load avg | exported totals |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	medians := map[string]float64{}
	for _, v := range o.variants {
		var rs []result
		for _, r := range results {
			if r.v.name == v.name {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		cpu := collect(rs, result.usPerReport)
		sys := collect(rs, result.systemUsPerReport)
		rate := collect(rs, result.rate)
		mc := collect(rs, result.millicores)
		hwm := collect(rs, func(r result) float64 { return float64(r.hwmKB) / 1024 })
		anon := collect(rs, func(r result) float64 { return float64(r.anonKB) / 1024 })
		lg := collect(rs, func(r result) float64 { return float64(r.loadgenCPU.Microseconds()) / float64(r.reports) })
		other := collect(rs, func(r result) float64 { return r.otherCPU.Seconds() })
		var loads []string
		for _, r := range rs {
			loads = append(loads, r.loadBefore+"→"+r.loadAfter)
		}
		medians[v.name] = median(cpu)
		fmt.Printf("| %s | %s | %.2f (%.2f–%.2f) | %.2f | %.0f | %.0f | %.0f MB | %.0f MB | %.1f | %.1f | %s | %s |\n",
			v.name, v.about, median(cpu), slices.Min(cpu), slices.Max(cpu), median(sys), median(rate), median(mc), slices.Max(hwm), slices.Max(anon),
			median(lg), median(other), strings.Join(loads, ", "), strings.Join(rs[len(rs)-1].checks, "; "))
	}
	if lines := aboveFloor(o.variants, medians); len(lines) > 0 {
		fmt.Println()
		for _, l := range lines {
			fmt.Println(l)
		}
	}
	if peer, ok := medians["peer"]; ok {
		fmt.Println()
		for _, v := range o.variants {
			if ours, ok := medians[v.name]; ok && !v.peer && ours > 0 {
				fmt.Printf("peer / %s: %.1f× the CPU per report\n", v.name, peer/ours)
			}
		}
		compareWithPeer(results)
	}
}

// aboveFloor says, for each measured variant fed Mixer Reports, how much
// CPU per report it spends above the grpc-floor variant's median; nothing
// when the floor was not measured.
func aboveFloor(vs []variant, medians map[string]float64) []string {
	floor, ok := medians["grpc-floor"]
	if !ok || floor <= 0 {
		return nil
	}
	var lines []string
	for _, v := range vs {
		if ours, ok := medians[v.name]; ok && !v.floor && !v.peer && v.protocol == "mixer" {
			lines = append(lines, fmt.Sprintf("%s: %.1f CPU-µs per report over the bare gRPC server's %.1f", v.name, ours-floor, floor))
		}
	}
	return lines
}

// compareWithPeer checks that the peer exported the same istio_* series as
// ours, preferring the variant with the same input and rules.
func compareWithPeer(results []result) {
	var peer, ours *result
	for i := len(results) - 1; i >= 0; i-- {
		r := &results[i]
		switch {
		case r.v.peer && peer == nil:
			peer = r
		case !r.v.peer && r.expo != nil && (ours == nil || r.v.name == "otlp-prom" || (r.v.name == "prom" && ours.v.name != "otlp-prom")):
			ours = r
		}
	}
	if peer == nil || ours == nil || peer.expo == nil {
		return
	}
	n, diffs := compareIstio(ours.expo, peer.expo)
	if len(diffs) == 0 {
		fmt.Printf("exposition: the peer's istio_* series are the same as %s's: %d series, same label sets and values (histogram _sum compared by presence)\n", ours.v.name, n)
		return
	}
	fmt.Printf("exposition: %s (%d istio_* series) and the peer differ:\n", ours.v.name, n)
	for _, d := range diffs {
		fmt.Println("  " + d)
	}
}

func collect(rs []result, f func(result) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
