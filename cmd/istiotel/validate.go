package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
	"github.com/otelcol-istio/otelcol-istio/internal/runtime"
)

func init() {
	register("validate", "check Istio config files (YAML/JSON, files or directories) offline", runValidate)
}

// profileFlags collects repeated -embedded flags.
type profileFlags []string

func (p *profileFlags) String() string     { return strings.Join(*p, ",") }
func (p *profileFlags) Set(v string) error { *p = append(*p, v); return nil }

// langFlag adds -lang, the override of the extension's language option.
func langFlag(fs *flag.FlagSet) *string {
	return fs.String("lang", "", "expression language of every rule and instance but OTTL ones, "+
		"as the istio_config extension's language option and Mixer's ISTIO_LANG: CEXL, COMPAT or CEL "+
		"(default: each resource's policy.istio.io/lang annotation)")
}

// buildOptions returns the options both commands build a snapshot with.
func buildOptions(ns, lang string) (istioconfig.BuildOptions, error) {
	o := istioconfig.BuildOptions{DefaultNamespace: ns, CompileOTTL: runtime.CheckOTTL}
	l, ok := istioconfig.ParseLang(lang)
	if !ok {
		return o, fmt.Errorf("-lang %s: want CEXL, COMPAT or CEL", lang)
	}
	o.Language = l
	return o, nil
}

// runValidate loads the given files and directories with the code the
// istio_config extension uses and prints every problem as
// file:line: kind/namespace/name: field: message. Exit status: 0 when there
// is no problem, 1 when there is, 2 for a usage error.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: istiotel validate [flags] PATH...")
		fmt.Fprintln(stderr, "\nChecks config.istio.io/v1alpha2 resources (rule, instance, handler, attributemanifest,")
		fmt.Fprintln(stderr, "metric, logentry, prometheus, stdio) in files and directories (*.yaml, *.yml, *.json).")
		fmt.Fprintln(stderr, "Without any attributemanifest, expressions are checked against Istio's default attributes.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	ns := fs.String("default-namespace", istioconfig.DefaultConfigNamespace,
		"default config namespace: its rules apply everywhere; resources without a namespace go there")
	var profiles profileFlags
	fs.Var(&profiles, "embedded", "also load an embedded profile first, e.g. istio-1.1 (repeatable; known: "+
		strings.Join(istioconfig.ProfileNames(), ", ")+")")
	quiet := fs.Bool("q", false, "print problems only: no unsupported resources, no summary")
	lang := langFlag(fs)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 && len(profiles) == 0 {
		fs.Usage()
		return 2
	}
	opts, err := buildOptions(*ns, *lang)
	if err != nil {
		fmt.Fprintf(stderr, "istiotel validate: %v\n", err)
		return 2
	}

	var in istioconfig.Input
	sources, err := configSources(profiles, fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "istiotel validate: -embedded: %v\n", err)
		return 2
	}
	unreadable := 0
	for _, src := range sources {
		got, err := src.Load()
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", src, err)
			unreadable++
			continue
		}
		in.Add(got)
	}
	snap := istioconfig.Build(in, opts)
	for _, p := range snap.Problems {
		fmt.Fprintln(stdout, p.Error())
	}
	if !*quiet {
		for _, u := range snap.Unsupported {
			loc := ""
			if u.File != "" {
				loc = fmt.Sprintf("%s:%d: ", u.File, u.Line)
			}
			fmt.Fprintf(stdout, "%s%s/%s/%s: not used: %s\n", loc, u.Kind, u.Namespace, u.Name, u.Reason)
		}
		c := snap.Counts
		fmt.Fprintf(stdout, "%d accepted, %d rejected, %d unsupported; %d problem%s; %d rules, %d instances, %d handlers\n",
			c.Accepted, c.Rejected, c.Unsupported, len(snap.Problems)+unreadable, plural(len(snap.Problems)+unreadable),
			len(snap.Rules), len(snap.Instances), len(snap.Handlers))
		if snap.DefaultVocabulary {
			fmt.Fprintln(stdout, "(no attributemanifest given: expressions were checked against Istio's default attributes)")
		}
	}
	if len(snap.Problems) > 0 || unreadable > 0 {
		return 1
	}
	return 0
}

// configSources returns the embedded profiles, then the files and
// directories, as the istio_config extension would read them.
func configSources(profiles, paths []string) ([]istioconfig.Source, error) {
	var sources []istioconfig.Source
	for _, p := range profiles {
		src, err := istioconfig.NewEmbeddedSource(p)
		if err != nil {
			return nil, err
		}
		sources = append(sources, src)
	}
	for _, path := range paths {
		sources = append(sources, istioconfig.NewFileSource(path))
	}
	return sources, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
