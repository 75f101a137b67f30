package cexl

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The conversion and comparison functions behind ip(), timestamp(),
// dnsName(), email(), uri(), match() and the normalising == of the
// DNS_NAME, EMAIL_ADDRESS and URI types. Error texts are Mixer's.

func toIP(s string) ([]byte, error) {
	if ip := net.ParseIP(s); ip != nil {
		return ip, nil // 16-byte form for IPv4 too, as in Mixer
	}
	return nil, fmt.Errorf("could not convert %s to IP_ADDRESS", s)
}

// httpStatusOfGRPC is the HTTP status Mixer gave each gRPC status code
// (google.rpc.Code); any other code is 500.
var httpStatusOfGRPC = [...]int64{
	0:  200, // OK
	1:  408, // CANCELLED
	2:  500, // UNKNOWN
	3:  400, // INVALID_ARGUMENT
	4:  504, // DEADLINE_EXCEEDED
	5:  404, // NOT_FOUND
	6:  409, // ALREADY_EXISTS
	7:  403, // PERMISSION_DENIED
	8:  429, // RESOURCE_EXHAUSTED
	9:  412, // FAILED_PRECONDITION
	10: 409, // ABORTED
	11: 400, // OUT_OF_RANGE
	12: 501, // UNIMPLEMENTED
	13: 500, // INTERNAL
	14: 503, // UNAVAILABLE
	15: 500, // DATA_LOSS
	16: 401, // UNAUTHENTICATED
}

// grpcToHTTP is grpcToHttp(): the HTTP status of a gRPC status code given
// as text, as response.grpc_status is a STRING attribute. Mixer read the
// text as a Go int and took the code as a 32-bit value, so "4294967296"
// reads as code 0.
func grpcToHTTP(s string) (int64, error) {
	i, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("error converting string to int64 '%s': '%v'", s, err)
	}
	if code := int32(i); code >= 0 && int(code) < len(httpStatusOfGRPC) {
		return httpStatusOfGRPC[code], nil
	}
	return 500, nil
}

// reverseRunes is COMPAT's reverse(): the string's code points in reverse
// order.
func reverseRunes(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

func ipEqual(a, b []byte) bool { return net.IP(a).Equal(net.IP(b)) }

func toTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("could not convert '%s' to TIMESTAMP. expected format: '%s'", s, time.RFC3339)
	}
	return t, nil
}

func toDNSName(s string) (string, error) {
	u, err := dnsValidate.toUnicode(s)
	if err != nil {
		return u, fmt.Errorf("error converting '%s' to dns name: '%v'", s, err)
	}
	return u, nil
}

// emailParts splits at the first '@'.
func emailParts(addr string) (local, domain string) {
	if i := strings.IndexByte(addr, '@'); i >= 0 {
		return addr[:i], addr[i+1:]
	}
	return addr, ""
}

// toEmail accepts a bare address (no display name) whose domain is a valid
// DNS name; the value itself is kept as written.
func toEmail(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("error converting '%s' to e-mail: '%v'", s, err)
	}
	if a.Name != "" {
		return "", fmt.Errorf("error converting '%s' to e-mail: display names are not allowed", s)
	}
	_, domain := emailParts(a.Address)
	if _, err := toDNSName(domain); err != nil {
		return "", fmt.Errorf("error converting '%s' to e-mail: '%v'", s, err)
	}
	return s, nil
}

// emailEqual: local parts compare exactly (after unquoting by net/mail),
// domains as DNS names.
func emailEqual(e1, e2 string) (bool, error) {
	a1, err := mail.ParseAddress(e1)
	if err != nil {
		return false, err
	}
	a2, err := mail.ParseAddress(e2)
	if err != nil {
		return false, err
	}
	l1, d1 := emailParts(a1.Address)
	l2, d2 := emailParts(a2.Address)
	eq, err := dnsNameEqual(d1, d2)
	if err != nil {
		return false, fmt.Errorf("error comparing e-mails '%s' and '%s': %v", e1, e2, err)
	}
	return eq && l1 == l2, nil
}

func toURI(s string) (string, error) {
	if s == "" {
		return "", errEmptyURI
	}
	if _, err := url.Parse(s); err != nil {
		return "", fmt.Errorf("error converting string to uri '%s': '%v'", s, err)
	}
	return s, nil
}

// uriEqual ignores case in the scheme and, for http(s), compares hosts as
// DNS names and ports exactly before comparing the rest.
func uriEqual(s1, s2 string) (bool, error) {
	u1, err := url.Parse(s1)
	if err != nil {
		return false, fmt.Errorf("error converting string to uri '%s': '%v'", s1, err)
	}
	u2, err := url.Parse(s2)
	if err != nil {
		return false, fmt.Errorf("error converting string to uri '%s': '%v'", s2, err)
	}
	scheme := strings.ToLower(u1.Scheme)
	if scheme != strings.ToLower(u2.Scheme) {
		return false, nil
	}
	u1.Scheme, u2.Scheme = scheme, scheme
	if scheme == "http" || scheme == "https" {
		eq, err := dnsNameEqual(u1.Hostname(), u2.Hostname())
		if err != nil || !eq {
			return false, err
		}
		if u1.Port() != u2.Port() {
			return false, nil
		}
		u1.Host = u2.Host
	}
	return u1.String() == u2.String(), nil
}

// globMatch is match(): a trailing '*' is a prefix test (checked first, so
// "*" matches everything), a leading '*' a suffix test, else equality.
func globMatch(s, pattern string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(s, p)
	}
	if p, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(s, p)
	}
	return s == pattern
}

// nanosToMillis is toMilliseconds(): a DURATION (nanoseconds) as fractional
// milliseconds. Telemetry v2 records request durations in milliseconds, and
// a DURATION handed to a prometheus metric counts seconds (Mixer's adapter
// converted it that way), so without this no CEXL expression could feed an
// istio_request_duration_milliseconds histogram. One float64 division is
// correctly rounded: 1.5ms gives exactly 1.5, 13.601485ms the double nearest
// to 13.601485.
func nanosToMillis(ns int64) float64 { return float64(ns) / 1e6 }
