package main

import (
	"os"
	"strings"
	"testing"

	"github.com/otelcol-istio/otelcol-istio/confmap/provider/embeddedprovider"
)

// The ocb-generated main gives the collector no default configuration, and it
// must stay untouched so that `make generate` reproduces it. So, before the
// collector parses its flags, a run without any --config (for the root
// command, `validate` and `print-config`) gets --config=embedded:default
// appended; --set flags still apply on top of it.
func init() {
	if !testing.Testing() { // a test binary's flags are not the collector's
		os.Args = withDefaultConfig(os.Args)
	}
}

// flagsWithValue are the collector's flags that take their value as the next
// argument when written without '='.
var flagsWithValue = map[string]bool{"config": true, "set": true, "feature-gates": true}

func withDefaultConfig(args []string) []string {
	if len(args) == 0 {
		return args
	}
	sub := ""
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args
		}
		if !strings.HasPrefix(a, "-") {
			if sub == "" {
				sub = a
			}
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "config":
			return args
		case "h", "help", "v", "version":
			return args
		}
		if flagsWithValue[name] && !hasValue {
			i++ // skip the flag's value
		}
	}
	switch sub {
	case "", "validate", "print-config":
	default:
		return args
	}
	out := make([]string, len(args), len(args)+1)
	copy(out, args)
	return append(out, "--config="+embeddedprovider.DefaultURI)
}
