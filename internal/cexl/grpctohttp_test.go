package cexl

import (
	"strconv"
	"strings"
	"testing"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
)

// TestGrpcToHttp covers grpcToHttp(), which Mixer's last releases had in
// all three languages (lang.ExternGrpcToHTTP and its CEL overload): the
// HTTP status of a gRPC status code given as text.
func TestGrpcToHttp(t *testing.T) {
	// gRPC code → HTTP status, as Mixer's status.HTTPStatusFromCode gave it.
	statuses := []int64{200, 408, 500, 400, 504, 404, 409, 403, 429, 412, 409, 400, 501, 500, 503, 500, 401}
	type tc struct {
		name, expr string
		bag        map[string]attribute.Value
		want       int64
		err        string // the evaluation error
	}
	var cases []tc
	for code, want := range statuses {
		s := attribute.StringValue(strconv.Itoa(code))
		cases = append(cases, tc{"code " + strconv.Itoa(code), `grpcToHttp(s)`, map[string]attribute.Value{"s": s}, want, ""})
	}
	cases = append(cases,
		tc{"constant", `grpcToHttp("14")`, nil, 503, ""},
		tc{"a code beyond the table", `grpcToHttp("17")`, nil, 500, ""},
		tc{"negative", `grpcToHttp("-1")`, nil, 500, ""},
		tc{"a sign", `grpcToHttp("+5")`, nil, 404, ""},
		// Mixer converted the int to a 32-bit code.
		tc{"2^32 is code 0", `grpcToHttp("4294967296")`, nil, 200, ""},
		tc{"2^32 + 5 is code 5", `grpcToHttp("4294967301")`, nil, 404, ""},
		tc{"not a number", `grpcToHttp(s)`, map[string]attribute.Value{"s": attribute.StringValue("UNAVAILABLE")}, 0,
			`error converting string to int64 'UNAVAILABLE': 'strconv.Atoi: parsing "UNAVAILABLE": invalid syntax'`},
		tc{"out of range", `grpcToHttp("99999999999999999999")`, nil, 0,
			`error converting string to int64 '99999999999999999999': 'strconv.Atoi: parsing "99999999999999999999": value out of range'`},
		tc{"in a comparison", `grpcToHttp(s) >= 500`, map[string]attribute.Value{"s": attribute.StringValue("4")}, 1, ""},
	)
	for _, d := range []Dialect{CEXL, COMPAT, CEL} {
		for _, c := range cases {
			t.Run(d.String()+"/"+c.name, func(t *testing.T) {
				e, err := CompileDialect(c.expr, testVocab, d)
				if err != nil {
					t.Fatalf("compile %q: %v", c.expr, err)
				}
				v, err := e.Eval(testBag(t, c.bag))
				if c.err != "" {
					if err == nil || err.Error() != c.err {
						t.Fatalf("%q = %v, %v; want the error %q", c.expr, v, err, c.err)
					}
					return
				}
				if err != nil {
					t.Fatalf("%q: %v", c.expr, err)
				}
				got := v.Int64()
				if v.Type() == attribute.TypeBool {
					got = 0
					if v.Bool() {
						got = 1
					}
				}
				if got != c.want {
					t.Fatalf("%q = %v; want %d", c.expr, v, c.want)
				}
			})
		}
	}
	// Its argument is a STRING, as response.grpc_status is.
	for d, want := range map[Dialect]string{
		CEXL: "grpcToHttp($i) arg 1 ($i) typeError got INT64, expected STRING",
		CEL:  "found no matching overload for 'grpcToHttp' applied to '(int)'",
	} {
		if _, err := CompileDialect(`grpcToHttp(i)`, testVocab, d); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: grpcToHttp(i) compiled with %v; want an error containing %q", d, err, want)
		}
	}
}
