package istiostdioexporter // import "github.com/otelcol-istio/otelcol-istio/exporter/istiostdioexporter"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/otelcol-istio/otelcol-istio/internal/istioconfig"
)

// outputKey identifies one destination. Handlers that share a stream and
// path share the writer, so their lines never interleave inside a line.
type outputKey struct {
	stream istioconfig.StdioStream
	path   string
}

func (k outputKey) String() string {
	if k.path == "" {
		return k.stream.String()
	}
	return k.stream.String() + " " + k.path
}

func keyOf(p *istioconfig.StdioParams) outputKey {
	switch p.LogStream {
	case istioconfig.StreamFile:
		// Mixer opened the path with zap.Open, which reads the names
		// "stdout" and "stderr" as the process streams.
		switch p.OutputPath {
		case "stdout":
			return outputKey{stream: istioconfig.StreamStdout}
		case "stderr":
			return outputKey{stream: istioconfig.StreamStderr}
		}
		return outputKey{stream: p.LogStream, path: p.OutputPath}
	case istioconfig.StreamRotatedFile:
		return outputKey{stream: p.LogStream, path: p.OutputPath}
	case istioconfig.StreamStderr:
		return outputKey{stream: istioconfig.StreamStderr}
	}
	// Unknown stream numbers fall back to stdout, Mixer's default.
	return outputKey{stream: istioconfig.StreamStdout}
}

// output is an open destination. Writes are serialised per output only, so
// a slow file does not hold up the others.
type output struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer // nil for the process streams
	// chunk bounds the size of one Write (0: no bound). lumberjack refuses a
	// write larger than the file size limit and rotates only between
	// writes, so a batch goes to it in pieces that end on a line.
	chunk int
}

// rotatedChunk is the largest piece of a batch handed to lumberjack at once:
// small next to its smallest size limit (1 MB), so files fill up to within
// this much of the limit.
const rotatedChunk = 64 << 10

func (o *output) write(b []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(b) > 0 {
		n := len(b)
		if o.chunk > 0 && n > o.chunk {
			// Cut after the last newline within the chunk; a single
			// longer line goes on its own.
			if i := bytes.LastIndexByte(b[:o.chunk], '\n'); i >= 0 {
				n = i + 1
			} else if i := bytes.IndexByte(b, '\n'); i >= 0 {
				n = i + 1
			}
		}
		if _, err := o.w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// setDeadline bounds the writes to o, the one in progress included, when o
// can be interrupted (a process stream that is a pipe). It does not take
// o.mu, which a blocked write holds.
func (o *output) setDeadline(t time.Time) {
	if d, ok := o.w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		_ = d.SetWriteDeadline(t)
	}
}

func (o *output) close() error {
	if o.closer == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closer.Close()
}

// processStream is the output for stdout or stderr. When the stream is a
// pipe, as a container's is, it is written through a second open file
// description of the pipe (via /proc/self/fd), non-blocking and in Go's
// poller, so that a write a stalled reader holds up can be given a deadline
// at shutdown. The descriptor itself keeps its blocking mode for the
// collector's other writers (its own log on stderr may share the pipe).
// A terminal, a file or a socket is written as it is: the first two do not
// stall, and a socket cannot be opened again. reopen tells why a pipe is
// written as it is: one created by another user than the collector's (a
// container runtime that does not hand it over) cannot be opened again.
func processStream(w io.Writer) (out *output, reopen error) {
	f, ok := w.(*os.File)
	if !ok {
		return &output{w: w}, nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return &output{w: w}, nil
	}
	// Not f.Fd(), which would put a pollable f into blocking mode.
	rc, err := f.SyscallConn()
	if err != nil {
		return &output{w: w}, err
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return &output{w: w}, err
	}
	// O_NONBLOCK: opening a named pipe blocks until it has a reader.
	p, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(fd), os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return &output{w: w}, err
	}
	if err := p.SetWriteDeadline(time.Time{}); err != nil { // not in the poller after all
		_ = p.Close()
		return &output{w: w}, err
	}
	return &output{w: p, closer: p}, nil
}

// processStream opens key's process stream, saying so when a stalled one
// would hold shutdown.
func (e *stdioExporter) processStream(key outputKey, w io.Writer) *output {
	out, err := processStream(w)
	if err != nil {
		e.logger.Info("the stream is a pipe the collector cannot open again: if its reader stalls, shutdown waits for it (shutdown_timeout does not apply)",
			zap.String("output", key.String()), zap.Error(err))
	}
	return out
}

// configError marks a handler whose params cannot work, whatever the retry.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// output returns the open output for key, opening it on first use. A failed
// open is not remembered: the next batch tries again (the directory may have
// appeared in the meantime).
func (e *stdioExporter) output(key outputKey, p *istioconfig.StdioParams) (*output, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("exporter is shut down")
	}
	if out, ok := e.outputs[key]; ok {
		return out, nil
	}
	out, err := e.open(key, p)
	if err != nil {
		return nil, err
	}
	if !e.stopBy.IsZero() {
		out.setDeadline(e.stopBy)
	}
	e.outputs[key] = out
	return out, nil
}

func (e *stdioExporter) open(key outputKey, p *istioconfig.StdioParams) (*output, error) {
	switch key.stream {
	case istioconfig.StreamStdout:
		return e.processStream(key, e.stdout), nil
	case istioconfig.StreamStderr:
		return e.processStream(key, e.stderr), nil
	}
	if key.path == "" {
		return nil, &configError{msg: fmt.Sprintf("log_stream %s needs an output_path", key.stream)}
	}
	if key.stream == istioconfig.StreamFile {
		// The *PathError names the path.
		f, err := os.OpenFile(key.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		return &output{w: f, closer: f}, nil
	}

	// ROTATED_FILE. lumberjack creates missing directories, as it did for
	// Mixer. It would create the file 0600; creating it first makes it
	// 0644 like a FILE output, and lumberjack keeps the mode on rotation.
	if err := os.MkdirAll(filepath.Dir(key.path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(key.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	_ = f.Close()
	lj := &lumberjack.Logger{
		Filename:   key.path,
		MaxSize:    rotationMegabytes(p.MaxMegabytesBeforeRotation),
		MaxAge:     max(int(p.MaxDaysBeforeRotation), 0),
		MaxBackups: max(int(p.MaxRotatedFiles), 0),
	}
	return &output{w: lj, closer: lj, chunk: rotatedChunk}, nil
}

// maxRotationMegabytes is the largest max_megabytes_before_rotation taken
// as megabytes (1 TiB). Mixer's own default, 104857600, was written as
// 100*1024*1024 although the field is documented in megabytes and meant
// 100 MB; read literally it means 100 TiB, i.e. never rotate.
const maxRotationMegabytes = 1 << 20

// rotationMegabytes maps max_megabytes_before_rotation to lumberjack's
// MaxSize. A value above maxRotationMegabytes is read as bytes and rounded
// up to whole megabytes, so the default rotates at 100 MB; 0 or less gives
// lumberjack's default, also 100 MB.
func rotationMegabytes(v int32) int {
	switch {
	case v <= 0:
		return 0
	case v > maxRotationMegabytes:
		return int((int64(v) + 1<<20 - 1) >> 20)
	}
	return int(v)
}
