package tests

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// The manifests of deploy/kubernetes (issue 10). Every document is decoded
// strictly into its k8s.io/api type, so a misspelt or misplaced field fails
// here rather than being dropped by the API server; then the objects are
// checked against each other and against the collector configuration they
// carry.

const (
	deployDir       = "../deploy/kubernetes"
	v2Overlay       = "../deploy/telemetry-v2"
	nodeCheckpoints = "../deploy/node-checkpoints"
	grafanaDir      = "../deploy/grafana"
	dockerfilePath  = "../deploy/docker/Dockerfile"
	kubeDocPath     = "../docs/kubernetes.md"
	deployNamespace = "istio-system"
)

// manifestObject is one decoded document.
type manifestObject struct {
	file string
	kind string // apiVersion/kind
	obj  any    // *corev1.ConfigMap, *appsv1.DaemonSet, …
	name string
	ns   string
}

// newTyped returns the Go type a document of apiVersion/kind decodes into.
// CustomResourceDefinitions are not in k8s.io/api (their module would pull
// the API server into go.mod), so they decode into crdMirror, which mirrors
// the apiextensions.k8s.io/v1 fields and is just as strict.
func newTyped(kind string) (any, bool) {
	switch kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, true
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, true
	case "rbac.authorization.k8s.io/v1/ClusterRole":
		return &rbacv1.ClusterRole{}, true
	case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, true
	case "apiextensions.k8s.io/v1/CustomResourceDefinition":
		return &crdMirror{}, true
	}
	return nil, false
}

// crdMirror is apiextensions.k8s.io/v1 CustomResourceDefinition, the fields
// a structural schema of this kind can use.
type crdMirror struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Group string `json:"group"`
		Scope string `json:"scope"`
		Names struct {
			Kind       string   `json:"kind"`
			ListKind   string   `json:"listKind,omitempty"`
			Plural     string   `json:"plural"`
			Singular   string   `json:"singular,omitempty"`
			ShortNames []string `json:"shortNames,omitempty"`
			Categories []string `json:"categories,omitempty"`
		} `json:"names"`
		Versions []struct {
			Name               string  `json:"name"`
			Served             bool    `json:"served"`
			Storage            bool    `json:"storage"`
			Deprecated         bool    `json:"deprecated,omitempty"`
			DeprecationWarning *string `json:"deprecationWarning,omitempty"`
			Subresources       *struct {
				Status *struct{} `json:"status,omitempty"`
				Scale  *struct {
					SpecReplicasPath   string  `json:"specReplicasPath"`
					StatusReplicasPath string  `json:"statusReplicasPath"`
					LabelSelectorPath  *string `json:"labelSelectorPath,omitempty"`
				} `json:"scale,omitempty"`
			} `json:"subresources,omitempty"`
			Schema *struct {
				OpenAPIV3Schema *schemaMirror `json:"openAPIV3Schema"`
			} `json:"schema,omitempty"`
			AdditionalPrinterColumns []struct {
				Name        string `json:"name"`
				Type        string `json:"type"`
				Format      string `json:"format,omitempty"`
				Description string `json:"description,omitempty"`
				Priority    int32  `json:"priority,omitempty"`
				JSONPath    string `json:"jsonPath"`
			} `json:"additionalPrinterColumns,omitempty"`
		} `json:"versions"`
		PreserveUnknownFields bool `json:"preserveUnknownFields,omitempty"`
	} `json:"spec"`
}

// schemaMirror is the subset of JSONSchemaProps a structural schema of this
// kind would use.
type schemaMirror struct {
	Type                  string                  `json:"type,omitempty"`
	Description           string                  `json:"description,omitempty"`
	Format                string                  `json:"format,omitempty"`
	Properties            map[string]schemaMirror `json:"properties,omitempty"`
	AdditionalProperties  *schemaMirror           `json:"additionalProperties,omitempty"`
	Items                 *schemaMirror           `json:"items,omitempty"`
	Required              []string                `json:"required,omitempty"`
	Enum                  []any                   `json:"enum,omitempty"`
	Default               any                     `json:"default,omitempty"`
	Pattern               string                  `json:"pattern,omitempty"`
	Nullable              bool                    `json:"nullable,omitempty"`
	PreserveUnknownFields *bool                   `json:"x-kubernetes-preserve-unknown-fields,omitempty"`
	IntOrString           bool                    `json:"x-kubernetes-int-or-string,omitempty"`
}

// kustomizationMirror is kustomize.config.k8s.io/v1beta1 Kustomization, the
// fields these kustomizations use.
type kustomizationMirror struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources,omitempty"`
	Components []string `json:"components,omitempty"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
	Patches []struct {
		Path   string `json:"path,omitempty"`
		Patch  string `json:"patch,omitempty"`
		Target *struct {
			Group         string `json:"group,omitempty"`
			Version       string `json:"version,omitempty"`
			Kind          string `json:"kind,omitempty"`
			Name          string `json:"name,omitempty"`
			Namespace     string `json:"namespace,omitempty"`
			LabelSelector string `json:"labelSelector,omitempty"`
		} `json:"target,omitempty"`
	} `json:"patches,omitempty"`
	GeneratorOptions *struct {
		Labels                map[string]string `json:"labels,omitempty"`
		Annotations           map[string]string `json:"annotations,omitempty"`
		DisableNameSuffixHash bool              `json:"disableNameSuffixHash,omitempty"`
		Immutable             bool              `json:"immutable,omitempty"`
	} `json:"generatorOptions,omitempty"`
	ConfigMapGenerator []struct {
		Name     string   `json:"name"`
		Behavior string   `json:"behavior,omitempty"`
		Files    []string `json:"files,omitempty"`
		Literals []string `json:"literals,omitempty"`
	} `json:"configMapGenerator,omitempty"`
}

// yamlDocuments splits a multi-document YAML stream, dropping empty documents
// (a leading comment block followed by ---).
func yamlDocuments(t *testing.T, data []byte) [][]byte {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		d, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err)
		var probe map[string]any
		require.NoError(t, sigsyaml.Unmarshal(d, &probe))
		if len(probe) > 0 {
			docs = append(docs, d)
		}
	}
}

// decodeManifests decodes every document of data strictly.
func decodeManifests(t *testing.T, file string, data []byte) []manifestObject {
	t.Helper()
	var out []manifestObject
	for i, d := range yamlDocuments(t, data) {
		var tm metav1.TypeMeta
		require.NoError(t, sigsyaml.Unmarshal(d, &tm), "%s document %d", file, i+1)
		kind := tm.APIVersion + "/" + tm.Kind
		obj, ok := newTyped(kind)
		if !ok {
			t.Errorf("%s document %d: no Go type for %s: add it to newTyped", file, i+1, kind)
			continue
		}
		if err := sigsyaml.UnmarshalStrict(d, obj); err != nil {
			t.Errorf("%s document %d (%s): %v", file, i+1, kind, err)
			continue
		}
		var meta struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		require.NoError(t, sigsyaml.Unmarshal(d, &meta))
		out = append(out, manifestObject{file: filepath.Base(file), kind: kind, obj: obj,
			name: meta.Metadata.Name, ns: meta.Metadata.Namespace})
	}
	return out
}

// deployment is everything in deploy/kubernetes, decoded.
type deployment struct {
	kustomization kustomizationMirror
	objects       []manifestObject
	files         []string // *.yaml other than the kustomization

	daemonSet  *appsv1.DaemonSet
	configMap  *corev1.ConfigMap
	collector  collectorConfig
	services   map[string]*corev1.Service
	account    *corev1.ServiceAccount
	roles      map[string]*rbacv1.ClusterRole
	bindings   []*rbacv1.ClusterRoleBinding
	crdPlurals []string
}

func loadDeployment(t *testing.T) *deployment {
	t.Helper()
	d := &deployment{services: map[string]*corev1.Service{}, roles: map[string]*rbacv1.ClusterRole{}}
	k, err := os.ReadFile(filepath.Join(deployDir, "kustomization.yaml"))
	require.NoError(t, err)
	require.NoError(t, sigsyaml.UnmarshalStrict(k, &d.kustomization), "kustomization.yaml")
	files, err := filepath.Glob(filepath.Join(deployDir, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		d.files = append(d.files, filepath.Base(f))
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		d.objects = append(d.objects, decodeManifests(t, f, data)...)
	}
	for _, o := range d.objects {
		switch v := o.obj.(type) {
		case *appsv1.DaemonSet:
			require.Nil(t, d.daemonSet, "more than one DaemonSet")
			d.daemonSet = v
		case *corev1.ConfigMap:
			require.Nil(t, d.configMap, "more than one ConfigMap")
			d.configMap = v
		case *corev1.Service:
			d.services[v.Name] = v
		case *corev1.ServiceAccount:
			d.account = v
		case *rbacv1.ClusterRole:
			d.roles[v.Name] = v
		case *rbacv1.ClusterRoleBinding:
			d.bindings = append(d.bindings, v)
		case *crdMirror:
			d.crdPlurals = append(d.crdPlurals, v.Spec.Names.Plural)
		}
	}
	require.NotNil(t, d.daemonSet, "no DaemonSet in %s", deployDir)
	require.NotNil(t, d.configMap, "no ConfigMap in %s", deployDir)
	require.NotNil(t, d.account, "no ServiceAccount in %s", deployDir)
	d.collector = parseCollectorConfig(t, d.configMap.Data["config.yaml"])
	return d
}

// collectorConfig is what the tests need from the collector configuration.
type collectorConfig struct {
	raw       string
	ports     map[string]int // component → port of its endpoint
	fileGlobs []string       // file_log include patterns
	// file_storage's directory, where file_log's storage names it
	checkpoints string
	components  map[string]bool
	// memory_limiter's limit_percentage, 0 without one
	memoryLimitPercentage int
}

func parseCollectorConfig(t *testing.T, raw string) collectorConfig {
	t.Helper()
	require.NotEmpty(t, raw, "the ConfigMap has no config.yaml")
	var c struct {
		Extensions map[string]map[string]any `yaml:"extensions"`
		Receivers  map[string]map[string]any `yaml:"receivers"`
		Processors map[string]map[string]any `yaml:"processors"`
		Exporters  map[string]map[string]any `yaml:"exporters"`
		Service    struct {
			Telemetry struct {
				Metrics struct {
					Readers []struct {
						Pull struct {
							Exporter struct {
								Prometheus struct {
									Port int `yaml:"port"`
								} `yaml:"prometheus"`
							} `yaml:"exporter"`
						} `yaml:"pull"`
					} `yaml:"readers"`
				} `yaml:"metrics"`
			} `yaml:"telemetry"`
		} `yaml:"service"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(raw), &c))
	cc := collectorConfig{raw: raw, ports: map[string]int{}, components: map[string]bool{}}
	for kind, group := range map[string]map[string]map[string]any{
		"extensions": c.Extensions, "receivers": c.Receivers, "processors": c.Processors, "exporters": c.Exporters,
	} {
		for name, conf := range group {
			cc.components[kind+"/"+name] = true
			ep, _ := conf["endpoint"].(string)
			if ep == "" {
				continue
			}
			_, port, err := net.SplitHostPort(ep)
			require.NoError(t, err, "%s %s endpoint %q", kind, name, ep)
			cc.ports[name], err = strconv.Atoi(port)
			require.NoError(t, err)
		}
	}
	// The otlp receiver's endpoint is its protocol's.
	if otlp, ok := c.Receivers["otlp"]; ok {
		grpc, _ := otlp["protocols"].(map[string]any)["grpc"].(map[string]any)
		ep, _ := grpc["endpoint"].(string)
		_, port, err := net.SplitHostPort(ep)
		require.NoError(t, err, "receiver otlp grpc endpoint %q", ep)
		cc.ports["otlp"], err = strconv.Atoi(port)
		require.NoError(t, err)
	}
	for _, r := range c.Service.Telemetry.Metrics.Readers {
		if p := r.Pull.Exporter.Prometheus.Port; p != 0 {
			cc.ports["telemetry"] = p
		}
	}
	if ml, ok := c.Processors["memory_limiter"]; ok {
		cc.memoryLimitPercentage, _ = ml["limit_percentage"].(int)
	}
	if fl, ok := c.Receivers["file_log"]; ok {
		for _, g := range fl["include"].([]any) {
			cc.fileGlobs = append(cc.fileGlobs, g.(string))
		}
		if st, _ := fl["storage"].(string); st != "" {
			ext, ok := c.Extensions[st]
			require.True(t, ok, "file_log's storage %s is not an extension", st)
			cc.checkpoints, _ = ext["directory"].(string)
			require.NotEmpty(t, cc.checkpoints, "extension %s has no directory", st)
		}
	}
	return cc
}

func TestDeployManifestsDecodeStrictly(t *testing.T) {
	d := loadDeployment(t)
	t.Run("kustomization lists every manifest", func(t *testing.T) {
		assert.ElementsMatch(t, d.files, d.kustomization.Resources,
			"every *.yaml in %s must be a resource of its kustomization, and only those", deployDir)
	})
	t.Run("namespaces", func(t *testing.T) {
		for _, o := range d.objects {
			switch o.kind {
			case "v1/Namespace", "rbac.authorization.k8s.io/v1/ClusterRole",
				"rbac.authorization.k8s.io/v1/ClusterRoleBinding", "apiextensions.k8s.io/v1/CustomResourceDefinition":
				assert.Empty(t, o.ns, "%s %s %s is cluster-scoped", o.file, o.kind, o.name)
			default:
				assert.Equal(t, deployNamespace, o.ns, "%s %s %s", o.file, o.kind, o.name)
			}
		}
	})
	t.Run("the strict decoder refuses unknown fields", func(t *testing.T) {
		// Guards the test itself: a decoder that let this through would
		// make every check above vacuous.
		bad := []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  internalTraficPolicy: Local\n")
		err := sigsyaml.UnmarshalStrict(bad, &corev1.Service{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "internalTraficPolicy")
	})
}

func TestDeployDaemonSet(t *testing.T) {
	d := loadDeployment(t)
	ds := d.daemonSet
	pod := ds.Spec.Template.Spec
	require.Len(t, pod.Containers, 1, "one collector container")
	c := pod.Containers[0]
	portByName := map[string]int32{}
	var portNumbers []int
	for _, p := range c.Ports {
		portByName[p.Name] = p.ContainerPort
		portNumbers = append(portNumbers, int(p.ContainerPort))
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}

	t.Run("selector matches the pod labels", func(t *testing.T) {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		require.NoError(t, err)
		assert.True(t, sel.Matches(labels.Set(ds.Spec.Template.Labels)))
	})
	t.Run("no sidecar", func(t *testing.T) {
		// A sidecar would capture the reports the collector is meant to receive.
		assert.Equal(t, "false", ds.Spec.Template.Labels["sidecar.istio.io/inject"])
	})
	t.Run("every endpoint of the configuration is a container port", func(t *testing.T) {
		for name, port := range d.collector.ports {
			assert.Contains(t, portNumbers, port, "%s listens on %d", name, port)
		}
		for _, name := range []string{"mixer", "prometheus", "health_check", "telemetry"} {
			assert.Contains(t, d.collector.ports, name, "the configuration has no %s endpoint", name)
		}
	})
	t.Run("probes ask health_check", func(t *testing.T) {
		for what, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			require.NotNil(t, p, "no %s probe", what)
			require.NotNil(t, p.HTTPGet, "%s probe is not an HTTP GET", what)
			port := p.HTTPGet.Port.IntVal
			if p.HTTPGet.Port.StrVal != "" {
				port = portByName[p.HTTPGet.Port.StrVal]
			}
			assert.EqualValues(t, d.collector.ports["health_check"], port, "%s probe port", what)
			assert.Equal(t, "/", p.HTTPGet.Path, "%s probe path", what)
		}
	})
	t.Run("scrape annotations name the prometheus exporter", func(t *testing.T) {
		a := ds.Spec.Template.Annotations
		assert.Equal(t, "true", a["prometheus.io/scrape"])
		assert.Equal(t, strconv.Itoa(d.collector.ports["prometheus"]), a["prometheus.io/port"])
	})
	t.Run("runs the ConfigMap's configuration", func(t *testing.T) {
		require.Len(t, c.Args, 1)
		path, ok := strings.CutPrefix(c.Args[0], "--config=file:")
		require.True(t, ok, "args %v", c.Args)
		var found bool
		for _, v := range pod.Volumes {
			m, mounted := mounts[v.Name]
			if v.ConfigMap == nil || !mounted {
				continue
			}
			assert.Equal(t, d.configMap.Name, v.ConfigMap.Name)
			key, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
			require.True(t, ok, "config path %s is not under %s", path, m.MountPath)
			assert.Contains(t, d.configMap.Data, key)
			found = true
		}
		assert.True(t, found, "no ConfigMap volume is mounted")
	})
	t.Run("host paths are read-only and cover file_log", func(t *testing.T) {
		var hostMounts []string
		for _, v := range pod.Volumes {
			if v.HostPath == nil {
				continue
			}
			m, ok := mounts[v.Name]
			require.True(t, ok, "hostPath volume %s is not mounted", v.Name)
			assert.True(t, m.ReadOnly, "hostPath %s is mounted writable", v.HostPath.Path)
			assert.Equal(t, v.HostPath.Path, m.MountPath, "hostPath %s is mounted elsewhere, so log paths would not match", v.HostPath.Path)
			hostMounts = append(hostMounts, m.MountPath)
		}
		require.NotEmpty(t, d.collector.fileGlobs, "file_log reads nothing")
		for _, g := range d.collector.fileGlobs {
			assert.True(t, slices.ContainsFunc(hostMounts, func(m string) bool { return strings.HasPrefix(g, m+"/") }),
				"file_log path %s is not under a hostPath mount %v", g, hostMounts)
		}
	})
	// The root filesystem is read-only: file_log's checkpoints need a
	// volume of their own, one that outlives the container.
	t.Run("file_log's checkpoints are on a writable volume", func(t *testing.T) {
		require.NotEmpty(t, d.collector.checkpoints, "file_log keeps no checkpoints")
		var found bool
		for _, v := range pod.Volumes {
			m, ok := mounts[v.Name]
			if !ok || !strings.HasPrefix(d.collector.checkpoints+"/", strings.TrimSuffix(m.MountPath, "/")+"/") {
				continue
			}
			found = true
			assert.False(t, m.ReadOnly, "volume %s is mounted read-only", v.Name)
			assert.True(t, v.EmptyDir != nil || v.HostPath != nil, "volume %s does not outlive the container", v.Name)
		}
		assert.True(t, found, "no volume holds %s", d.collector.checkpoints)
	})
	t.Run("non-root, read-only root filesystem, no privileges", func(t *testing.T) {
		psc, sc := pod.SecurityContext, c.SecurityContext
		require.NotNil(t, psc)
		require.NotNil(t, sc)
		assert.True(t, ptrTrue(psc.RunAsNonRoot), "runAsNonRoot")
		require.NotNil(t, psc.RunAsUser)
		assert.NotZero(t, *psc.RunAsUser, "runAsUser")
		assert.True(t, ptrTrue(sc.ReadOnlyRootFilesystem), "readOnlyRootFilesystem")
		require.NotNil(t, sc.AllowPrivilegeEscalation)
		assert.False(t, *sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation")
		require.NotNil(t, sc.Capabilities)
		assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
		assert.Empty(t, sc.Capabilities.Add)
		assert.False(t, pod.HostNetwork || pod.HostPID || pod.HostIPC, "host namespaces")
	})
	t.Run("resources", func(t *testing.T) {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			assert.Contains(t, c.Resources.Requests, r, "request")
		}
		assert.Contains(t, c.Resources.Limits, corev1.ResourceMemory, "memory limit (memory_limiter works from it)")
		assert.Contains(t, d.collector.components, "processors/memory_limiter")
	})
	env := envOf(c)
	t.Run("Go heap limit under the memory_limiter's", func(t *testing.T) {
		limit, err := goMemLimitBytes(env["GOMEMLIMIT"])
		require.NoError(t, err)
		require.Positive(t, d.collector.memoryLimitPercentage)
		mem := c.Resources.Limits[corev1.ResourceMemory]
		refuseAt := mem.Value() * int64(d.collector.memoryLimitPercentage) / 100
		assert.Less(t, limit, refuseAt,
			"GOMEMLIMIT %s must stay under the memory_limiter's limit (%d%% of %s)", env["GOMEMLIMIT"], d.collector.memoryLimitPercentage, mem.String())
		gogc, err := strconv.Atoi(env["GOGC"])
		require.NoError(t, err, "GOGC")
		assert.GreaterOrEqual(t, gogc, 100, "GOGC under Go's default collects more often, not less")
	})
	t.Run("GODEBUG schedtrace keeps sysmon awake without tracing", func(t *testing.T) {
		godebug := env["GODEBUG"]
		settings := map[string]string{}
		for f := range strings.SplitSeq(godebug, ",") {
			k, v, ok := strings.Cut(f, "=")
			require.True(t, ok, "GODEBUG %q: %q is not name=value", godebug, f)
			settings[k] = v
		}
		require.Contains(t, settings, "schedtrace", "GODEBUG %q", godebug)
		// Go ignores a value that does not fit an int32, which would silently bring back
		// sysmon's deep sleeps; a short interval prints a trace line to the log that often.
		ms, err := strconv.ParseInt(settings["schedtrace"], 10, 32)
		require.NoError(t, err, "schedtrace must fit Go's int32 or Go ignores it")
		assert.GreaterOrEqual(t, ms, int64(24*time.Hour/time.Millisecond), "schedtrace is an interval in ms; shorter ones fill the log")
	})
	t.Run("service account", func(t *testing.T) {
		assert.Equal(t, d.account.Name, pod.ServiceAccountName)
	})
	t.Run("image is the kustomization's", func(t *testing.T) {
		require.Len(t, d.kustomization.Images, 1)
		assert.Equal(t, d.kustomization.Images[0].Name+":"+d.kustomization.Images[0].NewTag, c.Image)
	})
	t.Run("profile variable", func(t *testing.T) {
		profile := env["ISTIO_TELEMETRY_PROFILE"]
		assert.Contains(t, istioconfig.ProfileNames(), profile)
		assert.Contains(t, d.collector.raw, "${env:ISTIO_TELEMETRY_PROFILE:-"+profile+"}",
			"the configuration's default profile and the DaemonSet's must agree")
	})
}

func TestDeployServices(t *testing.T) {
	d := loadDeployment(t)
	pod := d.daemonSet.Spec.Template
	ports := map[string]int32{}
	for _, p := range pod.Spec.Containers[0].Ports {
		ports[p.Name] = p.ContainerPort
	}
	type servicePort struct {
		port       int32
		targetPort int // the collector configuration's port
	}
	cases := []struct {
		name        string
		ports       []servicePort
		localPolicy bool
	}{
		// Istio 1.x sidecars: mesh config mixerReportServer.
		{"istio-telemetry", []servicePort{{9091, d.collector.ports["mixer"]}}, false},
		// Current sidecars, node-local: envoyHttpAls / envoyTcpAls, and
		// envoyOtelAls.
		{"otelcol-istio", []servicePort{{9091, d.collector.ports["mixer"]}, {4317, d.collector.ports["otlp"]}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := d.services[tc.name]
			require.NotNil(t, s, "no Service %s", tc.name)
			assert.Equal(t, deployNamespace, s.Namespace)
			require.NotEmpty(t, s.Spec.Selector)
			assert.True(t, labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)), "selector %v does not select the collector", s.Spec.Selector)
			require.Len(t, s.Spec.Ports, len(tc.ports))
			for i, want := range tc.ports {
				p := s.Spec.Ports[i]
				assert.Equal(t, want.port, p.Port)
				target := p.TargetPort.IntVal
				if p.TargetPort.StrVal != "" {
					target = ports[p.TargetPort.StrVal]
				}
				assert.EqualValues(t, want.targetPort, target, "port %s: target port", p.Name)
				assert.True(t, strings.HasPrefix(p.Name, "grpc"), "port name %s: Istio picks the protocol from the prefix", p.Name)
				require.NotNil(t, p.AppProtocol)
				assert.Equal(t, "grpc", *p.AppProtocol)
			}
			if tc.localPolicy {
				require.NotNil(t, s.Spec.InternalTrafficPolicy)
				assert.Equal(t, corev1.ServiceInternalTrafficPolicyLocal, *s.Spec.InternalTrafficPolicy)
			}
		})
	}
	t.Run("Local needs a collector on every node", func(t *testing.T) {
		tolerateAll := slices.ContainsFunc(pod.Spec.Tolerations, func(tl corev1.Toleration) bool {
			return tl.Operator == corev1.TolerationOpExists && tl.Key == "" && tl.Effect == ""
		})
		assert.True(t, tolerateAll, "the DaemonSet must tolerate every taint, or sidecars on tainted nodes lose their ALS")
	})
}

func TestDeployRBAC(t *testing.T) {
	d := loadDeployment(t)
	// Every ClusterRole bound to the collector's service account counts:
	// rbac.yaml has the config source's, rbac-enrichment.yaml the pod
	// cache's.
	var rules []rbacv1.PolicyRule
	for _, b := range d.bindings {
		if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == d.account.Name && s.Namespace == d.account.Namespace
		}) {
			continue
		}
		require.Equal(t, "ClusterRole", b.RoleRef.Kind)
		role := d.roles[b.RoleRef.Name]
		require.NotNil(t, role, "binding %s refers to ClusterRole %s, which is not in the manifests", b.Name, b.RoleRef.Name)
		rules = append(rules, role.Rules...)
	}
	require.NotEmpty(t, rules, "the service account is bound to no ClusterRole")
	allows := func(group, resource, verb string) bool {
		return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb)
		})
	}
	type access struct{ group, resource string }
	var want []access
	for _, r := range istioconfig.KubernetesResources {
		want = append(want, access{"config.istio.io", r})
	}
	want = append(want, access{"", "pods"}, access{"apps", "replicasets"})
	for _, w := range want {
		for _, verb := range []string{"get", "list", "watch"} {
			assert.True(t, allows(w.group, w.resource, verb), "cannot %s %s.%s", verb, w.resource, w.group)
		}
	}
	t.Run("read-only", func(t *testing.T) {
		for _, r := range rules {
			for _, v := range r.Verbs {
				assert.Contains(t, []string{"get", "list", "watch"}, v, "rule %v", r)
			}
		}
	})
	t.Run("the CRDs are the watched kinds", func(t *testing.T) {
		assert.ElementsMatch(t, istioconfig.KubernetesResources, d.crdPlurals)
	})
}

// TestDeployConfigValidates runs `otelcol-istio validate` on the ConfigMap's
// configuration, with each embedded profile.
func TestDeployConfigValidates(t *testing.T) {
	d := loadDeployment(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(d.collector.raw), 0o600))
	for _, profile := range append([]string{""}, istioconfig.ProfileNames()...) {
		name := profile
		if name == "" {
			name = "default of the configuration"
		}
		t.Run(name, func(t *testing.T) {
			var env []string
			if profile != "" {
				env = append(env, "ISTIO_TELEMETRY_PROFILE="+profile)
			}
			out, code := runBinaryEnv(t, env, collectorBin, "validate", "--config=file:"+path)
			assert.Equal(t, 0, code, "otelcol-istio validate of the ConfigMap's config.yaml:\n%s", out)
		})
	}
}

// deployRun says how startDeployCollector runs the ConfigMap's configuration.
type deployRun struct {
	LogDir     string   // stands in for /var/log/pods
	Kubernetes bool     // keep the kubernetes config source (there is a cluster)
	Env        []string // on top of the DaemonSet container's environment
	Args       []string // further arguments (--set=…)
}

// deployEndpoints are the loopback addresses deployConfig moves the
// ConfigMap's listeners to.
type deployEndpoints struct{ Health, Mixer, OTLP, Prometheus string }

// deployConfig is the ConfigMap's configuration moved to free loopback
// ports, and, with logDir, its file paths to logDir and a temporary
// checkpoint directory; without, they stay for a pod's mounts to provide.
func deployConfig(t *testing.T, d *deployment, logDir string, kubernetes bool) (string, deployEndpoints) {
	t.Helper()
	var conf map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(d.collector.raw), &conf))
	at := deployEndpoints{
		Health:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		Mixer:      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		OTLP:       fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		Prometheus: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	set := func(value any, path ...any) {
		t.Helper()
		var node any = conf
		for i, key := range path {
			last := i == len(path)-1
			switch n := node.(type) {
			case map[string]any:
				k := key.(string)
				_, ok := n[k]
				require.True(t, ok, "the configuration has no %v", path[:i+1])
				if last {
					n[k] = value
				} else {
					node = n[k]
				}
			case []any:
				idx := key.(int)
				require.Less(t, idx, len(n), "the configuration has no %v", path[:i+1])
				if last {
					n[idx] = value
				} else {
					node = n[idx]
				}
			default:
				t.Fatalf("%v is not a map or list", path[:i])
			}
		}
	}
	set(at.Health, "extensions", "health_check", "endpoint")
	set(at.Mixer, "receivers", "mixer", "endpoint")
	set(at.OTLP, "receivers", "otlp", "protocols", "grpc", "endpoint")
	set(at.Prometheus, "exporters", "prometheus", "endpoint")
	if logDir != "" {
		set([]any{filepath.Join(logDir, "*", "istio-proxy", "*.log")}, "receivers", "file_log", "include")
		set(filepath.Join(t.TempDir(), "checkpoints"), "extensions", "file_storage", "directory")
	}
	// The harness moves the collector's own metrics to a free port.
	set("200ms", "connectors", "istio_rules", "flush_interval")
	if !kubernetes {
		sources := conf["extensions"].(map[string]any)["istio_config"].(map[string]any)["sources"].([]any)
		sources = slices.DeleteFunc(sources, func(s any) bool { _, kube := s.(map[string]any)["kubernetes"]; return kube })
		set(sources, "extensions", "istio_config", "sources")
	}
	out, err := yaml.Marshal(conf)
	require.NoError(t, err)
	return string(out), at
}

// deployEnv is the DaemonSet container's environment.
func deployEnv(t *testing.T, d *deployment) []string {
	t.Helper()
	var env []string
	for _, e := range d.daemonSet.Spec.Template.Spec.Containers[0].Env {
		require.Nil(t, e.ValueFrom, "env %s: only literal values run here", e.Name)
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// startDeployCollector runs the ConfigMap's configuration itself, moved to
// loopback ports, r.LogDir and a temporary checkpoint directory, with the
// DaemonSet container's environment (Go's settings, the profile), so that
// the collector runs as the DaemonSet runs it.
func startDeployCollector(t *testing.T, d *deployment, r deployRun) *mixerCollector {
	t.Helper()
	conf, at := deployConfig(t, d, r.LogDir, r.Kubernetes)
	c := startCollector(t, collectorOptions{Config: conf, Health: at.Health, Env: append(deployEnv(t, d), r.Env...), Args: r.Args})
	return &mixerCollector{collector: c, Mixer: at.Mixer, Metrics: "http://" + at.Prometheus + "/metrics"}
}

// taskLogLine is istio.io's access-log task's request (sleep → httpbin
// /status/418) as the client side's istio-proxy logs it.
const taskLogLine = `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`

// sleepPodLog is the istio-proxy log of the task's sleep pod under a
// directory that stands in for /var/log/pods.
func sleepPodLog(logDir string) string {
	return filepath.Join(logDir, "foo_sleep-dd98b5f48-djwdw_0b8b1f5e-1d2c-4c3b-9a4f-5e6d7c8b9a0f", "istio-proxy", "0.log")
}

// waitPodLogRead writes taskLogLine to the pod log at path as containerd
// writes it (directories 0755, the file created with mode), once file_log
// has made its first poll, and waits until cond holds. The file is created
// after the collector started, so file_log reads it from its start although
// the configuration says start_at: end (which applies to the files there at
// startup); should a slow machine's first poll have seen it after all, it
// was read from its end, so the line is written again every 5 s.
func waitPodLogRead(t *testing.T, path string, mode os.FileMode, what string, cond func() bool) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	write := func() {
		fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, mode)
		require.NoError(t, err)
		_, err = fh.WriteString(time.Now().UTC().Format(time.RFC3339Nano) + " stdout F " + taskLogLine + "\n")
		require.NoError(t, err)
		require.NoError(t, fh.Close())
	}
	time.Sleep(time.Second) // past file_log's first poll
	write()
	last := time.Now()
	waitFor(t, 30*time.Second, what, func() bool {
		if time.Since(last) > 5*time.Second {
			write()
			last = time.Now()
		}
		return cond()
	})
}

// TestDeployConfigRuns runs the ConfigMap's configuration itself, moved to
// loopback ports and a temporary /var/log/pods, without its kubernetes
// source (there is no cluster): Mixer reports over gRPC and an istio-proxy
// access-log line in a pod log must both become series, and the log entries
// must reach stdout.
func TestDeployConfigRuns(t *testing.T) {
	d := loadDeployment(t)
	logDir := t.TempDir()
	// Outside a cluster workload enrichment stays off by itself; an
	// inherited KUBECONFIG would turn it on.
	m := startDeployCollector(t, d, deployRun{LogDir: logDir, Env: []string{"KUBECONFIG="}})

	// Mixer reports: a Bookinfo page load.
	bags := bookinfo.NewGenerator(bookinfo.Options{Seed: 3, Enriched: true, MTLS: true}).Next()
	m.report(t, bags)

	// An access-log line in a pod log.
	waitPodLogRead(t, sleepPodLog(logDir), 0o644, "series from the Mixer reports and from the access-log line", func() bool {
		var mixerSeries, fileSeries bool
		for _, l := range strings.Split(m.exposition(t), "\n") {
			if !strings.HasPrefix(l, "istio_requests_total{") {
				continue
			}
			mixerSeries = mixerSeries || strings.Contains(l, `destination_service="productpage.default.svc.cluster.local"`)
			fileSeries = fileSeries || (strings.Contains(l, `destination_service="httpbin.foo.svc.cluster.local"`) && strings.Contains(l, `response_code="418"`))
		}
		return mixerSeries && fileSeries
	})
	waitFor(t, 10*time.Second, "accesslog entries on stdout", func() bool {
		return strings.Count(m.Stdout.String(), `"instance":"accesslog.logentry.istio-system"`) >= len(bags)+1
	})
	// The line's reporter is the pod whose log it is: envoy_access_log reads
	// it from the file's path, as the container parser is told not to.
	assert.Contains(t, m.Stdout.String(), `"sourceName":"sleep-dd98b5f48-djwdw","sourceNamespace":"foo"`)
	resp, err := http.Get("http://" + m.Telemetry + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Contains(t, string(body), "otelcol_receiver_accepted_log_records", "the collector's own metrics")

	// GODEBUG's schedtrace interval is counted from the machine's boot: on
	// one up for less than it, the runtime prints no trace line at all.
	if up, err := os.ReadFile("/proc/uptime"); err == nil {
		if secs, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64); err == nil && secs < float64(math.MaxInt32)/1000 {
			assert.NotContains(t, m.Stderr.String(), "SCHED ", "a scheduler trace line in the log")
		}
	}
}

// TestDeployKustomize renders the kustomizations with kubectl, when it is
// installed (Debian has no kubectl package, so it may well not be), and
// decodes the output strictly.
func TestDeployKustomize(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed: `kubectl kustomize` not checked (the manifests are still decoded strictly by the other tests)")
	}
	d := loadDeployment(t)
	render := func(t *testing.T, dir string) []manifestObject {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectl, "kustomize", dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "kubectl kustomize %s: %s", dir, stderr.String())
		return decodeManifests(t, "kustomize "+dir, out)
	}
	t.Run("deploy/kubernetes", func(t *testing.T) {
		got := render(t, deployDir)
		assert.Len(t, got, len(d.objects), "rendered objects")
		for _, o := range got {
			if ds, ok := o.obj.(*appsv1.DaemonSet); ok {
				assert.Equal(t, d.daemonSet.Spec.Template.Spec.Containers[0].Image, ds.Spec.Template.Spec.Containers[0].Image)
			}
		}
	})
	t.Run("deploy/telemetry-v2", func(t *testing.T) {
		got := render(t, v2Overlay)
		assert.Len(t, got, len(d.objects), "rendered objects")
		var profile string
		for _, o := range got {
			if ds, ok := o.obj.(*appsv1.DaemonSet); ok {
				for _, e := range ds.Spec.Template.Spec.Containers[0].Env {
					if e.Name == "ISTIO_TELEMETRY_PROFILE" {
						profile = e.Value
					}
				}
				assert.Len(t, ds.Spec.Template.Spec.Containers[0].Env, len(d.daemonSet.Spec.Template.Spec.Containers[0].Env),
					"the patch replaces the variable rather than adding one")
			}
		}
		assert.Equal(t, "istio-telemetry-v2", profile)
	})
	// The component, used as its comment says, puts the checkpoint volume
	// on the node and gives it to the collector's user before it starts.
	t.Run("deploy/node-checkpoints", func(t *testing.T) {
		dir := t.TempDir()
		rel := func(p string) string {
			abs, err := filepath.Abs(p)
			require.NoError(t, err)
			r, err := filepath.Rel(dir, abs)
			require.NoError(t, err)
			return r
		}
		k := fmt.Sprintf("resources: [%s]\ncomponents: [%s]\n", rel(deployDir), rel(nodeCheckpoints))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600))
		got := render(t, dir)
		assert.Len(t, got, len(d.objects), "rendered objects")
		var ds *appsv1.DaemonSet
		for _, o := range got {
			if o, ok := o.obj.(*appsv1.DaemonSet); ok {
				ds = o
			}
		}
		require.NotNil(t, ds)
		pod := ds.Spec.Template.Spec
		var vol *corev1.Volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == "checkpoints" {
				vol = &pod.Volumes[i]
			}
		}
		require.NotNil(t, vol, "no checkpoints volume")
		require.NotNil(t, vol.HostPath, "the checkpoints are not on the node")
		assert.Nil(t, vol.EmptyDir, "the emptyDir is replaced, not kept beside")
		require.Len(t, pod.InitContainers, 1)
		init := pod.InitContainers[0]
		require.Len(t, init.VolumeMounts, 1)
		assert.Equal(t, "checkpoints", init.VolumeMounts[0].Name)
		assert.Equal(t, []string{"chown", fmt.Sprintf("%d:%d", *pod.SecurityContext.RunAsUser, *pod.SecurityContext.RunAsGroup), init.VolumeMounts[0].MountPath},
			init.Command, "the collector's user gets the directory it writes")
		require.NotNil(t, init.SecurityContext)
		assert.Equal(t, []corev1.Capability{"CHOWN"}, init.SecurityContext.Capabilities.Add, "chown and nothing else")
		mount := mountPath(pod.Containers[0], "checkpoints")
		assert.Equal(t, init.VolumeMounts[0].MountPath, mount)
		assert.True(t, strings.HasPrefix(d.collector.checkpoints, mount+"/"), "file_storage writes under %s", mount)
	})
	t.Run("deploy/grafana", func(t *testing.T) {
		got := render(t, grafanaDir)
		dashboards, err := filepath.Glob(filepath.Join(grafanaDir, "dashboards", "*.json"))
		require.NoError(t, err)
		require.Len(t, got, len(dashboards), "one ConfigMap per dashboard")
		for _, o := range got {
			cm, ok := o.obj.(*corev1.ConfigMap)
			require.True(t, ok, "%s is not a ConfigMap", o.kind)
			assert.Equal(t, "1", cm.Labels["grafana_dashboard"], "%s: the Grafana sidecar loads only labelled ConfigMaps", cm.Name)
			assert.Equal(t, deployNamespace, cm.Namespace)
			assert.Len(t, cm.Data, 1)
		}
	})
}

// TestDockerfile checks what can be checked of the image build without
// docker: a static build, a distroless or scratch base, the DaemonSet's user,
// ports and Go version.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(dockerfilePath)
	require.NoError(t, err)
	df := string(data)
	d := loadDeployment(t)
	froms := regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`).FindAllStringSubmatch(df, -1)
	require.GreaterOrEqual(t, len(froms), 2, "a build stage and a runtime stage")
	final := froms[len(froms)-1][1]
	assert.Regexp(t, `^(gcr\.io/distroless/static|scratch)`, final, "runtime base")

	goMod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	require.NotNil(t, goVersion)
	assert.Equal(t, "golang:"+string(goVersion[1]), froms[0][1], "the builder's Go is go.mod's")

	assert.Regexp(t, `CGO_ENABLED=0 [^\n]*\n?\s*go build [^\n]*\./cmd/otelcol-istio`, df, "static build of the collector")
	user := regexp.MustCompile(`(?m)^USER\s+(\d+)`).FindStringSubmatch(df)
	require.NotNil(t, user, "USER with a numeric id (runAsNonRoot needs one to check)")
	assert.Equal(t, user[1], strconv.FormatInt(*d.daemonSet.Spec.Template.Spec.SecurityContext.RunAsUser, 10), "image user = DaemonSet runAsUser")

	expose := regexp.MustCompile(`(?m)^EXPOSE\s+(.+)$`).FindStringSubmatch(df)
	require.NotNil(t, expose)
	var containerPorts []string
	for _, p := range d.daemonSet.Spec.Template.Spec.Containers[0].Ports {
		containerPorts = append(containerPorts, strconv.Itoa(int(p.ContainerPort)))
	}
	assert.ElementsMatch(t, containerPorts, strings.Fields(expose[1]))
	assert.Contains(t, df, `ENTRYPOINT ["/otelcol-istio"]`)

	// The image's Go runtime setting is the DaemonSet's, for containers run
	// without the manifests.
	env := regexp.MustCompile(`(?m)^ENV\s+GODEBUG=(\S+)$`).FindStringSubmatch(df)
	require.NotNil(t, env, "ENV GODEBUG")
	if godebug, ok := envOf(d.daemonSet.Spec.Template.Spec.Containers[0])["GODEBUG"]; ok {
		assert.Equal(t, godebug, env[1], "GODEBUG of the image and of the DaemonSet")
	}
}

// envOf is a container's environment by name.
func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

// TestKubernetesDocWiring decodes the Istio configuration snippets of
// docs/kubernetes.md strictly (field names of istio.io/api's MeshConfig and
// Telemetry) and checks that they point at the Services in the manifests.
func TestKubernetesDocWiring(t *testing.T) {
	doc, err := os.ReadFile(kubeDocPath)
	require.NoError(t, err)
	d := loadDeployment(t)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	var providers []string
	var sawMesh, sawTelemetry, sawMixer, sawOtel, sawALSv2 bool
	for _, b := range blocks {
		for _, y := range yamlDocuments(t, b[1]) {
			switch {
			case bytes.Contains(y, []byte("extensionProviders:")):
				var m struct {
					MeshConfig struct {
						ExtensionProviders []alsProvider `json:"extensionProviders"`
					} `json:"meshConfig"`
				}
				require.NoError(t, sigsyaml.UnmarshalStrict(y, &m), "MeshConfig snippet:\n%s", y)
				for _, p := range m.MeshConfig.ExtensionProviders {
					for _, als := range []*alsTarget{p.EnvoyHTTPALS, p.EnvoyTCPALS} {
						if als == nil {
							continue
						}
						assert.Equal(t, "otelcol-istio."+deployNamespace+".svc.cluster.local", als.Service, "provider %s", p.Name)
						assert.EqualValues(t, d.services["otelcol-istio"].Spec.Ports[0].Port, als.Port, "provider %s", p.Name)
					}
					if otel := p.EnvoyOtelALS; otel != nil {
						assert.Equal(t, "otelcol-istio."+deployNamespace+".svc.cluster.local", otel.Service, "provider %s", p.Name)
						var port int32
						for _, sp := range d.services["otelcol-istio"].Spec.Ports {
							if sp.TargetPort.StrVal == "otlp" {
								port = sp.Port
							}
						}
						assert.EqualValues(t, port, otel.Port, "provider %s: the Service's port of the otlp receiver", p.Name)
						// What envoy_access_log reads the proxy's pod from.
						assert.Equal(t, map[string]string{"k8s.pod.name": "%ENVIRONMENT(POD_NAME)%", "k8s.namespace.name": "%ENVIRONMENT(POD_NAMESPACE)%"},
							otel.LogFormat.Labels, "provider %s", p.Name)
						sawOtel = true
					}
					providers = append(providers, p.Name)
				}
				sawMesh = true
			case bytes.Contains(y, []byte("kind: Telemetry")):
				var tm struct {
					APIVersion string            `json:"apiVersion"`
					Kind       string            `json:"kind"`
					Metadata   metav1.ObjectMeta `json:"metadata"`
					Spec       struct {
						AccessLogging []struct {
							Providers []struct {
								Name string `json:"name"`
							} `json:"providers"`
							Match *struct {
								Mode string `json:"mode"`
							} `json:"match,omitempty"`
							Filter *struct {
								Expression string `json:"expression"`
							} `json:"filter,omitempty"`
							Disabled *bool `json:"disabled,omitempty"`
						} `json:"accessLogging"`
					} `json:"spec"`
				}
				require.NoError(t, sigsyaml.UnmarshalStrict(y, &tm), "Telemetry snippet:\n%s", y)
				assert.Equal(t, "telemetry.istio.io/v1", tm.APIVersion)
				for _, a := range tm.Spec.AccessLogging {
					for _, p := range a.Providers {
						assert.Contains(t, providers, p.Name, "the Telemetry resource names a provider the MeshConfig snippet does not define")
					}
				}
				sawTelemetry = true
			case bytes.Contains(y, []byte("envoyAccessLogService:")):
				var m struct {
					MeshConfig struct {
						EnableEnvoyAccessLogService bool `json:"enableEnvoyAccessLogService"`
						DefaultConfig               struct {
							EnvoyAccessLogService struct {
								Address string `json:"address"`
							} `json:"envoyAccessLogService"`
						} `json:"defaultConfig"`
					} `json:"meshConfig"`
				}
				require.NoError(t, sigsyaml.UnmarshalStrict(y, &m), "ALS v2 mesh config snippet:\n%s", y)
				assert.True(t, m.MeshConfig.EnableEnvoyAccessLogService)
				assert.Equal(t, net.JoinHostPort("otelcol-istio."+deployNamespace+".svc.cluster.local", strconv.Itoa(int(d.services["otelcol-istio"].Spec.Ports[0].Port))),
					m.MeshConfig.DefaultConfig.EnvoyAccessLogService.Address)
				sawALSv2 = true
			case bytes.Contains(y, []byte("mixerReportServer:")):
				var m struct {
					MixerReportServer string `json:"mixerReportServer"`
				}
				require.NoError(t, sigsyaml.UnmarshalStrict(y, &m), "mesh config snippet:\n%s", y)
				host, port, err := net.SplitHostPort(m.MixerReportServer)
				require.NoError(t, err)
				assert.Equal(t, "istio-telemetry."+deployNamespace+".svc.cluster.local", host)
				assert.Equal(t, strconv.Itoa(int(d.services["istio-telemetry"].Spec.Ports[0].Port)), port)
				sawMixer = true
			}
		}
	}
	assert.True(t, sawMesh, "no MeshConfig extensionProviders example in %s", kubeDocPath)
	assert.True(t, sawTelemetry, "no Telemetry example in %s", kubeDocPath)
	assert.True(t, sawMixer, "no mixerReportServer example in %s", kubeDocPath)
	assert.True(t, sawOtel, "no envoyOtelAls example in %s", kubeDocPath)
	assert.True(t, sawALSv2, "no envoyAccessLogService (ALS v2) example in %s", kubeDocPath)
}

// alsProvider is a MeshConfig.ExtensionProvider (istio.io/api v1.31) with
// the two ALS kinds and the OpenTelemetry access logger.
type alsProvider struct {
	Name         string      `json:"name"`
	EnvoyHTTPALS *alsTarget  `json:"envoyHttpAls,omitempty"`
	EnvoyTCPALS  *alsTarget  `json:"envoyTcpAls,omitempty"`
	EnvoyOtelALS *otelTarget `json:"envoyOtelAls,omitempty"`
}

// otelTarget is MeshConfig.ExtensionProvider.EnvoyOpenTelemetryLogProvider.
type otelTarget struct {
	Service   string `json:"service"`
	Port      int    `json:"port"`
	LogName   string `json:"logName,omitempty"`
	LogFormat struct {
		Text   string            `json:"text,omitempty"`
		Labels map[string]string `json:"labels,omitempty"`
	} `json:"logFormat"`
}

type alsTarget struct {
	Service                         string   `json:"service"`
	Port                            int      `json:"port"`
	LogName                         string   `json:"logName,omitempty"`
	FilterStateObjectsToLog         []string `json:"filterStateObjectsToLog,omitempty"`
	AdditionalRequestHeadersToLog   []string `json:"additionalRequestHeadersToLog,omitempty"`
	AdditionalResponseHeadersToLog  []string `json:"additionalResponseHeadersToLog,omitempty"`
	AdditionalResponseTrailersToLog []string `json:"additionalResponseTrailersToLog,omitempty"`
}

func ptrTrue(b *bool) bool { return b != nil && *b }

// runBinaryEnv is runBinary with extra environment variables.
func runBinaryEnv(t *testing.T, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running %s %s: %v", bin, strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// goMemLimitBytes reads a GOMEMLIMIT value: a byte count with an optional
// B, KiB, MiB, GiB or TiB suffix, as the Go runtime reads it.
func goMemLimitBytes(v string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	shift := uint(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("GOMEMLIMIT %q is not a positive byte count", v)
	}
	return n << shift, nil
}

// The node-checkpoints component's patch, checked without kubectl: a
// DaemonSet patch that decodes strictly and names the collector's own
// checkpoint volume and mount path.
func TestNodeCheckpointsComponent(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(nodeCheckpoints, "kustomization.yaml"))
	require.NoError(t, err)
	var k struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Patches    []struct {
			Patch string `json:"patch"`
		} `json:"patches"`
	}
	require.NoError(t, sigsyaml.UnmarshalStrict(data, &k))
	assert.Equal(t, "kustomize.config.k8s.io/v1alpha1/Component", k.APIVersion+"/"+k.Kind)
	require.Len(t, k.Patches, 1)
	objs := decodeManifests(t, "node-checkpoints patch", []byte(k.Patches[0].Patch))
	require.Len(t, objs, 1)
	patch, ok := objs[0].obj.(*appsv1.DaemonSet)
	require.True(t, ok, "the patch is a %s", objs[0].kind)
	d := loadDeployment(t)
	assert.Equal(t, d.daemonSet.Name, objs[0].name)
	assert.Equal(t, d.daemonSet.Namespace, objs[0].ns)

	mount := mountPath(d.daemonSet.Spec.Template.Spec.Containers[0], "checkpoints")
	require.NotEmpty(t, mount, "the DaemonSet mounts no checkpoints volume")
	spec := patch.Spec.Template.Spec
	require.Len(t, spec.Volumes, 1)
	assert.Equal(t, "checkpoints", spec.Volumes[0].Name)
	require.NotNil(t, spec.Volumes[0].HostPath)
	assert.Equal(t, mount, spec.Volumes[0].HostPath.Path, "the same path on the node as in the container")
	require.Len(t, spec.InitContainers, 1)
	assert.Equal(t, mount, spec.InitContainers[0].Command[len(spec.InitContainers[0].Command)-1], "chown's target")
	// The checkpoint database is locked by the pod that has it open: a
	// surge would start the new pod beside the old one on each node.
	if ru := d.daemonSet.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxSurge != nil {
		assert.Zero(t, ru.MaxSurge.IntValue(), "the rolling update surges")
	}
}

// mountPath is where c mounts the volume named volume, "" if nowhere.
func mountPath(c corev1.Container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}
