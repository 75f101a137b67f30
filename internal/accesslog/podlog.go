package accesslog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Container is the name of the container whose stdout carries the access
// log: sidecars, gateways and waypoints all call it istio-proxy.
const Container = "istio-proxy"

// criTime is the kubelet's CRI log timestamp: RFC 3339 with nanoseconds.
const criTime = "2006-01-02T15:04:05.000000000Z07:00"

// AppendCRI appends line as the container runtime (containerd, CRI-O)
// writes a complete stdout line into a pod log:
// "2026-11-25T10:00:00.000000000Z stdout F <line>\n".
func AppendCRI(dst []byte, t time.Time, line string) []byte {
	dst = t.UTC().AppendFormat(dst, criTime)
	dst = append(dst, " stdout F "...)
	dst = append(dst, line...)
	return append(dst, '\n')
}

// AppendDocker appends line as Docker's json-file driver writes it:
// {"log":"<line>\n","stream":"stdout","time":"…"}.
func AppendDocker(dst []byte, t time.Time, line string) []byte {
	dst = append(dst, `{"log":`...)
	dst = appendJSONString(dst, line+"\n")
	dst = append(dst, `,"stream":"stdout","time":"`...)
	dst = t.UTC().AppendFormat(dst, criTime)
	return append(dst, "\"}\n"...)
}

// PodUID returns a stable made-up pod UID (lower-case hex UUID, as the
// container parser of the file_log receiver requires) for a pod.
func PodUID(namespace, pod string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + pod))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// PodLogPath is where the kubelet keeps a pod's istio-proxy log under dir
// (normally /var/log/pods): <dir>/<namespace>_<pod>_<uid>/istio-proxy/0.log.
func PodLogPath(dir, namespace, pod string) string {
	return filepath.Join(dir, namespace+"_"+pod+"_"+PodUID(namespace, pod), Container, "0.log")
}

// PodOfLogPath returns the namespace and pod of a pod-log file from its
// path, laid out as the kubelet lays them out:
// …/<namespace>_<pod>_<uid>/<container>/<n>.log.
// Namespaces and pod names are DNS names, which have no '_'.
func PodOfLogPath(path string) (namespace, pod string, ok bool) {
	// Drop "/<n>.log" and "/<container>"; keep the last element left.
	for range 2 {
		i := strings.LastIndexByte(path, '/')
		if i < 0 {
			return "", "", false
		}
		path = path[:i]
	}
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		path = path[i+1:]
	}
	namespace, rest, _ := strings.Cut(path, "_")
	pod, uid, _ := strings.Cut(rest, "_")
	if namespace == "" || pod == "" || uid == "" || strings.IndexByte(uid, '_') >= 0 {
		return "", "", false
	}
	return namespace, pod, true
}

// ReporterOf returns the namespace and pod of the proxy that reported a
// bag, from context.reporter.uid (kubernetes://<pod>.<namespace>).
func ReporterOf(b Bag) (namespace, pod string, ok bool) {
	v, found := b.Get("context.reporter.uid")
	if !found {
		return "", "", false
	}
	rest, isK8s := strings.CutPrefix(v.Str(), "kubernetes://")
	i := strings.LastIndexByte(rest, '.') // namespaces have no dots, pod names may
	if !isK8s || i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[i+1:], rest[:i], true
}

// Wrapping is how the container runtime wraps each line in the pod log.
type Wrapping int

// The container runtimes' log formats.
const (
	CRI    Wrapping = iota // containerd, CRI-O
	Docker                 // Docker's json-file driver
)

// PodLogs writes the access-log lines of bags into a /var/log/pods layout:
// each bag's line goes to the log of the pod that reported it, wrapped as
// the container runtime would. Not safe for concurrent use.
type PodLogs struct {
	dir     string
	f       *Format
	wrap    Wrapping
	files   map[string]*os.File
	buf     []byte
	line    []byte
	Lines   int // lines written
	Skipped int // TCP bags no line stands for (see Write)
}

// NewPodLogs writes lines of format f under dir.
func NewPodLogs(dir string, f *Format, wrap Wrapping) *PodLogs {
	return &PodLogs{dir: dir, f: f, wrap: wrap, files: map[string]*os.File{}}
}

// Logged is where and when a proxy logged the line of a bag.
type Logged struct {
	Namespace, Pod string    // the reporting proxy's pod
	Start          time.Time // the request's start (%START_TIME%)
	End            time.Time // when Envoy wrote the line: start plus duration
}

// ErrNotLogged is AppendProxyLine's answer for the bag of a TCP connection's
// open or continue event: Envoy logs a connection once, when it closes,
// unless the format logs %ACCESS_LOG_TYPE%.
var ErrNotLogged = errors.New("access log: Envoy logs a TCP connection when it closes")

// AppendProxyLine appends the line of format f that the proxy that reported
// b logs for it, and says which proxy and when.
func AppendProxyLine(dst []byte, f *Format, b Bag) ([]byte, Logged, error) {
	var at Logged
	ns, pod, ok := ReporterOf(b)
	if !ok {
		return dst, at, errors.New("access log: the bag has no context.reporter.uid of the form kubernetes://<pod>.<namespace>")
	}
	if ev, ok := b.Get("connection.event"); ok && ev.Str() != "close" && !f.fields[fAccessLogType] {
		if proto, _ := b.Get("context.protocol"); proto.Str() == "tcp" {
			return dst, at, ErrNotLogged
		}
	}
	dst, err := AppendLine(dst, f, b)
	if err != nil {
		return dst, at, err
	}
	r, _ := readBag(b) // AppendLine succeeded: the bag has a time
	return dst, Logged{Namespace: ns, Pod: pod, Start: r.start, End: r.start.Add(r.dur)}, nil
}

// Write appends the line of b to its reporter's pod log. The runtime's
// timestamp is the end of the request, when Envoy writes the line. The bag
// of a TCP connection's open or continue event is skipped (and counted in
// Skipped), as Envoy logs the connection when it closes (ErrNotLogged).
func (p *PodLogs) Write(b Bag) error {
	var at Logged
	var err error
	p.line, at, err = AppendProxyLine(p.line[:0], p.f, b)
	if errors.Is(err, ErrNotLogged) {
		p.Skipped++
		return nil
	} else if err != nil {
		return err
	}
	switch p.wrap {
	case Docker:
		p.buf = AppendDocker(p.buf[:0], at.End, string(p.line))
	default:
		p.buf = AppendCRI(p.buf[:0], at.End, string(p.line))
	}
	path := PodLogPath(p.dir, at.Namespace, at.Pod)
	fh := p.files[path]
	if fh == nil {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		fh, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		p.files[path] = fh
	}
	if _, err := fh.Write(p.buf); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	p.Lines++
	return nil
}

// Close closes the pod logs.
func (p *PodLogs) Close() error {
	var errs []error
	for _, fh := range p.files {
		errs = append(errs, fh.Close())
	}
	clear(p.files)
	return errors.Join(errs...)
}
