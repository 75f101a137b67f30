package istioconfig

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	// Write and rename, as editors and kubectl cp do; the watch must see it.
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type reloads struct {
	mu  sync.Mutex
	all []Reload
}

func (r *reloads) add(x Reload) { r.mu.Lock(); r.all = append(r.all, x); r.mu.Unlock() }
func (r *reloads) changed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.all {
		if x.Changed {
			n++
		}
	}
	return n
}

func startLoader(t *testing.T, rec *reloads, srcs ...Source) *Loader {
	t.Helper()
	l := NewLoader(LoaderOptions{Sources: srcs, OnReload: rec.add})
	if err := l.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Shutdown)
	return l
}

func matchOf(s *Snapshot, fqn string) string {
	for _, r := range s.Rules {
		if r.FQN == fqn {
			if r.Match == nil {
				return "<always>"
			}
			return r.Match.Text
		}
	}
	return "<none>"
}

func TestWatchDirectory(t *testing.T) {
	trio, err := os.ReadFile("testdata/good-trio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := string(trio)
	dir := t.TempDir()
	main := filepath.Join(dir, "telemetry.yaml")
	writeFile(t, main, good)
	writeFile(t, filepath.Join(dir, "notes.txt"), "not config")
	rec := &reloads{}
	l := startLoader(t, rec, NewFileSource(dir))
	const rule = "okrule.rule.istio-system"
	if got := matchOf(l.Snapshot(), rule); got != `context.protocol == "http"` {
		t.Fatalf("initial match = %q; %v", got, l.Snapshot().Err())
	}

	// An edit is applied within a second.
	writeFile(t, main, strings.Replace(good, `== "http"`, `== "grpc"`, 1))
	waitFor(t, reloadWait, "edit applied", func() bool { return matchOf(l.Snapshot(), rule) == `context.protocol == "grpc"` })

	// A broken edit keeps the last good version of that resource and says so.
	writeFile(t, main, strings.Replace(good, `== "http"`, `= "tcp"`, 1))
	waitFor(t, reloadWait, "broken edit noticed", func() bool { return len(l.Snapshot().Problems) == 2 })
	if got := matchOf(l.Snapshot(), rule); got != `context.protocol == "grpc"` {
		t.Errorf("after a broken edit match = %q, want the last good one", got)
	}
	// A file that no longer parses keeps its resources too.
	writeFile(t, main, good+"\n---\nkind: [unclosed\n")
	waitFor(t, reloadWait, "repaired edit applied", func() bool { return matchOf(l.Snapshot(), rule) == `context.protocol == "http"` })
	writeFile(t, main, strings.Replace(good, "kind: rule", "kind: rule\n  bad: [", 1))
	waitFor(t, reloadWait, "syntax error noticed", func() bool {
		p := l.Snapshot().Problems
		return len(p) == 1 && strings.Contains(p[0].Message, "invalid YAML")
	})
	if s := l.Snapshot(); matchOf(s, rule) != `context.protocol == "http"` || len(s.Instances) != 1 {
		t.Errorf("after a syntax error: match %q, %d instances", matchOf(s, rule), len(s.Instances))
	}

	// A second file adds its resources; deleting a file removes them.
	extra := filepath.Join(dir, "extra.yml")
	writeFile(t, extra, "apiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {name: extra, namespace: istio-system}\nspec:\n  actions: [{handler: okprom, instances: [okcount]}]\n")
	waitFor(t, reloadWait, "new file applied", func() bool { return matchOf(l.Snapshot(), "extra.rule.istio-system") == "<always>" })
	if err := os.Remove(extra); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloadWait, "deleted file removed", func() bool { return matchOf(l.Snapshot(), "extra.rule.istio-system") == "<none>" })
	if err := os.Remove(main); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloadWait, "all resources removed", func() bool { return len(l.Snapshot().Rules) == 0 })

	// Touching a file without changing it publishes nothing.
	n := rec.changed()
	writeFile(t, filepath.Join(dir, "empty.yaml"), "# nothing\n")
	time.Sleep(500 * time.Millisecond)
	writeFile(t, filepath.Join(dir, "empty.yaml"), "# nothing\n")
	time.Sleep(500 * time.Millisecond)
	if got := rec.changed(); got != n {
		t.Errorf("%d new snapshots for files without resources", got-n)
	}
}

func TestWatchSingleFileAndDebounce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.json")
	rule := func(m string) string {
		return `{"apiVersion":"config.istio.io/v1alpha2","kind":"rule","metadata":{"name":"r","namespace":"istio-system"},"spec":{"match":"` + m + `"}}`
	}
	writeFile(t, path, rule("true"))
	rec := &reloads{}
	l := startLoader(t, rec, NewFileSource(path))
	if got := problemTexts(l.Snapshot()); len(got) != 1 || !strings.Contains(got[0], "the rule has no actions") {
		t.Fatalf("problems = %v", got)
	}
	// A burst of writes is applied once, after it ends.
	before := rec.changed()
	for i := range 10 {
		if err := os.WriteFile(path, []byte(rule("request.size > "+string(rune('0'+i)))), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, reloadWait, "burst applied", func() bool {
		p := l.Snapshot().Problems
		return len(p) == 1 && strings.Contains(p[0].File, "rules.json") && rec.changed() > before
	})
	time.Sleep(3 * DefaultDebounce)
	if n := rec.changed() - before; n > 2 {
		t.Errorf("a burst of 10 writes gave %d reloads", n)
	}
	// Other files in the directory are not the source's business.
	n := rec.changed()
	writeFile(t, filepath.Join(dir, "other.yaml"), "apiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {name: o}\n")
	time.Sleep(3 * DefaultDebounce)
	if rec.changed() != n || len(l.Snapshot().Rules) != 0 {
		t.Error("a file next to the watched file was loaded")
	}
}

func TestReloadFailureKeepsSnapshot(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "conf")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	trio, _ := os.ReadFile("testdata/good-trio.yaml")
	writeFile(t, filepath.Join(dir, "a.yaml"), string(trio))
	rec := &reloads{}
	src := NewFileSource(dir)
	src.retry = 50 * time.Millisecond
	l := startLoader(t, rec, src)
	first := l.Snapshot()

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloadWait, "failed reload", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.all) > 0 && rec.all[len(rec.all)-1].Err != nil
	})
	if l.Snapshot() != first {
		t.Error("a failed reload replaced the snapshot")
	}
	// The directory comes back (a ConfigMap remount): watched again.
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.yaml"), strings.Replace(string(trio), "okrule", "back", 1))
	waitFor(t, reloadWait, "directory watched again", func() bool { return matchOf(l.Snapshot(), "back.rule.istio-system") != "<none>" })
}

func TestLoaderStartFails(t *testing.T) {
	l := NewLoader(LoaderOptions{Sources: []Source{NewFileSource(filepath.Join(t.TempDir(), "missing"))}})
	err := l.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Start = %v", err)
	}
	l.Shutdown() // safe after a failed Start
	if _, err := NewEmbeddedSource("istio-0.8"); err == nil || !strings.Contains(err.Error(), "istio-1.1") {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestConfigMapLayout(t *testing.T) {
	// A mounted ConfigMap: the files are links into ..data, itself a link
	// to a timestamped directory that an update replaces.
	dir := t.TempDir()
	v1 := filepath.Join(dir, "..2024_01_01")
	if err := os.Mkdir(v1, 0o700); err != nil {
		t.Fatal(err)
	}
	trio, _ := os.ReadFile("testdata/good-trio.yaml")
	writeFile(t, filepath.Join(v1, "config.yaml"), string(trio))
	if err := os.Symlink(filepath.Base(v1), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), filepath.Join(dir, "config.yaml")); err != nil {
		t.Fatal(err)
	}
	rec := &reloads{}
	l := startLoader(t, rec, NewFileSource(dir))
	if len(l.Snapshot().Rules) != 1 || l.Snapshot().Err() != nil {
		t.Fatalf("initial: %v", l.Snapshot().Err())
	}
	// The update: a new directory, then an atomic swap of ..data.
	v2 := filepath.Join(dir, "..2024_01_02")
	if err := os.Mkdir(v2, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(v2, "config.yaml"), strings.Replace(string(trio), `"http"`, `"grpc"`, 1))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(v2), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloadWait, "ConfigMap update applied", func() bool {
		return matchOf(l.Snapshot(), "okrule.rule.istio-system") == `context.protocol == "grpc"`
	})
}

// reloadWait bounds the wait for a reload. A reload takes the debounce plus
// a build (well under a second here); the bound is generous so that a loaded
// CI machine does not fail the test, which checks what happens, not how fast.
const reloadWait = 10 * time.Second
