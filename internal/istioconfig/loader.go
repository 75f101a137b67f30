package istioconfig

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
)

// DefaultDebounce is how long the loader waits after the last change before
// it reloads: editors and ConfigMap updates touch files several times.
const DefaultDebounce = 200 * time.Millisecond

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	Sources []Source
	// Build is passed to Build; the loader sets Previous itself.
	Build    BuildOptions
	Debounce time.Duration // 0 means DefaultDebounce
	Logger   *zap.Logger
	// OnReload is called after every reload (also the first, and also when
	// nothing changed), one call at a time.
	OnReload func(Reload)
}

// Reload reports one reload.
type Reload struct {
	// Snapshot is the snapshot in force afterwards: the new one when
	// Changed, else the previous one (nil if there is none yet).
	Snapshot *Snapshot
	// Changed is true when a new snapshot was published.
	Changed bool
	// Err is set when a source could not be read at all; the previous
	// snapshot stays in force.
	Err  error
	Took time.Duration
}

// Loader owns the sources: it loads them, builds a snapshot, publishes it
// atomically, and rebuilds it (debounced) whenever a source changes.
type Loader struct {
	opts    LoaderOptions
	current atomic.Pointer[Snapshot]

	mu          sync.Mutex // serialises reloads
	fingerprint [sha256.Size]byte

	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// NewLoader returns a loader; nothing happens until Start or Reload.
func NewLoader(opts LoaderOptions) *Loader {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Loader{opts: opts, kick: make(chan struct{}, 1)}
}

// Snapshot returns the current snapshot; nil before the first good load.
func (l *Loader) Snapshot() *Snapshot { return l.current.Load() }

// Start starts watching the sources and loads them once. It fails when a
// source cannot be started or read: without a first snapshot there is
// nothing to serve.
func (l *Loader) Start(_ context.Context) error {
	// The watches outlive Start's context (collector rule): they stop at
	// Shutdown.
	ctx, cancel := context.WithCancel(context.Background())
	for _, s := range l.opts.Sources {
		if err := s.Start(ctx, l.changed); err != nil {
			cancel()
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	if r := l.Reload(); r.Err != nil {
		cancel()
		return r.Err
	}
	l.cancel, l.done = cancel, make(chan struct{})
	go l.loop(ctx)
	return nil
}

// Shutdown stops the watches. It is safe to call without Start.
func (l *Loader) Shutdown() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	<-l.done
}

func (l *Loader) changed() {
	select {
	case l.kick <- struct{}{}:
	default: // a reload is already pending
	}
}

// loop reloads once the sources have been quiet for Debounce, but at the
// latest 10×Debounce after the first change of a burst, so that a source
// that never stops changing still gets applied.
func (l *Loader) loop(ctx context.Context) {
	defer close(l.done)
	var quiet, deadline <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
			quiet = time.After(l.opts.Debounce)
			if deadline == nil {
				deadline = time.After(10 * l.opts.Debounce)
			}
			continue
		case <-quiet:
		case <-deadline:
		}
		quiet, deadline = nil, nil
		l.Reload()
	}
}

// Reload reads every source now and publishes a new snapshot if anything
// changed. A source that cannot be read fails the whole reload and keeps
// the current snapshot: applying the others alone would drop its resources.
func (l *Loader) Reload() Reload {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	r := l.reload()
	r.Took = time.Since(start)
	if l.opts.OnReload != nil {
		l.opts.OnReload(r)
	}
	return r
}

func (l *Loader) reload() Reload {
	prev := l.current.Load()
	var in Input
	for _, s := range l.opts.Sources {
		got, err := s.Load()
		if err != nil {
			return Reload{Snapshot: prev, Err: fmt.Errorf("%s: %w", s, err)}
		}
		in.Add(got)
	}
	fp := fingerprint(in)
	if prev != nil && fp == l.fingerprint {
		return Reload{Snapshot: prev}
	}
	opts := l.opts.Build
	opts.Previous = prev
	snap := Build(in, opts)
	l.current.Store(snap)
	l.fingerprint = fp
	return Reload{Snapshot: snap, Changed: true}
}

// fingerprint hashes everything Build looks at, so that an event that
// changed nothing (a touched file, a status update) publishes nothing.
func fingerprint(in Input) [sha256.Size]byte {
	h := sha256.New()
	for _, r := range in.Resources {
		fmt.Fprintf(h, "%s\x00%d:%d\x00%s\x00%s\x00%s\x00%s\x00", r.File, r.Line, r.Column, r.APIVersion, r.Kind, r.Namespace, r.Name)
		for _, k := range slices.Sorted(maps.Keys(r.Annotations)) {
			fmt.Fprintf(h, "%s=%s\x00", k, r.Annotations[k])
		}
		if r.Spec != nil {
			enc := yaml.NewEncoder(h)
			_ = enc.Encode(r.Spec)
			_ = enc.Close()
			// Positions matter too: problems report them.
			hashPositions(h, r.Spec)
		}
		h.Write([]byte{1})
	}
	for _, p := range in.Problems {
		fmt.Fprintf(h, "%s\x00", p.Error())
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func hashPositions(h interface{ Write([]byte) (int, error) }, n *yaml.Node) {
	if n == nil {
		return
	}
	fmt.Fprintf(h, "%d:%d,", n.Line, n.Column)
	for _, c := range n.Content {
		hashPositions(h, c)
	}
}
