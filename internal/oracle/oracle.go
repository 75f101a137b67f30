// Package oracle reads the outputs recorded from a real Mixer
// (testdata/conformance/mixer-oracle*.json) for the tests that replay them.
package oracle // import "github.com/otelcol-istio/otelcol-istio/internal/oracle"

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/bookinfo"
)

// Dir is the repository's testdata/conformance directory.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "conformance")
}

// File is mixer-oracle.json.
type File struct {
	Cases []Case `json:"cases"`
}

// Case is one recorded case.
type Case struct {
	Name                  string             `json:"name"`
	Description           string             `json:"description"`
	Reports               []map[string]Typed `json:"reports"`
	ReportRPCResults      []string           `json:"report_rpc_results"`
	ExpectedMetrics       []Sample           `json:"expected_metrics"`
	ExpectedLogLines      []string           `json:"expected_log_lines"`
	ExpectedLogsPerReport [][]string         `json:"expected_log_lines_per_report"`
	RawExposition         string             `json:"raw_exposition"`
	Replay                string             `json:"replay"`
	ClockTimeInstances    []string           `json:"clock_time_instances"`
	DeliberateDifference  string             `json:"deliberate_difference"`
	MixsLogAtStart        json.RawMessage    `json:"mixs_log_at_start"`
}

// Sample is one parsed exposition sample.
type Sample struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Value  Float             `json:"value"`
}

// Float is a sample value: a JSON number, or "+Inf", "-Inf", "NaN".
type Float float64

// UnmarshalJSON accepts numbers and the strings Prometheus writes.
func (f *Float) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("sample value %s: %w", b, err)
	}
	*f = Float(v)
	return nil
}

// Typed is one attribute of a report: {"type": …, "value": …}.
type Typed struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// Load reads mixer-oracle.json from dir.
func Load(dir string) (*File, error) {
	b, err := os.ReadFile(filepath.Join(dir, "mixer-oracle.json"))
	if err != nil {
		return nil, err
	}
	var f File
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("mixer-oracle.json: %w", err)
	}
	return &f, nil
}

// ConfigPath is the config file a case ran with.
func ConfigPath(dir, caseName string) string {
	return filepath.Join(dir, "mixer-oracle-configs", caseName+".yaml")
}

// Bag converts a report into typed attributes, sorted by name. BYTES values
// become IP_ADDRESS values with exactly the bytes sent.
func Bag(report map[string]Typed) (bookinfo.Bag, error) {
	out := make(bookinfo.Bag, 0, len(report))
	for name, tv := range report {
		v, err := tv.decode()
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		out = append(out, bookinfo.Attr{Name: name, Value: v})
	}
	sortBag(out)
	return out, nil
}

func sortBag(b bookinfo.Bag) {
	for i := 1; i < len(b); i++ {
		for j := i; j > 0 && b[j].Name < b[j-1].Name; j-- {
			b[j], b[j-1] = b[j-1], b[j]
		}
	}
}

func (tv Typed) decode() (attribute.Value, error) {
	dec := func(v any) error {
		d := json.NewDecoder(bytes.NewReader(tv.Value))
		d.UseNumber()
		return d.Decode(v)
	}
	switch tv.Type {
	case "STRING", "DNS_NAME", "EMAIL_ADDRESS", "URI":
		var s string
		if err := dec(&s); err != nil {
			return attribute.Value{}, err
		}
		switch tv.Type {
		case "DNS_NAME":
			return attribute.DNSNameValue(s), nil
		case "EMAIL_ADDRESS":
			return attribute.EmailValue(s), nil
		case "URI":
			return attribute.URIValue(s), nil
		}
		return attribute.StringValue(s), nil
	case "INT64":
		var n json.Number
		if err := dec(&n); err != nil {
			return attribute.Value{}, err
		}
		i, err := n.Int64()
		return attribute.Int64Value(i), err
	case "DOUBLE":
		var n json.Number
		if err := dec(&n); err != nil {
			return attribute.Value{}, err
		}
		f, err := n.Float64()
		return attribute.DoubleValue(f), err
	case "BOOL":
		var b bool
		err := dec(&b)
		return attribute.BoolValue(b), err
	case "TIMESTAMP":
		var s string
		if err := dec(&s); err != nil {
			return attribute.Value{}, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return attribute.TimestampValue(t), err
	case "DURATION":
		var s string
		if err := dec(&s); err != nil {
			return attribute.Value{}, err
		}
		d, err := time.ParseDuration(s)
		return attribute.DurationValue(d), err
	case "BYTES":
		var raw []int
		if err := dec(&raw); err != nil {
			return attribute.Value{}, err
		}
		b := make([]byte, len(raw))
		for i, x := range raw {
			b[i] = byte(x)
		}
		return attribute.IPValue(b), nil
	case "IP_ADDRESS":
		var s string
		if err := dec(&s); err != nil {
			return attribute.Value{}, err
		}
		ip := net.ParseIP(s)
		if ip == nil {
			return attribute.Value{}, fmt.Errorf("bad IP %q", s)
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		return attribute.IPValue(ip), nil
	case "STRING_MAP":
		var m map[string]string
		if err := dec(&m); err != nil {
			return attribute.Value{}, err
		}
		return attribute.StringMapValue(attribute.StringMapOf(m)), nil
	}
	return attribute.Value{}, fmt.Errorf("unknown type %q", tv.Type)
}

var (
	jsonClock    = regexp.MustCompile(`"time":"[0-9T:.\-]+Z"`)
	consoleClock = regexp.MustCompile(`^[0-9T:.\-]+Z\t`)
)

// MaskClock masks the time of the stdio lines of the given instances, which
// Mixer stamped with its handler's clock (metric instances on stdio): a
// replay cannot share that clock. It also sorts the lines, since Mixer's
// handlers wrote concurrently.
func MaskClock(lines, instances []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l
		for _, inst := range instances {
			if strings.Contains(l, `"instance":"`+inst+`"`) || strings.Contains(l, "\t"+inst+"\t") {
				out[i] = consoleClock.ReplaceAllString(jsonClock.ReplaceAllString(l, `"time":"<clock>"`), "<clock>\t")
			}
		}
	}
	sort.Strings(out)
	return out
}
