package accesslog

import (
	"strconv"
	"strings"
	"time"
)

// timeLayout is a compiled %START_TIME(...)% format.
type timeLayout struct {
	arg      string // as configured; "" for Envoy's default
	goLayout string // Go layout; "" when the format cannot be read back
	epoch    bool   // %s: Unix seconds
	istio    bool   // Envoy's default, read without time.Parse
}

// envoyDefaultTime is Envoy's default START_TIME format
// (%Y-%m-%dT%H:%M:%E3SZ, UTC), as every Istio default format prints it.
const envoyDefaultTime = "2006-01-02T15:04:05.000Z"

func compileTimeLayout(arg string, hasArg bool) *timeLayout {
	if !hasArg || arg == "" {
		return &timeLayout{goLayout: envoyDefaultTime, istio: true}
	}
	l := &timeLayout{arg: arg}
	if arg == "%s" {
		l.epoch = true
		return l
	}
	l.goLayout = strftimeToGo(arg)
	return l
}

// strftime conversions Envoy's formatter supports and Go can read back.
var strftime = map[string]string{
	"Y": "2006", "y": "06", "m": "01", "d": "02", "e": "_2", "H": "15", "I": "03", "M": "04", "S": "05",
	"p": "PM", "b": "Jan", "h": "Jan", "B": "January", "a": "Mon", "A": "Monday", "j": "002",
	"z": "-0700", "Z": "MST", "T": "15:04:05", "F": "2006-01-02", "D": "01/02/06", "R": "15:04",
	"E3S": "05.000", "E6S": "05.000000", "E9S": "05.000000000",
	"f": "000000000", "1f": "0", "2f": "00", "3f": "000", "4f": "0000", "5f": "00000",
	"6f": "000000", "7f": "0000000", "8f": "00000000", "9f": "000000000",
	"%": "%",
}

// strftimeToGo returns the Go layout of a strftime format, or "" when the
// format has a conversion Go cannot parse or literal text Go would read as
// a layout element.
func strftimeToGo(s string) string {
	var b strings.Builder
	for s != "" {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			i = len(s)
		}
		if lit := s[:i]; lit != "" {
			if strings.ContainsAny(lit, "0123456789") || strings.Contains(lit, "Jan") ||
				strings.Contains(lit, "Mon") || strings.Contains(lit, "MST") || strings.Contains(lit, "PM") ||
				strings.Contains(lit, "pm") || strings.Contains(lit, "_2") {
				return ""
			}
			b.WriteString(lit)
		}
		s = s[i:]
		if s == "" {
			break
		}
		// the longest conversion first: %E3S, %3f, %Y
		matched := false
		for _, n := range []int{3, 2, 1} {
			if len(s) > n {
				if g, ok := strftime[s[1:1+n]]; ok {
					if n == 2 && (s[1] < '1' || s[1] > '9') { // only %Nf has two letters
						continue
					}
					if g == "%" && n != 1 {
						continue
					}
					b.WriteString(g)
					s = s[1+n:]
					matched = true
					break
				}
			}
		}
		if !matched {
			return ""
		}
	}
	return b.String()
}

// parse reads a START_TIME value.
func (l *timeLayout) parse(s string) (time.Time, bool) {
	switch {
	case l.istio:
		if t, ok := parseEnvoyTime(s); ok {
			return t, true
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	case l.epoch:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	case l.goLayout != "":
		t, err := time.Parse(l.goLayout, s)
		return t, err == nil
	}
	return time.Time{}, false
}

// append prints t as the operator does.
func (l *timeLayout) append(dst []byte, t time.Time) []byte {
	t = t.UTC()
	switch {
	case l.epoch:
		return strconv.AppendInt(dst, t.Unix(), 10)
	case l.goLayout != "":
		return t.AppendFormat(dst, l.goLayout)
	}
	return t.AppendFormat(dst, envoyDefaultTime)
}

// parseEnvoyTime reads YYYY-MM-DDTHH:MM:SS[.fraction]Z without time.Parse,
// which is a measurable part of a line's cost.
func parseEnvoyTime(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(a, b int) (int, bool) {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 ||
		hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	nsec := 0
	if rest := s[19 : len(s)-1]; rest != "" {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return time.Time{}, false
		}
		frac, ok := num(20, len(s)-1)
		if !ok {
			return time.Time{}, false
		}
		for i := len(rest) - 1; i < 9; i++ {
			frac *= 10
		}
		nsec = frac
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}
