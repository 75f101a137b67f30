package istiostdioexporter // import "github.com/otelcol-istio/otelcol-istio/exporter/istiostdioexporter"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

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

	// A process stream is written by a goroutine of its own (streamWriter),
	// so that shutdown can stop waiting for a write that a stalled reader
	// holds up. The write itself stays blocking, in the kernel: written
	// through Go's poller, stdout fell behind a busy collector with one
	// processor (docs/benchmarks.md, "When the output stalls").
	stream bool
	reqs   chan []byte // nil once closed
	done   chan error
	stop   <-chan struct{} // closed when shutdown_timeout has passed
	gaveUp bool            // a write was given up on: the stream is not written again
}

// errGaveUp is what a write to a process stream returns once
// shutdown_timeout has passed without the stream taking it.
var errGaveUp = errors.New("not taken within shutdown_timeout")

// streamOutput is the output for stdout or stderr.
func streamOutput(w io.Writer, stop <-chan struct{}) *output {
	o := &output{w: w, stream: true, reqs: make(chan []byte), done: make(chan error, 1), stop: stop}
	go streamWriter(w, o.reqs, o.done)
	return o
}

func streamWriter(w io.Writer, reqs <-chan []byte, done chan<- error) {
	for b := range reqs {
		_, err := w.Write(b)
		done <- err
	}
}

// rotatedChunk is the largest piece of a batch handed to lumberjack at once:
// small next to its smallest size limit (1 MB), so files fill up to within
// this much of the limit.
const rotatedChunk = 64 << 10

func (o *output) write(b []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stream {
		return o.writeStream(b)
	}
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

// writeStream hands b to the stream's writer and waits for it, or for
// shutdown_timeout to pass. Given up, b may still be being written: the
// caller must not reuse it.
func (o *output) writeStream(b []byte) error {
	if o.gaveUp {
		return errGaveUp
	}
	if o.reqs == nil {
		return errors.New("output is closed")
	}
	select {
	case o.reqs <- b:
	case <-o.stop:
		o.gaveUp = true
		return errGaveUp
	}
	select {
	case err := <-o.done:
		return err
	case <-o.stop:
		o.gaveUp = true
		return errGaveUp
	}
}

func (o *output) close() error {
	if o.stream {
		// Shutdown closes once the queue has drained: no write holds o.mu.
		o.mu.Lock()
		if o.reqs != nil {
			close(o.reqs) // a writer still blocked in a write ends with the process
			o.reqs = nil
		}
		o.mu.Unlock()
	}
	if o.closer == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closer.Close()
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
	e.outputs[key] = out
	return out, nil
}

func (e *stdioExporter) open(key outputKey, p *istioconfig.StdioParams) (*output, error) {
	switch key.stream {
	case istioconfig.StreamStdout:
		return streamOutput(e.stdout, e.stop), nil
	case istioconfig.StreamStderr:
		return streamOutput(e.stderr, e.stop), nil
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
