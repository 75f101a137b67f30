package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-istio/otelcol-istio/internal/accesslog"
	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bagrecord"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/runtime"
	"github.com/otelcol-istio/otelcol-istio/internal/stdiofmt"
)

func init() {
	register("explain", "show why one request does (not) produce a series or log line", runExplain)
}

// runExplain loads a configuration, runs one attribute bag through the rules
// engine without recording anything, and prints the identity namespace, every
// rule's outcome, every instance's fields and the series and log lines the
// bag produces. Exit status: 0, 1 when the configuration has problems (the
// explanation is still printed), 2 for usage errors.
func runExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configs, profiles stringList
	fs.Var(&configs, "config", "Istio config file or directory (repeatable)")
	fs.Var(&profiles, "embedded", "embedded profile to load, e.g. istio-1.1 (repeatable)")
	attrs := fs.String("attributes", "", `JSON file of the bag: {"name":{"type":"STRING","value":…}}`)
	line := fs.String("line", "", "instead of --attributes: an istio-proxy access-log line (kubectl logs POD -c istio-proxy), made into a bag as envoy_access_log makes it")
	pod := fs.String("pod", "", "with --line: NAMESPACE/POD of the proxy that logged it")
	format := fs.String("format", "auto", "with --line: its format, as envoy_access_log's format (auto, istio-1.N or json)")
	ns := fs.String("default-namespace", istioconfig.DefaultConfigNamespace, "default config namespace")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	lang := langFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: istiotel explain --config PATH [--embedded NAME] (--attributes FILE | --line LINE [--pod NS/POD]) [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if (len(configs) == 0 && len(profiles) == 0) || (*attrs == "") == (*line == "") || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	opts, err := buildOptions(*ns, *lang)
	if err != nil {
		fmt.Fprintf(stderr, "istiotel explain: %v\n", err)
		return 2
	}

	sources, err := configSources(profiles, configs)
	if err != nil {
		fmt.Fprintf(stderr, "istiotel explain: --embedded: %v\n", err)
		return 2
	}
	var in istioconfig.Input
	for _, src := range sources {
		got, err := src.Load()
		if err != nil {
			fmt.Fprintf(stderr, "istiotel explain: %v\n", err)
			return 2
		}
		in.Add(got)
	}
	snap := istioconfig.Build(in, opts)
	code := 0
	for _, p := range snap.Problems {
		fmt.Fprintf(stderr, "%s\n", p.Error())
		code = 1
	}

	lr := plog.NewLogRecord()
	if *line != "" {
		if err := lineRecord(lr, *line, *pod, *format); err != nil {
			fmt.Fprintf(stderr, "istiotel explain: --line: %v\n", err)
			return 2
		}
	} else {
		bag := attribute.NewBag(snap.Vocabulary)
		if err := readAttributes(*attrs, bag, stderr); err != nil {
			fmt.Fprintf(stderr, "istiotel explain: --attributes: %v\n", err)
			return 2
		}
		m := bagrecord.InitRecord(lr, time.Time{}, time.Time{}, bag.Len())
		bag.Range(func(id int, v *attribute.Value) bool {
			bagrecord.PutValue(m, snap.Vocabulary.Name(id), *v)
			return true
		})
	}

	ex := runtime.New(snap, runtime.Options{}).Explain(lr)
	lines := stdioLines(snap, ex)
	if *asJSON {
		out := struct {
			runtime.Explanation
			LogLines []string `json:"log_lines"`
		}{ex, lines}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return code
	}
	printExplanation(stdout, ex, lines)
	return code
}

// lineRecord makes lr the bag record of an access-log line, with the
// parser and mapper of the envoy_access_log processor: format as its
// format option, pod (NAMESPACE/POD) as the pod whose log the line is in.
func lineRecord(lr plog.LogRecord, line, pod, format string) error {
	var parser *accesslog.Parser
	if format == "auto" {
		parser = accesslog.NewAutoParser()
	} else {
		f, err := accesslog.Preset(format)
		if err != nil {
			return err
		}
		parser = accesslog.NewParser(f)
	}
	var e accesslog.Entry
	if err := parser.Parse(line, &e); err != nil {
		return err
	}
	mapper := accesslog.NewMapper(accesslog.MapperOptions{})
	var rep *accesslog.Reporter
	if pod != "" {
		ns, name, ok := strings.Cut(pod, "/")
		if !ok || ns == "" || name == "" {
			return fmt.Errorf("--pod %q: want NAMESPACE/POD", pod)
		}
		rep = mapper.Reporter(ns, name)
	}
	w := bagrecord.NewWriter(false)
	w.Reset(1)
	mapper.Record(w, lr, &e, rep)
	return nil
}

// stdioLines renders the records for stdio handlers as the handler would
// write them; records for other adapters are described.
func stdioLines(snap *istioconfig.Snapshot, ex runtime.Explanation) []string {
	var enc stdiofmt.Encoder
	var out []string
	for _, r := range ex.Records {
		h := snap.Handlers[r.Handler]
		if h == nil || h.Stdio == nil {
			b, _ := json.Marshal(r.Record.Attributes().AsRaw())
			out = append(out, fmt.Sprintf("%s (%s, %s): %s %s", r.Handler, r.Adapter, r.Template, r.Record.EventName(), b))
			continue
		}
		kind := stdiofmt.LogEntry
		if r.Template == istioconfig.TemplateMetric {
			kind = stdiofmt.Metric
		}
		line := enc.AppendRecord(nil, r.Record, kind, h.Stdio)
		out = append(out, r.Handler+": "+strings.TrimSuffix(string(line), "\n"))
	}
	return out
}

func printExplanation(w io.Writer, ex runtime.Explanation, lines []string) {
	idns := ex.IdentityNamespace
	if idns == "" {
		idns = "(none)"
	}
	fmt.Fprintf(w, "identity namespace: %s (rules of %s apply to every report)\n", idns, ex.DefaultNamespace)
	fmt.Fprintln(w, "\nrules:")
	for _, r := range ex.Rules {
		state := "matched"
		switch {
		case !r.Applies:
			state = "not applied (namespace " + r.Namespace + ")"
		case r.Error != "":
			state = "error: " + r.Error
		case !r.Matched:
			state = "not matched"
		}
		match := r.Match
		if match == "" {
			match = "(always)"
		} else if r.Language != "" {
			match = "(" + r.Language + ") " + match
		}
		fmt.Fprintf(w, "  %s: %s\n    match: %s\n", r.Rule, state, match)
		for _, a := range r.Actions {
			fmt.Fprintf(w, "    action %s\n", a)
		}
	}
	fmt.Fprintln(w, "\ninstances:")
	if len(ex.Instances) == 0 {
		fmt.Fprintln(w, "  (none built)")
	}
	for _, inst := range ex.Instances {
		fmt.Fprintf(w, "  %s (%s)\n", inst.Instance, inst.Template)
		if inst.Error != "" {
			fmt.Fprintf(w, "    not built: %s\n", inst.Error)
			continue
		}
		names := make([]string, 0, len(inst.Fields))
		for n := range inst.Fields {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "    %s = %s\n", n, inst.Fields[n])
		}
	}
	fmt.Fprintln(w, "\nseries:")
	if len(ex.Series) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, s := range ex.Series {
		if s.Error != "" {
			fmt.Fprintf(w, "  %s via %s: rejected: %s\n", s.Instance, s.Handler, s.Error)
			continue
		}
		var labels []string
		for _, n := range s.SortedLabelNames() {
			labels = append(labels, n+"="+strconv.Quote(s.Labels[n]))
		}
		op := "+="
		switch s.Kind {
		case "GAUGE":
			op = "="
		case "DISTRIBUTION":
			op = "observes"
		}
		fmt.Fprintf(w, "  %s{%s} %s %s\n", s.Metric, strings.Join(labels, ","), op, strconv.FormatFloat(s.Value, 'f', -1, 64))
	}
	fmt.Fprintln(w, "\nlog lines:")
	if len(lines) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
