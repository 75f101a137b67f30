package mixerreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// UnmarshalJSON reads a bag in the typed JSON of shared/conformance
// (mixer-oracle.json "reports"): an object of attribute name →
// {"type": T, "value": V} with T an Istio value type or BYTES. Attribute
// order is kept. Values: STRING, DNS_NAME, EMAIL_ADDRESS, URI a string;
// INT64 an integer; DOUBLE a number; BOOL; TIMESTAMP an RFC 3339 string;
// DURATION a Go duration string; BYTES a list of byte values; IP_ADDRESS
// text (sent as 4 bytes for IPv4, else 16); STRING_MAP an object of strings.
func (b *Bag) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("typed bag: want a JSON object")
	}
	var out Bag
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("typed bag: %w", err)
		}
		name, _ := tok.(string)
		var tv struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		}
		if err := dec.Decode(&tv); err != nil {
			return fmt.Errorf("typed bag attribute %q: %w", name, err)
		}
		a, err := typedAttr(name, tv.Type, tv.Value)
		if err != nil {
			return fmt.Errorf("typed bag attribute %q: %w", name, err)
		}
		out = append(out, a)
	}
	*b = out
	return nil
}

func typedAttr(name, typ string, v json.RawMessage) (Attr, error) {
	switch typ {
	case "STRING", "DNS_NAME", "EMAIL_ADDRESS", "URI":
		var s string
		err := json.Unmarshal(v, &s)
		return String(name, s), err
	case "INT64":
		i, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		return Int64(name, i), err
	case "DOUBLE":
		var f float64
		err := json.Unmarshal(v, &f)
		return Double(name, f), err
	case "BOOL":
		var x bool
		err := json.Unmarshal(v, &x)
		return Bool(name, x), err
	case "TIMESTAMP":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return Attr{}, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return Timestamp(name, t), err
	case "DURATION":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return Attr{}, err
		}
		d, err := time.ParseDuration(s)
		return Duration(name, d), err
	case "BYTES":
		var ints []int
		if err := json.Unmarshal(v, &ints); err != nil {
			return Attr{}, err
		}
		raw := make([]byte, len(ints))
		for i, x := range ints {
			if x < 0 || x > 255 {
				return Attr{}, fmt.Errorf("byte value %d out of range", x)
			}
			raw[i] = byte(x)
		}
		return Bytes(name, raw), nil
	case "IP_ADDRESS":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return Attr{}, err
		}
		ip, err := netip.ParseAddr(s)
		return IP(name, ip), err
	case "STRING_MAP":
		m := map[string]string{}
		err := json.Unmarshal(v, &m)
		return StringMap(name, m), err
	}
	return Attr{}, fmt.Errorf("unknown type %q", typ)
}
