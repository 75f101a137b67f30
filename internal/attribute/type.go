// Package attribute holds Mixer's attribute model: the value types of
// istio.policy.v1beta1.ValueType, typed values, the attribute vocabulary
// declared by attribute manifests, the global word dictionary of the Mixer
// wire protocol, and Bag, the reusable per-request attribute store that
// compiled expressions read from.
//
// Everything here is built for the request path: a Vocabulary gives every
// attribute a dense slot id once, at config time, so a Bag is a plain slice
// indexed by id and filling or reading it allocates nothing in steady state.
package attribute

import (
	"fmt"
	"strconv"
	"strings"
)

// Type is an attribute value type. The numbers are those of Istio's
// istio.policy.v1beta1.ValueType enum, so they can be used on the wire and in
// config unchanged.
type Type uint8

// The value types. TypeUnspecified (0) is VALUE_TYPE_UNSPECIFIED.
const (
	TypeUnspecified  Type = 0
	TypeString       Type = 1
	TypeInt64        Type = 2
	TypeDouble       Type = 3
	TypeBool         Type = 4
	TypeTimestamp    Type = 5
	TypeIPAddress    Type = 6
	TypeEmailAddress Type = 7
	TypeURI          Type = 8
	TypeDNSName      Type = 9
	TypeDuration     Type = 10
	TypeStringMap    Type = 11
)

// maxType is the largest defined type number.
const maxType = TypeStringMap

var typeNames = [...]string{
	TypeUnspecified:  "VALUE_TYPE_UNSPECIFIED",
	TypeString:       "STRING",
	TypeInt64:        "INT64",
	TypeDouble:       "DOUBLE",
	TypeBool:         "BOOL",
	TypeTimestamp:    "TIMESTAMP",
	TypeIPAddress:    "IP_ADDRESS",
	TypeEmailAddress: "EMAIL_ADDRESS",
	TypeURI:          "URI",
	TypeDNSName:      "DNS_NAME",
	TypeDuration:     "DURATION",
	TypeStringMap:    "STRING_MAP",
}

// String returns Istio's enum name ("STRING", "IP_ADDRESS", …). Undefined
// numbers print as the number, as protobuf enums do; Mixer's error messages
// rely on these exact names.
func (t Type) String() string {
	if t <= maxType {
		return typeNames[t]
	}
	return strconv.Itoa(int(t))
}

// Valid reports whether t is one of the eleven concrete value types.
func (t Type) Valid() bool { return t >= TypeString && t <= maxType }

// StringBacked reports whether values of t are carried as Go strings (STRING,
// DNS_NAME, EMAIL_ADDRESS and URI travel in the same wire field and Mixer
// treats them alike when reading attributes).
func (t Type) StringBacked() bool {
	switch t {
	case TypeString, TypeDNSName, TypeEmailAddress, TypeURI:
		return true
	}
	return false
}

// ParseType accepts Istio's type names in any letter case ("STRING",
// "ip_address", "VALUE_TYPE_UNSPECIFIED") and decimal type numbers ("6").
func ParseType(s string) (Type, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for i, n := range typeNames {
		if u == n {
			return Type(i), nil
		}
	}
	if n, err := strconv.ParseUint(u, 10, 8); err == nil && Type(n) <= maxType {
		return Type(n), nil
	}
	return TypeUnspecified, fmt.Errorf("unknown attribute value type %q", s)
}
