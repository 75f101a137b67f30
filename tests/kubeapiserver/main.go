// Command kubeapiserver runs a real Kubernetes control-plane API server for
// the end-to-end tests: kube-apiserver (k8s.io/kubernetes, the released
// code) on an embedded etcd, both on loopback, with RBAC authorization and
// service-account tokens, so that the manifests in deploy/kubernetes, their
// RBAC and the collector's informers meet the server they are written for.
// There is no kubelet, scheduler or controller manager: objects are stored
// and served, nothing runs them.
//
// It is a module of its own so that the collector's module does not depend on
// k8s.io/kubernetes.
//
//	kubeapiserver -dir DIR [-address IP -port P -etcd-port P -etcd-peer-port P]
//	              [-watch-cache=false -compaction-interval D]
//
// writes DIR/admin.kubeconfig (a token in system:masters) and DIR/ca.crt,
// prints "ready https://IP:PORT" once /readyz answers, and runs until it is
// signalled. IP is 127.0.0.1 unless -address names another of the
// machine's addresses, one that a pod's network namespace reaches, say;
// etcd stays on loopback. -watch-cache=false and a short
// -compaction-interval make a watch resumed from an old version meet etcd's
// compacted history (410 Gone) within seconds, not after the watch cache's
// window and five minutes.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	dir := flag.String("dir", "", "working directory: etcd's data, certificates, keys, the admin kubeconfig")
	address := flag.String("address", "127.0.0.1", "the API server's address: where it listens, what it advertises, an IP of its certificate")
	port := flag.Int("port", 0, "the API server's port (0: a free one)")
	etcdPort := flag.Int("etcd-port", 0, "etcd's client port on 127.0.0.1 (0: a free one)")
	etcdPeerPort := flag.Int("etcd-peer-port", 0, "etcd's peer port on 127.0.0.1 (0: a free one)")
	watchCache := flag.Bool("watch-cache", true, "serve watches from the API server's cache (kube-apiserver --watch-cache)")
	compaction := flag.Duration("compaction-interval", 5*time.Minute, "how often the API server compacts etcd's history (kube-apiserver --etcd-compaction-interval)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "kubeapiserver: -dir is required")
		os.Exit(2)
	}
	ports := []int{*etcdPort, *etcdPeerPort, *port}
	if net.ParseIP(*address) == nil {
		fmt.Fprintf(os.Stderr, "kubeapiserver: -address %q is not an IP address\n", *address)
		os.Exit(2)
	}
	extra := []string{"--watch-cache=" + strconv.FormatBool(*watchCache), "--etcd-compaction-interval=" + compaction.String()}
	if err := run(*dir, *address, ports, extra); err != nil {
		fmt.Fprintln(os.Stderr, "kubeapiserver:", err)
		os.Exit(1)
	}
}

// run serves at address until it is signalled; ports are etcd's client and
// peer ports and the API server's, 0 where any free one will do; extra are
// further kube-apiserver flags.
func run(dir, address string, ports []int, extra []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := fillFreePorts("127.0.0.1", ports[:2]); err != nil {
		return err
	}
	if err := fillFreePorts(address, ports[2:]); err != nil {
		return err
	}
	etcd, err := startEtcd(filepath.Join(dir, "etcd"), ports[0], ports[1])
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()

	// A restart on the same directory keeps the keys and the admin token,
	// so that the tokens issued before stay valid, as in a cluster.
	saKey := filepath.Join(dir, "service-account.key")
	if _, err := os.Stat(saKey); errors.Is(err, os.ErrNotExist) {
		if err := writeRSAKey(saKey); err != nil {
			return err
		}
	}
	tokens := filepath.Join(dir, "tokens.csv")
	token, err := adminToken(tokens)
	if err != nil {
		return err
	}
	certDir := filepath.Join(dir, "certs")
	server := "https://" + net.JoinHostPort(address, strconv.Itoa(ports[2]))

	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(append([]string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(ports[0]),
		"--bind-address=" + address,
		"--advertise-address=" + address,
		"--secure-port=" + strconv.Itoa(ports[2]),
		"--cert-dir=" + certDir,
		"--token-auth-file=" + tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saKey,
		"--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		// Pods are stored, never run: no service account token volumes to
		// mount, and no queueing of a test's handful of requests.
		"--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false",
		// The "kubernetes" Service's endpoints would be the loopback
		// address, which the reconciler refuses; nothing here calls it.
		"--endpoint-reconciler-type=none",
	}, extra...))
	served := make(chan error, 1)
	go func() { served <- cmd.ExecuteContext(ctx) }()

	// The serving certificate is self-signed and written when the server
	// starts; it is the clients' CA.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case err := <-served:
			return fmt.Errorf("kube-apiserver ended before it was ready: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("kube-apiserver not ready within 2 minutes")
		}
		ok, err := ready(server, filepath.Join(certDir, "apiserver.crt"), token)
		if err != nil {
			return err
		}
		if ok {
			break
		}
	}
	ca, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "admin.kubeconfig"), []byte(kubeconfig(server, filepath.Join(dir, "ca.crt"), token)), 0o600); err != nil {
		return err
	}
	fmt.Println("ready", server)

	select {
	case err := <-served:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("kube-apiserver: %v", err)
	case <-ctx.Done():
		// ExecuteContext shuts the server down on cancellation, but drains
		// open watches for up to a minute; a test server need not wait for
		// its clients: after 5 s the process ends and their connections
		// with it, as when a control-plane node goes away.
		select {
		case <-served:
			return nil
		case <-time.After(5 * time.Second):
			// etcd's Close would wait for the API server's connections
			// too; its log is synced on every commit, so ending here
			// loses nothing.
			os.Exit(0)
			return nil
		}
	}
}

// ready reports whether /readyz answers 200. A missing certificate means the
// server has not written it yet.
func ready(server, caFile, token string) (bool, error) {
	pemCA, err := os.ReadFile(caFile)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return false, nil // written, not yet whole
	}
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	req, err := http.NewRequest(http.MethodGet, server+"/readyz", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return false, nil
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

func startEtcd(dir string, clientPort, peerPort int) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.LogLevel = "error"
	client := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(clientPort)}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(peerPort)}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(time.Minute):
		e.Close()
		return nil, errors.New("not ready within a minute")
	}
}

// fillFreePorts replaces each 0 in ports with a port of address that was
// free a moment ago, all different.
func fillFreePorts(address string, ports []int) error {
	for i := range ports {
		if ports[i] != 0 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(address, "0"))
		if err != nil {
			return err
		}
		defer l.Close() // held until all are chosen, so none is chosen twice
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return nil
}

func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
}

// adminToken returns the admin's token from the static token file, writing
// the file with a new random token when there is none.
func adminToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		token, _, ok := strings.Cut(string(b), ",")
		if !ok {
			return "", fmt.Errorf("%s: not a token file", path)
		}
		return token, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	return token, os.WriteFile(path, []byte(token+",admin,admin,system:masters\n"), 0o600)
}

// kubeconfig is a kubeconfig for server, trusting caFile, authenticating with
// a bearer token.
func kubeconfig(server, caFile, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster:
      server: %s
      certificate-authority: %s
users:
  - name: test
    user:
      token: %s
contexts:
  - name: test
    context: {cluster: test, user: test}
current-context: test
`, server, caFile, token)
}
