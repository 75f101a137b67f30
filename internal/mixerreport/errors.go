package mixerreport

import (
	"fmt"
	"strconv"
	"strings"
)

// DictionaryError rejects a whole request whose caller claims to know more
// global words than we do. Mixer answered it with gRPC INTERNAL and this text.
type DictionaryError struct {
	Known  int // words in our global dictionary
	Caller int // the request's global_word_count
}

func (e *DictionaryError) Error() string {
	return fmt.Sprintf("inconsistent global dictionary versions used: mixer knows %d words, caller knows %d",
		e.Known, e.Caller)
}

// ElementError is one element of a ReportRequest that produced no report.
type ElementError struct {
	Index int   // position in ReportRequest.attributes
	Err   error // what is wrong with it
}

// Error uses Mixer's wording, so that clients see the text Mixer sent.
func (e *ElementError) Error() string {
	return "request could not be processed due to invalid attributes: " + e.Err.Error()
}

func (e *ElementError) Unwrap() error { return e.Err }

// undefinedIndexError lists the word indices of one element that name no
// word. Mixer collected them in a multierror; Error renders that format.
type undefinedIndexError struct {
	indices []int32
}

func (e *undefinedIndexError) Error() string {
	msgs := make([]string, len(e.indices))
	for i, idx := range e.indices {
		msgs[i] = undefinedIndexText(idx)
	}
	return formatMultiError(msgs)
}

func undefinedIndexText(idx int32) string {
	return "attribute index " + strconv.Itoa(int(idx)) + " is not defined in the available dictionaries"
}

// duplicateError is a delta element that names one attribute twice.
type duplicateError struct {
	name string
	kind Kind
}

func (e *duplicateError) Error() string {
	return fmt.Sprintf("duplicate attribute %s (type %s)", e.name, e.kind.mixerTypeName())
}

// valueError is a timestamp or duration the bag cannot hold. Mixer's gogo
// codec refused such messages outright; here only the element fails.
type valueError struct {
	name string
	kind Kind
	msg  string
}

func (e *valueError) Error() string {
	return fmt.Sprintf("%s attribute %s: %s", e.kind, e.name, e.msg)
}

// limitError is a bag or string map beyond MaxAttributes or
// MaxStringMapEntries.
type limitError struct {
	what string
	n    int
	max  int
	unit string
}

func (e *limitError) Error() string {
	return fmt.Sprintf("%s has %d %s, more than the %d accepted", e.what, e.n, e.unit, e.max)
}

// ReportErrorMessage renders the errors of a Report RPC the way Mixer did in
// its UNKNOWN status (hashicorp/go-multierror's list format), e.g.
//
//	1 error occurred:
//		* request could not be processed due to invalid attributes: ...
func ReportErrorMessage(errs []ElementError) string {
	msgs := make([]string, len(errs))
	for i := range errs {
		msgs[i] = errs[i].Error()
	}
	return formatMultiError(msgs)
}

func formatMultiError(msgs []string) string {
	var b strings.Builder
	if len(msgs) == 1 {
		b.WriteString("1 error occurred:\n\t* ")
	} else {
		fmt.Fprintf(&b, "%d errors occurred:\n\t* ", len(msgs))
	}
	b.WriteString(strings.Join(msgs, "\n\t* "))
	b.WriteString("\n\n")
	return b.String()
}
