package main

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// exposition is a scraped /metrics page: series key (name and sorted
// labels, as text) → value.
type exposition map[string]float64

// scrape fetches and parses a Prometheus text exposition.
func scrape(url string) (exposition, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return parseExposition(string(b))
}

// parseExposition reads the sample lines of the text format (comments
// skipped, no timestamps expected). Label sets are re-sorted so that two
// exporters' orders compare equal.
func parseExposition(text string) (exposition, error) {
	out := exposition{}
	for n, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("exposition line %d: %v", n+1, err)
		}
		out[key] = value
	}
	return out, nil
}

func parseSample(line string) (string, float64, error) {
	name, rest := line, ""
	var labels []string
	if i := strings.IndexByte(line, '{'); i >= 0 {
		name, rest = line[:i], line[i+1:]
		for {
			if rest == "" {
				return "", 0, fmt.Errorf("unterminated labels: %q", line)
			}
			if rest[0] == '}' {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return "", 0, fmt.Errorf("bad label: %q", line)
			}
			lname := strings.TrimLeft(rest[:eq], ",")
			// The value ends at the first quote not escaped by a backslash.
			j := eq + 2
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' {
					j++
				}
			}
			if j >= len(rest) {
				return "", 0, fmt.Errorf("unterminated label value: %q", line)
			}
			labels = append(labels, lname+`="`+rest[eq+2:j]+`"`)
			rest = strings.TrimPrefix(rest[j+1:], ",")
		}
	} else if i := strings.IndexByte(line, ' '); i >= 0 {
		name, rest = line[:i], line[i:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", 0, fmt.Errorf("no value: %q", line)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", 0, fmt.Errorf("value of %q: %v", line, err)
	}
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ",") + "}", v, nil
}

// sum adds the values of every series of one metric name.
func (e exposition) sum(name string) (total float64, series int) {
	for k, v := range e {
		if strings.HasPrefix(k, name+"{") {
			total += v
			series++
		}
	}
	return total, series
}

// compareIstio compares the istio_* series of two expositions, values
// included; histogram _sum series only by presence, since float sums of the
// same values in another order may differ in the last digit. It returns how
// many series a has and a description of each difference (at most a few).
func compareIstio(a, b exposition) (series int, diffs []string) {
	const maxDiffs = 5
	note := func(format string, args ...any) {
		if len(diffs) < maxDiffs {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	for _, k := range sortedKeys(a) {
		if !strings.HasPrefix(k, "istio_") {
			continue
		}
		series++
		bv, ok := b[k]
		switch {
		case !ok:
			note("only in the first: %s", k)
		case strings.Contains(k, "_sum{"):
		case bv != a[k]:
			note("%s: %g vs %g", k, a[k], bv)
		}
	}
	for _, k := range sortedKeys(b) {
		if _, ok := a[k]; !ok && strings.HasPrefix(k, "istio_") {
			note("only in the second: %s", k)
		}
	}
	return series, diffs
}

func sortedKeys(e exposition) []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
