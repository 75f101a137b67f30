package istioconfig

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Source is where resources come from.
type Source interface {
	// String names the source in logs: "embedded istio-1.1", "path /etc/x".
	String() string
	// Start prepares the source and watches it until ctx is done, calling
	// changed whenever its resources may have changed (from any goroutine).
	// It returns once the source can be loaded.
	Start(ctx context.Context, changed func()) error
	// Load reads the source's current resources. An error means the source
	// could not be read at all (a missing directory): nothing of it is
	// usable. Problems of single files are in the Input.
	Load() (Input, error)
}

// EmbeddedSource serves an embedded profile. It never changes.
type EmbeddedSource struct{ profile string }

// NewEmbeddedSource returns the source of an embedded profile; it fails for
// an unknown profile name.
func NewEmbeddedSource(profile string) (*EmbeddedSource, error) {
	if _, err := Profile(profile); err != nil {
		return nil, err
	}
	return &EmbeddedSource{profile: profile}, nil
}

func (s *EmbeddedSource) String() string { return "embedded " + s.profile }

func (s *EmbeddedSource) Start(context.Context, func()) error { return nil }

func (s *EmbeddedSource) Load() (Input, error) {
	data, err := Profile(s.profile)
	if err != nil {
		return Input{}, err
	}
	res, probs := Decode("embedded:"+s.profile, data)
	return Input{Resources: res, Problems: probs}, nil
}

// FileSource reads a file, or the *.yaml, *.yml and *.json files of a
// directory (not its subdirectories; names starting with "." are skipped,
// which also skips the ..data links of a mounted ConfigMap).
type FileSource struct {
	path string
	// retry is how often a vanished path is looked for again.
	retry time.Duration
}

// NewFileSource returns the source for a file or directory.
func NewFileSource(path string) *FileSource {
	return &FileSource{path: filepath.Clean(path), retry: time.Second}
}

func (s *FileSource) String() string { return "path " + s.path }

// IsConfigFile reports whether a directory entry name is read as config.
func IsConfigFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func (s *FileSource) Load() (Input, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return Input{}, cannotRead(err)
	}
	if !fi.IsDir() {
		return s.loadFile(s.path), nil
	}
	ents, err := os.ReadDir(s.path)
	if err != nil {
		return Input{}, cannotRead(err)
	}
	var in Input
	for _, e := range ents { // ReadDir sorts by name
		if !IsConfigFile(e.Name()) {
			continue
		}
		p := filepath.Join(s.path, e.Name())
		// Follow symlinks (ConfigMap mounts); skip directories.
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			continue
		}
		in.Add(s.loadFile(p))
	}
	return in, nil
}

// cannotRead drops the path from an os error: the caller names the source.
func cannotRead(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot read: %w", pe.Err)
	}
	return err
}

func (s *FileSource) loadFile(p string) Input {
	data, err := os.ReadFile(p)
	if err != nil {
		return Input{Problems: []Problem{{File: p, Message: cannotRead(err).Error()}}}
	}
	res, probs := Decode(p, data)
	return Input{Resources: res, Problems: probs}
}

// Start watches the directory (for a file: its directory, because editors
// and ConfigMap updates replace files rather than write them in place).
func (s *FileSource) Start(ctx context.Context, changed func()) error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return cannotRead(err)
	}
	dir, only := s.path, ""
	if !fi.IsDir() {
		dir, only = filepath.Dir(s.path), filepath.Base(s.path)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", s.path, err)
	}
	if err := w.Add(dir); err != nil {
		_ = w.Close()
		return fmt.Errorf("watching %s: %w", dir, err)
	}
	go s.watch(ctx, w, dir, only, changed)
	return nil
}

func (s *FileSource) watch(ctx context.Context, w *fsnotify.Watcher, dir, only string, changed func()) {
	defer func() { _ = w.Close() }()
	relevant := func(name string) bool {
		base := filepath.Base(name)
		if base == "..data" || filepath.Clean(name) == dir {
			return true // a ConfigMap update swaps this link; or the directory itself
		}
		if only != "" {
			return base == only
		}
		return IsConfigFile(base)
	}
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if relevant(ev.Name) {
				changed()
			}
			if filepath.Clean(ev.Name) == dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				retry = time.After(s.retry)
			}
		case _, ok := <-w.Errors:
			if !ok {
				return
			}
			changed() // events may have been lost (queue overflow): reload
		case <-retry:
			// The directory went away; watch it again once it is back.
			retry = nil
			if err := w.Add(dir); err != nil {
				retry = time.After(s.retry)
				continue
			}
			changed()
		}
	}
}

// SortResources orders resources by kind, namespace and name.
func SortResources(rs []*Resource) {
	slices.SortFunc(rs, func(a, b *Resource) int {
		return strings.Compare(a.Kind+"/"+a.Namespace+"/"+a.Name, b.Kind+"/"+b.Namespace+"/"+b.Name)
	})
}
