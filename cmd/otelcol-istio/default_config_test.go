package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWithDefaultConfig(t *testing.T) {
	const def = "--config=embedded:default"
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no args", []string{"otelcol-istio"}, []string{"otelcol-istio", def}},
		{"config given", []string{"otelcol-istio", "--config=file:x.yaml"}, []string{"otelcol-istio", "--config=file:x.yaml"}},
		{"config given separately", []string{"otelcol-istio", "--config", "x.yaml"}, []string{"otelcol-istio", "--config", "x.yaml"}},
		{"single dash config", []string{"otelcol-istio", "-config=x.yaml"}, []string{"otelcol-istio", "-config=x.yaml"}},
		{"set only", []string{"otelcol-istio", "--set", "a.b=c"}, []string{"otelcol-istio", "--set", "a.b=c", def}},
		{"validate", []string{"otelcol-istio", "validate"}, []string{"otelcol-istio", "validate", def}},
		{"validate with config", []string{"otelcol-istio", "validate", "--config=f.yaml"}, []string{"otelcol-istio", "validate", "--config=f.yaml"}},
		{"print-config", []string{"otelcol-istio", "print-config"}, []string{"otelcol-istio", "print-config", def}},
		{"components", []string{"otelcol-istio", "components"}, []string{"otelcol-istio", "components"}},
		{"featuregate", []string{"otelcol-istio", "featuregate"}, []string{"otelcol-istio", "featuregate"}},
		{"help", []string{"otelcol-istio", "--help"}, []string{"otelcol-istio", "--help"}},
		{"version", []string{"otelcol-istio", "-v"}, []string{"otelcol-istio", "-v"}},
		{"feature gates value is not a subcommand", []string{"otelcol-istio", "--feature-gates", "x"}, []string{"otelcol-istio", "--feature-gates", "x", def}},
		{"terminator", []string{"otelcol-istio", "--"}, []string{"otelcol-istio", "--"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, withDefaultConfig(tt.args))
		})
	}
}
