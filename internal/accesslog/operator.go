package accesslog

import (
	"strings"
)

// field is what an Envoy command operator tells about a request, as far as
// the Istio attribute mapping is concerned.
type field uint8

const (
	fNone field = iota // an operator whose value no attribute uses
	fStartTime
	fMethod
	fPath
	fProtocol
	fResponseCode
	fResponseFlags
	fResponseCodeDetails
	fConnectionTerminationDetails
	fUpstreamTransportFailureReason
	fBytesReceived
	fBytesSent
	fDuration
	fUpstreamServiceTime
	fForwardedFor
	fUserAgent
	fRequestID
	fAuthority
	fReferer
	fScheme
	fContentType
	fUpstreamHost
	fUpstreamCluster
	fUpstreamLocalAddress
	fDownstreamLocalAddress
	fDownstreamRemoteAddress
	fDownstreamDirectRemoteAddress
	fRequestedServerName
	fRouteName
	fGRPCStatus
	fGRPCMessage
	fConnectionID
	fPeerURISAN
	fLocalURISAN
	fRequestHeadersBytes
	fResponseHeadersBytes
	fDownstreamWireBytesReceived
	fDownstreamWireBytesSent
	fAccessLogType
	fReqHeader  // any other %REQ(X)%: request.headers[x]
	fRespHeader // any other %RESP(X)% or %TRAILER(X)%: response.headers[x]
	numFields
)

// class constrains the text an operator can print. It lets the matcher
// split a line without ambiguity where the format puts no quotes around a
// value, and tells the format detector that a line is not of a format.
type class uint8

const (
	cAny     class = iota // anything, spaces included
	cToken                // no space, no double quote
	cNumeric              // decimal digits, or "-"
	cNoQuote              // no double quote: values Envoy prints between quotes that never hold one
)

// check reports whether v is a possible value, and whether no longer
// value starting with v can be one (so the matcher can stop looking).
func (c class) check(v string) (ok, hopeless bool) {
	switch c {
	case cToken:
		if strings.IndexByte(v, ' ') >= 0 || strings.IndexByte(v, '"') >= 0 {
			return false, true
		}
		return true, false
	case cNoQuote:
		if strings.IndexByte(v, '"') >= 0 {
			return false, true
		}
		return true, false
	case cNumeric:
		if v == "-" {
			return true, false
		}
		if v == "" {
			return false, false
		}
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return false, true
			}
		}
		return true, false
	}
	return true, false
}

// op is one compiled command operator.
type op struct {
	text    string // as written, e.g. %REQ(USER-AGENT):20%
	field   field
	class   class
	header  string // lower-case header name the value also goes under, if any
	numeric bool   // Envoy's JSON formatter prints the value as a number
	time    *timeLayout
}

// simpleOps are the operators without an argument that the mapping uses or
// whose values are constrained.
var simpleOps = map[string]struct {
	f field
	c class
}{
	"PROTOCOL":                                      {fProtocol, cToken},
	"RESPONSE_CODE":                                 {fResponseCode, cNumeric},
	"RESPONSE_FLAGS":                                {fResponseFlags, cToken},
	"RESPONSE_FLAGS_LONG":                           {fNone, cToken},
	"RESPONSE_CODE_DETAILS":                         {fResponseCodeDetails, cToken},
	"CONNECTION_TERMINATION_DETAILS":                {fConnectionTerminationDetails, cToken},
	"UPSTREAM_TRANSPORT_FAILURE_REASON":             {fUpstreamTransportFailureReason, cNoQuote},
	"BYTES_RECEIVED":                                {fBytesReceived, cNumeric},
	"BYTES_SENT":                                    {fBytesSent, cNumeric},
	"DURATION":                                      {fDuration, cNumeric},
	"REQUEST_DURATION":                              {fNone, cNumeric},
	"REQUEST_TX_DURATION":                           {fNone, cNumeric},
	"RESPONSE_DURATION":                             {fNone, cNumeric},
	"RESPONSE_TX_DURATION":                          {fNone, cNumeric},
	"UPSTREAM_REQUEST_ATTEMPT_COUNT":                {fNone, cNumeric},
	"UPSTREAM_HOST":                                 {fUpstreamHost, cToken},
	"UPSTREAM_REMOTE_ADDRESS":                       {fUpstreamHost, cToken},
	"UPSTREAM_CLUSTER":                              {fUpstreamCluster, cToken},
	"UPSTREAM_CLUSTER_RAW":                          {fUpstreamCluster, cToken},
	"UPSTREAM_LOCAL_ADDRESS":                        {fUpstreamLocalAddress, cToken},
	"DOWNSTREAM_LOCAL_ADDRESS":                      {fDownstreamLocalAddress, cToken},
	"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":         {fDownstreamLocalAddress, cToken},
	"DOWNSTREAM_REMOTE_ADDRESS":                     {fDownstreamRemoteAddress, cToken},
	"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":        {fDownstreamRemoteAddress, cToken},
	"DOWNSTREAM_DIRECT_REMOTE_ADDRESS":              {fDownstreamDirectRemoteAddress, cToken},
	"DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": {fDownstreamDirectRemoteAddress, cToken},
	"REQUESTED_SERVER_NAME":                         {fRequestedServerName, cToken},
	"ROUTE_NAME":                                    {fRouteName, cAny},
	"GRPC_STATUS":                                   {fGRPCStatus, cToken},
	"GRPC_STATUS_NUMBER":                            {fGRPCStatus, cToken},
	"CONNECTION_ID":                                 {fConnectionID, cNumeric},
	"STREAM_ID":                                     {fConnectionID, cToken},
	"DOWNSTREAM_PEER_URI_SAN":                       {fPeerURISAN, cToken},
	"DOWNSTREAM_LOCAL_URI_SAN":                      {fLocalURISAN, cToken},
	"REQUEST_HEADERS_BYTES":                         {fRequestHeadersBytes, cNumeric},
	"RESPONSE_HEADERS_BYTES":                        {fResponseHeadersBytes, cNumeric},
	"RESPONSE_TRAILERS_BYTES":                       {fNone, cNumeric},
	"DOWNSTREAM_WIRE_BYTES_RECEIVED":                {fDownstreamWireBytesReceived, cNumeric},
	"DOWNSTREAM_WIRE_BYTES_SENT":                    {fDownstreamWireBytesSent, cNumeric},
	"UPSTREAM_WIRE_BYTES_RECEIVED":                  {fNone, cNumeric},
	"UPSTREAM_WIRE_BYTES_SENT":                      {fNone, cNumeric},
	"ACCESS_LOG_TYPE":                               {fAccessLogType, cToken},
}

// numericFields are printed as JSON numbers by Envoy's JSON formatter.
func (f field) numeric() bool {
	switch f {
	case fResponseCode, fBytesReceived, fBytesSent, fDuration, fConnectionID,
		fRequestHeadersBytes, fResponseHeadersBytes, fDownstreamWireBytesReceived, fDownstreamWireBytesSent:
		return true
	}
	return false
}

// newOp compiles one operator: name is what stands between the % signs
// without the argument, arg the text in parentheses (hasArg tells an empty
// argument from none).
func newOp(text, name, arg string, hasArg bool) *op {
	o := &op{text: text, class: cAny}
	switch name {
	case "START_TIME", "DOWNSTREAM_TLS_CERT_V_START", "DOWNSTREAM_TLS_CERT_V_END":
		if name == "START_TIME" {
			o.field = fStartTime
			o.time = compileTimeLayout(arg, hasArg)
		}
	case "DYNAMIC_METADATA":
		if arg == "istio.mixer:status" { // a gRPC status and message
			o.class = cNoQuote
		}
	case "REQ":
		reqOp(o, arg)
	case "RESP", "TRAILER":
		respOp(o, arg)
	default:
		if s, ok := simpleOps[name]; ok {
			o.field, o.class = s.f, s.c
			if name == "GRPC_STATUS" && strings.EqualFold(arg, "NUMBER") {
				o.class = cNumeric
			}
		}
	}
	o.numeric = o.field.numeric() || o.class == cNumeric && o.field == fNone
	return o
}

// reqOp compiles %REQ(X?Y)%: the main header X, else the alternative Y.
func reqOp(o *op, arg string) {
	main, alt, _ := strings.Cut(arg, "?")
	m, a := strings.ToUpper(main), strings.ToUpper(alt)
	is := func(name string) bool { return m == name || (m == "" && a == name) }
	switch {
	case m == ":PATH" || m == "X-ENVOY-ORIGINAL-PATH" || a == ":PATH":
		o.field, o.class = fPath, cToken
	case is(":METHOD"):
		o.field, o.class = fMethod, cToken
	case is(":AUTHORITY") || is("HOST"):
		o.field, o.class = fAuthority, cNoQuote
	case is("USER-AGENT"):
		o.field = fUserAgent
	case is("X-REQUEST-ID"):
		o.field, o.class, o.header = fRequestID, cNoQuote, "x-request-id"
	case is("X-FORWARDED-FOR"):
		o.field, o.class, o.header = fForwardedFor, cNoQuote, "x-forwarded-for"
	case is("REFERER"):
		o.field = fReferer
	case is(":SCHEME"):
		o.field, o.class = fScheme, cToken
	case is("CONTENT-TYPE"):
		o.field, o.header = fContentType, "content-type"
	default:
		o.field, o.header = fReqHeader, strings.ToLower(main)
	}
}

// respOp compiles %RESP(X?Y)% and %TRAILER(X?Y)%.
func respOp(o *op, arg string) {
	main, _, _ := strings.Cut(arg, "?")
	switch strings.ToUpper(main) {
	case "X-ENVOY-UPSTREAM-SERVICE-TIME":
		o.field, o.class, o.header = fUpstreamServiceTime, cNumeric, "x-envoy-upstream-service-time"
	case "GRPC-STATUS":
		o.field = fGRPCStatus
	case "GRPC-MESSAGE":
		o.field = fGRPCMessage
	default:
		o.field, o.header = fRespHeader, strings.ToLower(main)
	}
}
