package tests

import (
	"debug/elf"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// podScript builds, in a mount namespace of its own, the file system the
// DaemonSet's container sees, and runs the collector in it as the
// container runs: a root holding only what the distroless image holds of
// use (the binary, /etc/passwd and /etc/group with nonroot, an empty /tmp)
// and what the kubelet adds (/etc/hosts, /etc/resolv.conf, /proc, /dev,
// /sys), mounted read-only; the pod's volumes at their mount paths (the
// ConfigMap in the kubelet's layout of symbolic links, read-only; the node's
// /var/log/pods, read-only; the checkpoints' emptyDir; the service
// account's token, CA and namespace); then the runtime's last step (POD_EXEC,
// see podExec): the image's user and group and the pod's supplemental
// groups, which leave no capability, no new privileges, and the
// RuntimeDefault seccomp profile. Its arguments are the collector binary
// (the image's is static) and the collector's arguments.
const podScript = `set -eu
root=$POD_ROOT
mount -t tmpfs -o mode=0755 pod-root "$root"
mkdir -p "$root/etc" "$root/tmp" "$root/home/nonroot" "$root/proc" "$root/dev" "$root/sys" \
  "$root/etc/otelcol-istio" "$root/var/log/pods" "$root/var/lib/otelcol-istio" \
  "$root/var/run/secrets/kubernetes.io/serviceaccount"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
cp /etc/hosts /etc/resolv.conf "$root/etc/"
cp "$1" "$root/otelcol-istio"
chmod 0755 "$root/otelcol-istio"
shift
mount --rbind /proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
mount -o remount,bind,ro "$root/sys"

# configMap volume: files under a timestamped directory, ..data links to it, and a link per key.
cm=$root/etc/otelcol-istio
mount -t tmpfs -o mode=0755 configmap "$cm"
mkdir "$cm/..2026_11_27_00_00_00.000000001"
cp "$POD_CONFIGMAP"/* "$cm/..2026_11_27_00_00_00.000000001/"
chmod 0644 "$cm/..2026_11_27_00_00_00.000000001"/*
ln -s ..2026_11_27_00_00_00.000000001 "$cm/..data"
for f in "$POD_CONFIGMAP"/*; do ln -s "..data/$(basename "$f")" "$cm/$(basename "$f")"; done
mount -o remount,ro "$cm"

# hostPath /var/log/pods, read-only; the checkpoints' emptyDir.
mount --bind "$POD_LOGS" "$root/var/log/pods"
mount -o remount,bind,ro "$root/var/log/pods"
mount --bind "$POD_EMPTYDIR" "$root/var/lib/otelcol-istio"

# The projected service account volume.
sa=$root/var/run/secrets/kubernetes.io/serviceaccount
mount -t tmpfs -o mode=0755 serviceaccount "$sa"
cp "$POD_SECRETS"/* "$sa/"
chmod 0644 "$sa"/*
mount -o remount,ro "$sa"

mount -o remount,ro "$root"
# The container's environment has none of this script's variables.
exec env -u POD_ROOT -u POD_CONFIGMAP -u POD_LOGS -u POD_EMPTYDIR -u POD_SECRETS -u POD_USER -u POD_GROUPS -u POD_EXEC \
  "$POD_EXEC" pod-exec "$root" "$POD_USER" "$POD_GROUPS" /otelcol-istio "$@"
`

// TestDaemonSetPod runs the collector as the kubelet runs the DaemonSet's
// container, from what the manifests say: the pod's user, group and
// supplemental groups, no privilege escalation and no capability, the
// RuntimeDefault seccomp profile, a read-only root holding no more than the
// image, the ConfigMap as it is, the node's pod logs, the checkpoints'
// emptyDir and the service account's credentials at their mount paths, the
// container's arguments and environment, a network namespace of the pod's
// own (podNetwork), and the in-cluster connection to a real API server on
// the node's side of it. The kubelet's probes and the Prometheus scrape
// reach the pod's address at the ports the manifests name, and so do the
// Mixer reports, as sidecars reach it through the Services' target port.
// The configuration and the pods must come from the API server under the
// service account, Mixer reports and a pod's access-log line, written
// root:root 0640 as container runtimes write them, must become series, and
// the checkpoints must be written where the emptyDir is.
func TestDaemonSetPod(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: the pod's mounts and user are not set up (TestDeployConfigRuns runs the configuration)")
	}
	if out, err := exec.Command("unshare", "--mount", "true").CombinedOutput(); err != nil {
		t.Skipf("no mount namespace here (unshare --mount: %v %s): the pod is not set up", err, out)
	}
	network := newPodNetwork(t)
	podExec, err := os.Executable() // the test binary is the runtime's last step (podExecArg)
	require.NoError(t, err)
	bin, err := elf.Open(collectorBin)
	require.NoError(t, err)
	for _, p := range bin.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "%s is linked dynamically; the image's binary is static (CGO_ENABLED=0, as make build builds it)", collectorBin)
	}
	bin.Close()
	d := loadDeployment(t)
	spec := d.daemonSet.Spec.Template.Spec
	container := spec.Containers[0]
	api := startAPIServerAt(t, network.NodeIP)
	api.applyDeploy(t)
	api.bookinfoPods(t, []*bookinfo.Workload{bookinfo.ProductPage, bookinfo.Details})
	api.applyFiles(t, doubleRequestCount)

	// What the manifests say of the pod's identity and file system.
	require.NotNil(t, spec.SecurityContext.RunAsUser)
	require.NotNil(t, spec.SecurityContext.RunAsGroup)
	user := fmt.Sprintf("%d:%d", *spec.SecurityContext.RunAsUser, *spec.SecurityContext.RunAsGroup)
	var groups []string
	for _, g := range spec.SecurityContext.SupplementalGroups {
		groups = append(groups, strconv.FormatInt(g, 10))
	}
	require.NotEmpty(t, groups, "the script passes --groups")
	require.False(t, *container.SecurityContext.AllowPrivilegeEscalation, "the script sets no_new_privs as for allowPrivilegeEscalation: false")
	require.True(t, *container.SecurityContext.ReadOnlyRootFilesystem, "the script mounts the root read-only")
	require.Equal(t, []corev1.Capability{"ALL"}, container.SecurityContext.Capabilities.Drop, "a non-root user keeps no capability")
	mounts := map[string]string{} // volume → mount path
	for _, m := range container.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	for _, v := range spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			require.Equal(t, d.configMap.Name, v.ConfigMap.Name)
			require.Equal(t, "/etc/otelcol-istio", mounts[v.Name], "the script's configMap mount")
		case v.HostPath != nil:
			require.Equal(t, "/var/log/pods", v.HostPath.Path, "the script's hostPath")
			require.Equal(t, "/var/log/pods", mounts[v.Name])
		case v.EmptyDir != nil:
			require.Equal(t, "/var/lib/otelcol-istio", mounts[v.Name], "the script's emptyDir")
		default:
			t.Fatalf("volume %s: a kind the script does not mount", v.Name)
		}
	}

	// The volumes' contents, on the node's side.
	configMap := t.TempDir()
	for name, data := range d.configMap.Data {
		require.NoError(t, os.WriteFile(filepath.Join(configMap, name), []byte(data), 0o600))
	}
	logs := t.TempDir()
	require.NoError(t, os.Chmod(logs, 0o755)) // as /var/log/pods is
	emptyDir := t.TempDir()
	require.NoError(t, os.Chmod(emptyDir, 0o777)) // as the kubelet makes an emptyDir
	secrets := t.TempDir()
	ca, err := os.ReadFile(filepath.Join(api.Dir, "ca.crt"))
	require.NoError(t, err)
	for name, data := range map[string]string{"token": api.serviceAccountToken(t, d.account.Namespace, d.account.Name),
		"ca.crt": string(ca), "namespace": d.account.Namespace} {
		require.NoError(t, os.WriteFile(filepath.Join(secrets, name), []byte(data), 0o600))
	}
	host, port, ok := strings.Cut(strings.TrimPrefix(api.URL, "https://"), ":")
	require.True(t, ok, api.URL)

	require.Equal(t, network.NodeIP, host, "the API server on the node's side of the pod's network")

	// The pod's ports, as the kubelet's probes, Prometheus and the Services
	// reach them.
	ports := map[string]string{}
	for _, p := range container.Ports {
		ports[p.Name] = net.JoinHostPort(network.PodIP, strconv.Itoa(int(p.ContainerPort)))
	}
	scrape := d.daemonSet.Spec.Template.Annotations
	require.Equal(t, "true", scrape["prometheus.io/scrape"])
	m := &mixerCollector{Mixer: ports["grpc"],
		Metrics: "http://" + net.JoinHostPort(network.PodIP, scrape["prometheus.io/port"]) + scrape["prometheus.io/path"]}
	for _, svc := range d.services {
		for _, p := range svc.Spec.Ports {
			require.Contains(t, []string{"grpc", "otlp"}, p.TargetPort.String(), "Service %s: the test sends to the grpc and otlp ports", svc.Name)
		}
	}
	m.collector = startCollector(t, collectorOptions{
		Args:      append(container.Command, container.Args...),
		Health:    ports["health"],
		Telemetry: ports["metrics"],
		Prefix: []string{"nsenter", "--net=" + network.Path, "unshare", "--mount", "--propagation", "private",
			"sh", "-c", podScript, "sh"},
		Env: append(deployEnv(t, d), "KUBECONFIG=", "KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port,
			"POD_ROOT="+t.TempDir(), "POD_CONFIGMAP="+configMap, "POD_LOGS="+logs, "POD_EMPTYDIR="+emptyDir,
			"POD_SECRETS="+secrets, "POD_USER="+user, "POD_GROUPS="+strings.Join(groups, ","), "POD_EXEC="+podExec),
	})
	pid := m.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	uid := strconv.FormatInt(*spec.SecurityContext.RunAsUser, 10)
	assert.Regexp(t, `(?m)^Uid:\s+`+uid+`\s+`+uid+`\s+`+uid+`\s+`+uid+`$`, string(status), "the collector's user")
	assert.Regexp(t, `(?m)^Groups:\s+`+strings.Join(groups, " ")+`\s*$`, string(status), "its supplemental groups")
	assert.Regexp(t, `(?m)^CapEff:\s+0+$`, string(status), "its capabilities")
	assert.Regexp(t, `(?m)^NoNewPrivs:\s+1$`, string(status))
	assert.Regexp(t, `(?m)^Seccomp:\s+2$`, string(status), "a seccomp filter")
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	require.NoError(t, err)
	assert.NotContains(t, string(environ), "POD_", "the test's variables in the container's environment")
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, spec.SecurityContext.SeccompProfile.Type,
		"the pod's profile is the one the filter is made from (runtimeDefaultFilter)")
	netns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	require.NoError(t, err)
	self, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	assert.NotEqual(t, self, netns, "the collector runs in the pod's network namespace")
	root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid))
	require.NoError(t, err)
	assert.NotEqual(t, "/", root, "the collector runs in the pod's root")
	for _, dir := range []string{"", "tmp", "etc/otelcol-istio", "var/log/pods", "var/run/secrets/kubernetes.io/serviceaccount"} {
		err := os.WriteFile(filepath.Join(fmt.Sprintf("/proc/%d/root", pid), dir, "written"), nil, 0o600)
		assert.ErrorIs(t, err, syscall.EROFS, "/%s is read-only in the pod", dir)
	}
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/root/etc/otelcol-istio/config.yaml", pid))
	require.NoError(t, err)
	assert.Equal(t, "..data/config.yaml", link, "the configuration is read through the kubelet's links")

	// The kubelet's probes, at the pod's address and the port the manifest
	// names.
	for what, p := range map[string]*corev1.Probe{"startup": container.StartupProbe, "readiness": container.ReadinessProbe, "liveness": container.LivenessProbe} {
		require.NotNil(t, p.HTTPGet, what)
		require.Contains(t, ports, p.HTTPGet.Port.String(), "%s probe: a port of the container", what)
		resp, err := http.Get("http://" + ports[p.HTTPGet.Port.String()] + p.HTTPGet.Path)
		require.NoError(t, err, what)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s probe", what)
	}

	// In-cluster credentials: the configuration and the pods from the API
	// server.
	assert.Contains(t, m.Stderr.String(), `"connection": "in-cluster service account"`)
	waitFor(t, 20*time.Second, "the pod cache and the config from the API server", func() bool {
		return ownMetric(m.collector, "otelcol_istio_config_kubernetes_pods") == 2 &&
			ownMetric(m.collector, "otelcol_istio_config_resources", `kind="handler"`, `status="accepted"`) == 4
	})
	m.report(t, bookinfo.NewGenerator(bookinfo.Options{Seed: 6, MTLS: true}).Next())
	waitFor(t, 20*time.Second, "the double count of productpage → details, its workloads from the pods", func() bool {
		return strings.Contains(m.exposition(t), `istio_double_request_count{destination="details-v1",message="twice the fun!",reporter="server",source="productpage-v1"} 2`)
	})
	for _, refused := range []string{"access denied", "forbidden", "Unauthorized"} {
		assert.NotContains(t, m.Stderr.String(), refused)
	}
	assert.Equal(t, "otelcol_istio_config_kubernetes_api_up 1", metricLines(m.collector, "otelcol_istio_config_kubernetes_api_up"))

	// A line of Envoy's OpenTelemetry access logger, at the otlp port.
	out, code := runBinary(t, istiotelBin, "loadgen", "--protocol", "otel-als", "--target", ports["otlp"], "--requests", "1",
		"--progress=false", "--start", "2020-07-01T10:00:00Z")
	require.Equal(t, 0, code, out)
	waitFor(t, 20*time.Second, "series from the OpenTelemetry access logger's lines", func() bool {
		return counterValue(m.exposition(t), "istio_requests_total", `destination_service="productpage.default.svc.cluster.local"`) > 0
	})

	// A pod's istio-proxy log as containerd leaves it: the file root:root
	// 0640, which the root group lets the collector read.
	podLog := sleepPodLog(logs)
	waitPodLogRead(t, podLog, 0o640, "a series from the pod's access-log line", func() bool {
		return counterValue(m.exposition(t), "istio_requests_total", `destination_service="httpbin.foo.svc.cluster.local"`, `response_code="418"`) > 0
	})
	fi, err := os.Stat(podLog)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	assert.Equal(t, uint32(0), fi.Sys().(*syscall.Stat_t).Gid)
	assert.NotContains(t, m.Stderr.String(), "permission denied")

	// file_log's checkpoints, in the emptyDir, written by the pod's user.
	waitFor(t, 20*time.Second, "a checkpoint file in the emptyDir", func() bool {
		entries, _ := os.ReadDir(filepath.Join(emptyDir, "checkpoints"))
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.Size() > 0 &&
				strconv.FormatUint(uint64(info.Sys().(*syscall.Stat_t).Uid), 10) == uid {
				return true
			}
		}
		return false
	})
}

// podNetwork is a pod's network namespace as a CNI plugin makes it: its own
// loopback and an eth0 whose other end is on the node, each end with an
// address of a /30. The /30 is the first one of 198.18.0.0/15, the range
// RFC 2544 sets aside for benchmarks on a test bench, that no address or
// route of the machine covers, so that the pod's traffic stays on the
// machine and nothing of the machine's is redirected.
type podNetwork struct {
	Path   string // the namespace, for nsenter --net
	NodeIP string // the node's end
	PodIP  string
}

func newPodNetwork(t *testing.T) *podNetwork {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (Debian package iproute2): the pod's network is not set up")
	}
	subnet := freeTestSubnet(t)
	name := fmt.Sprintf("otelcol-istio-pod-%d", os.Getpid())
	node := fmt.Sprintf("oipod%d", os.Getpid()%1000000) // an interface name has at most 15 bytes
	n := &podNetwork{Path: "/run/netns/" + name, NodeIP: subnet.Addr().Next().String(), PodIP: subnet.Addr().Next().Next().String()}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("no network namespace here (ip netns add: %v %s): the pod is not set up", err, out)
	}
	t.Cleanup(func() {
		// Deleting the namespace deletes eth0 and with it the node's end.
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", name, err, out)
		}
	})
	for _, args := range [][]string{
		{"link", "add", node, "type", "veth", "peer", "name", "eth0", "netns", name},
		{"addr", "add", n.NodeIP + "/30", "dev", node},
		{"link", "set", node, "up"},
		{"-n", name, "addr", "add", n.PodIP + "/30", "dev", "eth0"},
		{"-n", name, "link", "set", "eth0", "up"},
		{"-n", name, "link", "set", "lo", "up"},
	} {
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	return n
}

// freeTestSubnet is the first /30 of 198.18.0.0/15 that overlaps no
// address or route of the machine but the default route.
func freeTestSubnet(t *testing.T) netip.Prefix {
	t.Helper()
	var taken []netip.Prefix
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	require.NoError(t, err)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && slices.Contains([]string{"local", "broadcast", "unicast", "anycast", "multicast", "blackhole", "unreachable", "prohibit", "throw"}, f[0]) {
			f = f[1:]
		}
		if len(f) == 0 || f[0] == "default" {
			continue
		}
		if p, err := netip.ParsePrefix(f[0]); err == nil {
			taken = append(taken, p)
		} else if a, err := netip.ParseAddr(f[0]); err == nil {
			taken = append(taken, netip.PrefixFrom(a, 32))
		}
	}
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			taken = append(taken, p.Masked())
		}
	}
	bench := netip.MustParsePrefix("198.18.0.0/15")
	for a := bench.Addr(); bench.Contains(a); a = a.Next().Next().Next().Next() {
		candidate := netip.PrefixFrom(a, 30)
		if !slices.ContainsFunc(taken, candidate.Overlaps) {
			return candidate
		}
	}
	t.Skip("every /30 of 198.18.0.0/15 is in use here: the pod's network is not set up")
	return netip.Prefix{}
}
