package cexl

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mixer validated DNS names with two golang.org/x/net/idna profiles (2020
// vintage): dnsName() used ToUnicode with StrictDomainName, ValidateLabels,
// VerifyDNSLength and BidiRule; DNS_NAME equality used ToUnicode with
// MapForLookup. We are stdlib-only, so this file re-implements the parts of
// that processing that decide anything for real host names: the label
// splitting (including its trailing-dot rules), empty-label and hyphen checks,
// punycode ("xn--") decoding, case mapping and the STD3 character rule for
// lookups, with the same error texts ("idna: invalid label %q",
// "idna: disallowed rune %U"). For ASCII input the results are identical.
// Not reproduced (a deliberate simplification): Unicode normalisation, the
// IDNA mapping table beyond lower-casing, the Bidi rule and the ContextJ joiner
// rules, which only matter for exotic non-ASCII names.

type idnaLabelError struct{ label string }

func (e idnaLabelError) Error() string { return fmt.Sprintf("idna: invalid label %q", e.label) }

type idnaRuneError rune

func (e idnaRuneError) Error() string { return fmt.Sprintf("idna: disallowed rune %U", rune(e)) }

// idnaProfile selects between the two Mixer profiles.
type idnaProfile struct {
	lookup bool // MapForLookup: map case, enforce STD3 characters; no length checks
}

var (
	dnsValidate = idnaProfile{}
	dnsLookup   = idnaProfile{lookup: true}
)

// toUnicode mirrors idna's Profile.ToUnicode: it returns s with "xn--"
// labels decoded (and, for lookups, case-mapped) plus the first error met.
func (p idnaProfile) toUnicode(s string) (string, error) {
	var err error
	if p.lookup {
		s, err = idnaMap(s)
	}
	verifyLength := !p.lookup
	if err == nil && verifyLength && s == "" {
		err = idnaLabelError{s}
	}
	var labels []string // set once a label is rewritten
	orig := s
	start := 0
	for i := 0; start < len(orig); i++ {
		end := strings.IndexByte(orig[start:], '.')
		if end < 0 {
			end = len(orig)
		} else {
			end += start
		}
		label := orig[start:end]
		if labels != nil {
			label = labels[i]
		}
		switch {
		case label == "":
			// Empty labels are errors; the iterator below skips a final
			// empty label, so "a." (and, quirkily, "a..") are fine.
			if err == nil && verifyLength {
				err = idnaLabelError{orig}
			}
		case strings.HasPrefix(label, "xn--"):
			u, perr := punycodeDecode(label[4:])
			if perr != nil {
				if err == nil {
					err = perr
				}
				break
			}
			if labels == nil {
				labels = strings.Split(orig, ".")
			}
			labels[i] = u
			if err == nil {
				err = idnaCheckDecoded(u)
			}
			if err == nil {
				err = p.validateLabel(u)
			}
		default:
			if err == nil {
				err = p.validateLabel(label)
			}
		}
		// Advance like idna's labelIter: a label that would be the empty one
		// before a final dot ends the walk.
		start = end + 1
		if start == len(orig)-1 && orig[start] == '.' {
			start = len(orig)
		}
	}
	if labels != nil {
		return strings.Join(labels, "."), err
	}
	return orig, err
}

// validateLabel applies the CheckHyphens and leading-combining-mark rules.
func (p idnaProfile) validateLabel(s string) error {
	if s == "" {
		if !p.lookup {
			return idnaLabelError{s}
		}
		return nil
	}
	if len(s) > 4 && s[2] == '-' && s[3] == '-' {
		return idnaLabelError{s}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return idnaLabelError{s}
	}
	if r, _ := utf8.DecodeRuneInString(s); unicode.Is(unicode.M, r) {
		return idnaLabelError{s}
	}
	return nil
}

// idnaCheckDecoded approximates idna's validity check of decoded punycode:
// ASCII must be lower-case letters, digits or '-'; beyond ASCII, characters
// the mapping would change (upper case) and controls and spaces are refused.
func idnaCheckDecoded(u string) error {
	for _, r := range u {
		switch {
		case r < utf8.RuneSelf:
			if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
				return idnaLabelError{u}
			}
		case r == utf8.RuneError, unicode.IsUpper(r), unicode.IsControl(r), unicode.IsSpace(r):
			return idnaLabelError{u}
		}
	}
	return nil
}

// idnaMap is the lookup mapping: ASCII letters fold to lower case, other
// ASCII characters outside [a-z0-9.-] are disallowed (STD3 rules), non-ASCII
// letters are lower-cased.
func idnaMap(s string) (string, error) {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			continue
		}
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return s, idnaRuneError(c)
		}
	}
	if !ascii && !utf8.ValidString(s) {
		return s, idnaRuneError(utf8.RuneError)
	}
	return strings.ToLower(s), nil
}

// dnsNameEqual compares two DNS names as Mixer's dnsName_equal did: both are
// mapped for lookup, then a trailing dot on one side only is ignored.
func dnsNameEqual(a, b string) (bool, error) {
	var err error
	if a, err = dnsLookup.toUnicode(a); err != nil {
		return false, err
	}
	if b, err = dnsLookup.toUnicode(b); err != nil {
		return false, err
	}
	if len(a) > 0 && len(b) > 0 {
		aDot, bDot := a[len(a)-1] == '.', b[len(b)-1] == '.'
		if aDot && !bDot {
			a = a[:len(a)-1]
		} else if bDot && !aDot {
			b = b[:len(b)-1]
		}
	}
	return a == b, nil
}

// Punycode parameters of RFC 3492.
const (
	punyBase        = 36
	punyTMin        = 1
	punyTMax        = 26
	punySkew        = 38
	punyDamp        = 700
	punyInitialBias = 72
	punyInitialN    = 128
)

// punycodeDecode decodes the part of an "xn--" label after the prefix
// (RFC 3492). Errors read like idna's: the encoded text as an invalid label.
func punycodeDecode(encoded string) (string, error) {
	if encoded == "" {
		return "", nil
	}
	fail := idnaLabelError{encoded}
	pos := 1 + strings.LastIndexByte(encoded, '-')
	if pos == 1 {
		return "", fail // a delimiter with nothing before it
	}
	if pos == len(encoded) {
		return encoded[:len(encoded)-1], nil
	}
	output := make([]rune, 0, len(encoded))
	if pos != 0 {
		for _, r := range encoded[:pos-1] {
			output = append(output, r)
		}
	}
	i, n, bias := int32(0), int32(punyInitialN), int32(punyInitialBias)
	for pos < len(encoded) {
		oldI, w := i, int32(1)
		for k := int32(punyBase); ; k += punyBase {
			if pos == len(encoded) {
				return "", fail
			}
			digit, ok := punyDigit(encoded[pos])
			if !ok {
				return "", fail
			}
			pos++
			var overflow bool
			if i, overflow = mulAdd(i, digit, w); overflow {
				return "", fail
			}
			t := k - bias
			if k <= bias {
				t = punyTMin
			} else if k >= bias+punyTMax {
				t = punyTMax
			}
			if digit < t {
				break
			}
			if w, overflow = mulAdd(0, w, punyBase-t); overflow {
				return "", fail
			}
		}
		if len(output) >= 1024 {
			return "", fail
		}
		x := int32(len(output) + 1)
		bias = punyAdapt(i-oldI, x, oldI == 0)
		n += i / x
		i %= x
		if n < 0 || n > utf8.MaxRune {
			return "", fail
		}
		output = slices.Insert(output, int(i), n)
		i++
	}
	return string(output), nil
}

func punyDigit(c byte) (int32, bool) {
	switch {
	case '0' <= c && c <= '9':
		return int32(c-'0') + 26, true
	case 'A' <= c && c <= 'Z':
		return int32(c - 'A'), true
	case 'a' <= c && c <= 'z':
		return int32(c - 'a'), true
	}
	return 0, false
}

// mulAdd returns i + a*b and whether that overflowed int32 (all inputs are
// non-negative).
func mulAdd(i, a, b int32) (int32, bool) {
	p := int64(i) + int64(a)*int64(b)
	return int32(p), p > math.MaxInt32
}

func punyAdapt(delta, numPoints int32, firstTime bool) int32 {
	if firstTime {
		delta /= punyDamp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := int32(0)
	for delta > ((punyBase-punyTMin)*punyTMax)/2 {
		delta /= punyBase - punyTMin
		k += punyBase
	}
	return k + (punyBase-punyTMin+1)*delta/(delta+punySkew)
}

var errEmptyURI = errors.New("error converting string to uri: empty string")
