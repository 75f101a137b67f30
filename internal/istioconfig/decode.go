package istioconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decode reads the resources of one file: multi-document YAML, a JSON object
// or stream of objects, and Kubernetes List objects (kind List or xxxList
// with items), in any mix. file only labels positions in problems.
//
// Each YAML document is parsed on its own, so a syntax error loses only the
// document it is in. Decode does not judge kinds or specs; Build does.
func Decode(file string, data []byte) ([]*Resource, []Problem) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = loneCRToLF(data)
	var chunks []chunk
	var probs []Problem
	if looksLikeJSON(data) {
		chunks, probs = splitJSON(file, data)
	} else {
		chunks = splitYAML(data)
	}
	var out []*Resource
	for _, c := range chunks {
		var doc yaml.Node
		if err := yaml.Unmarshal(c.text, &doc); err != nil {
			probs = append(probs, yamlProblem(file, c, err))
			continue
		}
		if c.flat {
			flatten(&doc, c.line)
		} else {
			shiftLines(&doc, c.line-1)
		}
		root := deref(&doc)
		if isNull(root) {
			continue // empty document, or only comments
		}
		res, ps := objects(file, root, 0)
		out = append(out, res...)
		probs = append(probs, ps...)
	}
	return out, probs
}

// loneCRToLF turns a CR that is not followed by LF into LF: YAML counts it
// as a line break, and so must our line numbers.
func loneCRToLF(data []byte) []byte {
	i := bytes.IndexByte(data, '\r')
	if i < 0 {
		return data
	}
	out := bytes.Clone(data)
	for ; i < len(out); i++ {
		if out[i] == '\r' && (i+1 == len(out) || out[i+1] != '\n') {
			out[i] = '\n'
		}
	}
	return out
}

// chunk is one document's text and the file line it starts on.
type chunk struct {
	text []byte
	line int
	// flat is set when text is a re-encoding, whose positions mean
	// nothing: every node then reports the chunk's first line.
	flat bool
}

func looksLikeJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// splitYAML cuts a stream at its document markers ("---" and "..." at the
// start of a line, which YAML forbids inside content). The marker itself is
// blanked in a copy, so content after "--- " and all positions stay put.
func splitYAML(in []byte) []chunk {
	data := bytes.Clone(in)
	var out []chunk
	start, startLine, line := 0, 1, 1
	for pos := 0; pos < len(data); line++ {
		next := len(data)
		if end := bytes.IndexByte(data[pos:], '\n'); end >= 0 {
			next = pos + end + 1
		}
		l := data[pos:next]
		if dashes, dots := isMarker(l, "---"), isMarker(l, "..."); dashes || dots {
			if pos > start {
				out = append(out, chunk{text: data[start:pos], line: startLine})
			}
			copy(l, "   ")
			if dots { // nothing may follow a document end marker but a comment
				for i := range l {
					if l[i] != '\n' {
						l[i] = ' '
					}
				}
			}
			start, startLine = pos, line
		}
		pos = next
	}
	if start < len(data) {
		out = append(out, chunk{text: data[start:], line: startLine})
	}
	return out
}

func isMarker(l []byte, m string) bool {
	if !bytes.HasPrefix(l, []byte(m)) {
		return false
	}
	return len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r'
}

// splitJSON cuts a stream of JSON values. Each value is then parsed as YAML
// (JSON is YAML) for positions; a value YAML cannot read is converted.
func splitJSON(file string, data []byte) ([]chunk, []Problem) {
	var out []chunk
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		before := dec.InputOffset()
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			off := before
			var se *json.SyntaxError
			if errors.As(err, &se) && se.Offset > 0 {
				off = se.Offset - 1 // Offset counts the offending byte
			}
			line, col := position(data, int(off))
			return out, []Problem{{File: file, Line: line, Column: col, Message: "invalid JSON: " + err.Error()}}
		}
		// Find where the value starts: after the whitespace following before.
		startOff := int(before)
		for startOff < len(data) && strings.IndexByte(" \t\r\n", data[startOff]) >= 0 {
			startOff++
		}
		line, col := position(data, startOff)
		text := make([]byte, 0, col-1+len(raw))
		text = append(text, bytes.Repeat([]byte(" "), col-1)...)
		text = append(text, raw...)
		var probe yaml.Node
		if yaml.Unmarshal(text, &probe) != nil {
			// JSON YAML cannot read (tabs in odd places): re-encode it;
			// positions inside it are then those of its first line.
			var v any
			_ = json.Unmarshal(raw, &v)
			var n yaml.Node
			_ = n.Encode(v)
			b, _ := yaml.Marshal(&n)
			out = append(out, chunk{text: b, line: line, flat: true})
			continue
		}
		out = append(out, chunk{text: text, line: line})
	}
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, off int) (int, int) {
	off = min(max(off, 0), len(data))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem turns a yaml.v3 error into a Problem with a file line.
func yamlProblem(file string, c chunk, err error) Problem {
	msg := err.Error()
	p := Problem{File: file, Line: c.line}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		// yaml.v3 may name the line after the end of the text.
		last := c.line + bytes.Count(bytes.TrimRight(c.text, "\n"), []byte("\n"))
		p.Line = min(c.line+n-1, last)
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.Message = "invalid YAML: " + msg
	return p
}

// shiftLines moves every node of a chunk to its line in the file.
func shiftLines(n *yaml.Node, by int) {
	if by == 0 {
		return
	}
	seen := map[*yaml.Node]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		n.Line += by
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
}

// flatten puts every node on one line, column unknown.
func flatten(n *yaml.Node, line int) {
	if n == nil {
		return
	}
	n.Line, n.Column = line, 0
	for _, c := range n.Content {
		flatten(c, line)
	}
}

// maxListDepth bounds Lists inside Lists (an alias can make a List contain
// itself).
const maxListDepth = 3

// objects reads one top-level node: an object, a List, or (JSON) an array.
func objects(file string, n *yaml.Node, depth int) ([]*Resource, []Problem) {
	if depth > maxListDepth {
		return nil, []Problem{{File: file, Line: n.Line, Column: n.Column, Message: "lists nested too deeply"}}
	}
	switch n.Kind {
	case yaml.SequenceNode:
		return items(file, n, depth+1)
	case yaml.MappingNode:
	default:
		return nil, []Problem{{File: file, Line: n.Line, Column: n.Column,
			Message: fmt.Sprintf("a document must be a Kubernetes object (a mapping), not %s", describe(n))}}
	}
	top := map[string]*yaml.Node{}
	for _, e := range entries(n) {
		top[e.key] = e.v
	}
	kind := scalar(top["kind"])
	if strings.HasSuffix(kind, "List") {
		if it, ok := top["items"]; ok {
			if isNull(it) {
				return nil, nil
			}
			if deref(it).Kind != yaml.SequenceNode {
				return nil, []Problem{{File: file, Line: deref(it).Line, Column: deref(it).Column,
					Field: "items", Message: "must be a list of objects, not " + describe(it)}}
			}
			return items(file, deref(it), depth+1)
		}
	}
	r, p := object(file, n, top)
	if p != nil {
		return nil, []Problem{*p}
	}
	return []*Resource{r}, nil
}

func items(file string, seq *yaml.Node, depth int) ([]*Resource, []Problem) {
	var out []*Resource
	var probs []Problem
	for _, it := range seq.Content {
		r, p := objects(file, deref(it), depth)
		out = append(out, r...)
		probs = append(probs, p...)
	}
	return out, probs
}

func scalar(n *yaml.Node) string {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// object reads the envelope of one resource: apiVersion, kind, metadata and
// spec. The spec itself is read by Build.
func object(file string, n *yaml.Node, top map[string]*yaml.Node) (*Resource, *Problem) {
	r := &Resource{
		APIVersion: scalar(top["apiVersion"]),
		Kind:       strings.ToLower(scalar(top["kind"])),
		File:       file, Line: n.Line, Column: n.Column,
	}
	fail := func(at *yaml.Node, field, msg string) (*Resource, *Problem) {
		p := r.problem(deref(at), field, msg)
		return nil, &p
	}
	md := top["metadata"]
	if !isNull(md) && deref(md).Kind == yaml.MappingNode {
		for _, e := range entries(md) {
			switch e.key {
			case "name":
				r.Name = scalar(e.v)
			case "namespace":
				r.Namespace = scalar(e.v)
			case "annotations":
				for _, a := range entries(e.v) {
					if r.Annotations == nil {
						r.Annotations = map[string]string{}
					}
					r.Annotations[a.key] = scalar(a.v)
				}
			}
		}
	}
	switch {
	case r.Kind == "":
		return fail(n, "", "kind is missing")
	case r.APIVersion == "":
		return fail(n, "", "apiVersion is missing")
	case isNull(md) || deref(md).Kind != yaml.MappingNode:
		return fail(n, "", "metadata is missing")
	case r.Name == "":
		return fail(md, "metadata.name", "name is missing")
	}
	if s, ok := top["spec"]; ok && !isNull(s) {
		if deref(s).Kind != yaml.MappingNode {
			return fail(s, "spec", "must be a mapping, not "+describe(s))
		}
		r.Spec = deref(s)
	}
	return r, nil
}
