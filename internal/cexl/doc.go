// Package cexl implements CEXL, the configuration expression language of
// Istio Mixer (1.1 – 1.7), with Mixer's syntax, type rules, error texts and
// evaluation semantics, checked against the test tables of Istio itself
// (testdata/, see README.md there).
//
// Expressions are compiled once against an attribute.Vocabulary into trees
// of typed closures that read an attribute.Bag by slot id: evaluation does
// no name lookups, no reflection, and allocates nothing on the success path
// except where the result is new data (string concatenation, non-constant
// ip()/timestamp() conversions, toLower of a changing string).
//
// The semantics in brief (the tests and testdata/ pin them down):
//   - Syntax is Go's; `|` binds like `+`. Unary -, !, and binary - * / %
//     parse but fail with "unknown function: SUB" etc.
//   - A string literal that parses as a Go duration ("10ms", "0") is a
//     DURATION constant.
//   - Types are strict: no numeric promotion, T == T only.
//   - An absent attribute is an error ("lookup failed: 'x'") except on the
//     left of `|`, where it (and a map lookup with an absent map, key
//     attribute or key) falls through; "" is a value. The last operand of a
//     `|` chain is strict.
//   - m[k] outside `|` yields "" for a missing key.
//   - &&, || and conditional() short-circuit.
//   - "re".matches(s) uses the receiver as the regexp.
//
// Differences from Mixer, all deliberate and all about inputs Mixer did not
// handle sensibly:
//   - Constructs Mixer rejected with "unexpected expression: " followed by a
//     Go AST dump (pointer addresses included) are reported with the
//     offending source text and its line:column instead.
//   - Mixer did not type-check present values of the TIMESTAMP, IP_ADDRESS
//     and STRING_MAP attributes (a wrong-typed one reached the functions and
//     could crash them); we fail with "error converting value to TIMESTAMP:
//     '…'" and the like, in the style of its checks for the other types.
//   - An operator (==, <, +, &&, size(), …) on the left of `|` counts as
//     present, like a function call or constant does in Mixer. Mixer's code
//     generator forgot the jump for these, so `(x == y) | z` returned z.
//   - `a | (b | c)` written with explicit parentheses: Mixer's code generator
//     left the stack inconsistent when all three were absent; we treat it as
//     `a | b | c`.
//   - Arguments beyond a function's declared parameters are ignored, not
//     evaluated (Mixer evaluated them, which could fail or shift the
//     arguments the function received).
//   - <= and >= on TIMESTAMP compare instants (Mixer's used struct equality
//     for the "or equal" part, so equal instants in different time zones
//     compared unequal).
//   - DNS name validation implements the ASCII behaviour of Mixer's IDNA
//     library exactly but approximates its Unicode tables (see idna.go).
//
// Extensions beyond Mixer: functions Mixer did not have. A config that uses
// one does not load on Mixer ("unknown function: toMilliseconds"):
//   - toMilliseconds(DURATION) DOUBLE: the duration in milliseconds, with
//     the fraction kept (toMilliseconds("1500us") is 1.5). Mixer's
//     prometheus adapter turned a DURATION value into seconds, so it could
//     not produce Telemetry v2's istio_request_duration_milliseconds; the
//     embedded profile istio-telemetry-v2 uses
//     toMilliseconds(response.duration | "0ms") for that. Like the other
//     functions it counts as present on the left of `|`, and an absent
//     argument outside `|` is "lookup failed".
//
// COMPAT. From 1.2 to 1.7 a rule or instance annotated
// policy.istio.io/lang: COMPAT kept CEXL's syntax but was translated to CEL
// and evaluated by CEL's interpreter over attributes modelled as message
// fields. CompileDialect(…, COMPAT) reproduces what that did, checked
// against the cases of Istio's COMPAT test (testdata/, modes.cel_compat):
//   - An absent attribute reads as its type's default ("", 0, false, the
//     Unix epoch, an IP_ADDRESS of no bytes, an empty map); nothing fails
//     with "lookup failed".
//   - `a | b | …` tests presence only where CEL could: a dotted attribute
//     (`request.size | 0`: has(request.size)) and a map lookup (`m[k] | x`:
//     k in m). Anything else on the left, an undotted attribute included,
//     is the result and the rest is not evaluated (`ai | 42` is 0 when ai
//     is absent).
//   - m[k] with a missing key fails with "no such key: 'k'".
//   - "s".matches(pattern): the receiver is the string, the argument the
//     regexp, the other way round from CEXL.
//   - && and || decide despite an error on one side when the other side
//     decides (error || true is true).
//   - size() counts code points; reverse(s) and s.reverse() exist; ==, !=
//     and the orderings apply to DURATION; !, unary -, and binary -, *, /
//     and % work on BOOL, INT64 and DOUBLE as in CEL (an INT64 division or
//     modulus by zero is an error; otherwise integers wrap, like +).
//   - Calls are checked with CEL's rules, and CEL's functions are there
//     (int(), string(), duration(), contains(), the string extensions, the
//     parts of a timestamp, + and - on timestamps and durations): Mixer
//     translated COMPAT's CEXL into CEL and checked and ran it in CEL's
//     environment (see CEL below), and type errors read as cel-go's.
//
// A left operand of `|` that is itself a parenthesised `|` chain is flattened
// into the chain, as CEXL does; Mixer's translator dropped what followed it.
//
// In CEXL, error texts are Mixer's: even its "internal compiler error -- …"
// messages (== on DURATION, `+` on BOOL, …) are kept verbatim, so config
// validation reports what Mixer reported.
//
// CEL. A resource annotated policy.istio.io/lang: CEL (Mixer 1.2 – 1.7) is
// written in CEL's own syntax. CompileDialect(…, CEL) parses that syntax
// with a parser of its own (celparse.go) and evaluates with COMPAT's
// semantics, which were CEL's; its cases are Istio's CEL test table
// (testdata/cel-cases.json). Attributes are fields of nested messages, as
// Mixer modelled them: `a.b.c` is the attribute a.b.c, a STRING_MAP's
// field is one of its keys (`request.headers.host`), and has() tests the
// presence of an attribute or a key (has(context.reporter) is true: a
// group of attributes is always there). On top of COMPAT:
//   - the ternary `c ? x : y`, `k in map`, `x in [a, b]` (which is
//     x == a || x == b), list literals indexed by a constant, and map
//     literals of string constants ({} is emptyStringMap());
//   - pick(a, b, …), which is COMPAT's a | b | …;
//   - int(), double(), string(), duration(), timestamp() conversions,
//     contains(), and cel-go's string extensions as Mixer had them:
//     charAt, indexOf, lastIndexOf, lowerAscii, upperAscii, replace,
//     substring, trim;
//   - + and - over timestamps and durations, the parts of a timestamp
//     (getHours(), getDayOfWeek("Europe/Paris"), …) and of a duration;
//   - string literals in every quoting of CEL (raw, triple-quoted, with
//     CEL's escapes).
//
// Calls are checked with CEL's rules (exact arity, overloads by argument
// type, methods only on values) and their errors read as cel-go's ("found
// no matching overload for '_==_' applied to '(string, int)'",
// "undefined field 'report'", "found no matching overload for '@in' applied
// to '(string, list(int))'"); a list literal of mixed types, which today's
// cel-go types list(dyn), is refused with the first comparison that fails.
// Refused when loaded: list values and the
// macros over them (no attribute is a list, so split() and all() have
// nothing to give or range over), type values, message construction, null,
// unsigned and bytes literals, and two things Mixer accepted only to fail on
// every evaluation: == between maps and size() of a map. toMilliseconds() is
// our CEXL's extension and is not part of CEL.
package cexl
