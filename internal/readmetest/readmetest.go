// Package readmetest reads the YAML examples of a component's README, so
// that the component's tests can check that every example configures it
// validly.
package readmetest // import "github.com/otelcol-istio/otelcol-istio/internal/readmetest"

import (
	"os"
	"regexp"
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"go.yaml.in/yaml/v3"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Configs returns, for every ```yaml block of file that has key (a confmap
// key such as "receivers::mixer"), what the block sets under it, in order.
// Blocks without the key are left out; a block that is not YAML fails t.
func Configs(t testing.TB, file, key string) []*confmap.Conf {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []*confmap.Conf
	for _, b := range yamlBlock.FindAllStringSubmatch(string(raw), -1) {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(b[1]), &doc); err != nil {
			t.Fatalf("%s: a yaml block: %v", file, err)
		}
		conf := confmap.NewFromStringMap(doc)
		if !conf.IsSet(key) {
			continue
		}
		sub, err := conf.Sub(key)
		if err != nil {
			t.Fatalf("%s: %s: %v", file, key, err)
		}
		out = append(out, sub)
	}
	return out
}
