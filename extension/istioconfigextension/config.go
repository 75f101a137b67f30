package istioconfigextension // import "github.com/otelcol-istio/otelcol-istio/extension/istioconfigextension"

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// Config is the configuration of the istio_config extension.
type Config struct {
	// Sources are read in order; a resource defined by two sources is a
	// duplicate, and the first definition wins.
	Sources []SourceConfig `mapstructure:"sources"`
	// DefaultConfigNamespace is Mixer's --configDefaultNamespace: its rules
	// apply to every report, and resources without a namespace land in it.
	DefaultConfigNamespace string `mapstructure:"default_config_namespace"`
	// Debounce is how long sources must be quiet before a change is applied.
	Debounce time.Duration `mapstructure:"debounce"`
	// Language, CEXL, COMPAT or CEL in any letter case, is the expression
	// language of every rule and instance whatever its policy.istio.io/lang
	// annotation (but OTTL), as Mixer's ISTIO_LANG environment variable
	// made it. Empty follows the annotations.
	Language string `mapstructure:"language"`
	// KubernetesEnrichment configures the pod cache of kubernetesenv
	// handlers (enrichment.go).
	KubernetesEnrichment KubernetesEnrichmentConfig `mapstructure:"kubernetes_enrichment"`
}

// SourceConfig is one source; exactly one field is set.
type SourceConfig struct {
	// Embedded names a profile built into the binary (istio-1.1).
	Embedded string `mapstructure:"embedded"`
	// Path is a file, or a directory of *.yaml, *.yml and *.json files.
	Path string `mapstructure:"path"`
	// Kubernetes watches config.istio.io/v1alpha2 resources in the cluster.
	Kubernetes *KubernetesConfig `mapstructure:"kubernetes"`
}

// KubernetesConfig configures the Kubernetes source. The connection is the
// pod's service account in a cluster, else KUBECONFIG.
type KubernetesConfig struct {
	// Namespaces to watch; empty means all.
	Namespaces []string `mapstructure:"namespaces"`
}

func createDefaultConfig() *Config {
	return &Config{
		Sources:                []SourceConfig{{Embedded: "istio-1.1"}},
		DefaultConfigNamespace: istioconfig.DefaultConfigNamespace,
		Debounce:               istioconfig.DefaultDebounce,
	}
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Sources) == 0 {
		errs = append(errs, errors.New("sources: give at least one source (embedded, path or kubernetes)"))
	}
	kube := 0
	for i, s := range c.Sources {
		n := 0
		if s.Embedded != "" {
			n++
			if _, err := istioconfig.Profile(s.Embedded); err != nil {
				errs = append(errs, fmt.Errorf("sources[%d]: embedded: %w", i, err))
			}
		}
		if s.Path != "" {
			n++
		}
		if s.Kubernetes != nil {
			n++
			kube++
			for _, ns := range s.Kubernetes.Namespaces {
				if !dnsLabel.MatchString(ns) {
					errs = append(errs, fmt.Errorf("sources[%d]: kubernetes: namespaces: %q is not a valid namespace name", i, ns))
				}
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("sources[%d]: set exactly one of embedded, path and kubernetes (for all namespaces write kubernetes: {})", i))
		}
	}
	if kube > 1 {
		errs = append(errs, errors.New("sources: give at most one kubernetes source (list its namespaces instead)"))
	}
	if c.DefaultConfigNamespace == "" || !dnsLabel.MatchString(c.DefaultConfigNamespace) {
		errs = append(errs, fmt.Errorf("default_config_namespace: %q is not a valid namespace name", c.DefaultConfigNamespace))
	}
	if c.Debounce < 0 {
		errs = append(errs, errors.New("debounce: must not be negative"))
	}
	if _, ok := istioconfig.ParseLang(c.Language); !ok {
		errs = append(errs, fmt.Errorf("language: %q is not supported: give CEXL, COMPAT or CEL, or leave it out to follow each resource's %s annotation", c.Language, istioconfig.LangAnnotation))
	}
	errs = append(errs, c.KubernetesEnrichment.validate()...)
	return errors.Join(errs...)
}

func (s SourceConfig) String() string {
	switch {
	case s.Embedded != "":
		return "embedded " + s.Embedded
	case s.Path != "":
		return "path " + s.Path
	case s.Kubernetes != nil:
		return "kubernetes " + strings.Join(s.Kubernetes.Namespaces, ",")
	}
	return "empty source"
}
