package accesslog

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
)

// FuzzParse feeds arbitrary lines to a detecting parser (presets, a custom
// TEXT format with adjacent operators and a custom JSON format with a
// template) and maps what parses: no panic, and a parsed line's values
// are pieces of the line.
func FuzzParse(f *testing.F) {
	for _, rl := range loadRefLines(f) {
		f.Add(rl.line)
	}
	for _, s := range []string{
		"", "[", "{", `{"a":`, `{"method":"\ud800"}`, "2024-01-11T21:09:42.835913Z\tinfo\tx",
		`[2020-11-25T21:26:18.409Z] "- - -" 0 NR,UF - - "-" 0 0 0 - "-" "-" "-" "-" "-" - - 10.0.0.1:80 10.0.0.2:5000 - -`,
		`{"start_time":"2020-11-25T21:26:18.409Z","upstream_cluster":"inbound|80||","requested_server_name":"outbound_.80_._.a.b.svc.cluster.local","downstream_local_address":"[::1]:80"}`,
		`2026 GET/x%200`,
	} {
		f.Add(s)
	}
	text, err := Compile(`%START_TIME(%s)% %REQ(:METHOD)%%REQ(:PATH)%%RESPONSE_CODE% %DOWNSTREAM_PEER_URI_SAN% %UPSTREAM_CLUSTER%`)
	if err != nil {
		f.Fatal(err)
	}
	js, err := Compile(`{"t":"%START_TIME%","r":"%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%","c":"%RESPONSE_CODE%","u":"%UPSTREAM_CLUSTER%"}`)
	if err != nil {
		f.Fatal(err)
	}
	p := NewAutoParser(text, js)
	m := NewMapper(MapperOptions{WorkloadFromPodName: true})
	r := m.Reporter("ns", "pod-6c886ff494-hm7zk")
	f.Fuzz(func(t *testing.T, line string) {
		var e Entry
		if err := p.Parse(line, &e); err != nil {
			return
		}
		if !e.Format().IsJSON() {
			for i, v := range e.vals {
				if !strings.Contains(line, v) {
					t.Fatalf("value %d %q is not part of the line %q", i, v, line)
				}
			}
		}
		lr := plog.NewLogRecord()
		record(t, m, lr, &e, r)
		if lr.EventName() != "istio.attributes" {
			t.Fatal("not a bag record")
		}
	})
}

// FuzzCompile compiles arbitrary format strings and, when one compiles,
// parses a line with it and prints a bag with it: no panic.
func FuzzCompile(f *testing.F) {
	f.Add(format123, "[2020-11-25T21:26:18.409Z] x")
	f.Add(`{"a":"%REQ(X)% %START_TIME(%Y)%"}`, `{"a":"b 2020"}`)
	f.Add("%A%%B%%C%", "abc")
	f.Add("%START_TIME(%E3S%%)%", "01.000%")
	bag := testBag(f, true)
	f.Fuzz(func(t *testing.T, format, line string) {
		fm, err := Compile(format)
		if err != nil {
			return
		}
		var e Entry
		if NewParser(fm).Parse(line, &e) == nil {
			record(t, NewMapper(MapperOptions{}), plog.NewLogRecord(), &e, nil)
		}
		_, _ = FormatLine(fm, bag)
	})
}

// FuzzPodOfLogPath: any path; a pod found is two non-empty names without
// '_' or '/' that the path holds as the kubelet writes them.
func FuzzPodOfLogPath(f *testing.F) {
	for _, s := range []string{
		PodLogPath("/var/log/pods", "foo", "sleep-dd98b5f48-djwdw"), "a_b_c/d/e", "a_b_c_d/e/f", "/x/_b_c/d/e",
		"a_b_/d/e", "//", "a_b_c//", "", "/var/log/containers/sleep_foo_istio-proxy-0a1b.log",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		ns, pod, ok := PodOfLogPath(path)
		if !ok {
			if ns != "" || pod != "" {
				t.Fatalf("%q: no pod, but %q %q", path, ns, pod)
			}
			return
		}
		for _, name := range []string{ns, pod} {
			if name == "" || strings.ContainsAny(name, "_/") {
				t.Fatalf("%q: names %q %q", path, ns, pod)
			}
		}
		if !strings.Contains(path, ns+"_"+pod+"_") {
			t.Fatalf("%q does not hold %s_%s_", path, ns, pod)
		}
	})
}
