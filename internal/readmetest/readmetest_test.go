package readmetest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfigs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "README.md")
	doc := "# x\n\n```yaml\nreceivers:\n  mixer:\n    endpoint: a:1\n```\n\ntext\n\n" +
		"```yaml\nexporters:\n  debug: {}\n```\n\n```yaml\nreceivers:\n  mixer:\n    endpoint: b:2\n  other: {}\n```\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	got := Configs(t, file, "receivers::mixer")
	if len(got) != 2 {
		t.Fatalf("%d configurations, want 2", len(got))
	}
	for i, want := range []string{"a:1", "b:2"} {
		if e := got[i].Get("endpoint"); e != want {
			t.Errorf("block %d: endpoint %v, want %s", i, e, want)
		}
	}
}
