package kubeenv

import (
	"errors"
	"fmt"
	"strings"

	"github.com/otelcol-istio/otelcol-istio/internal/attribute"
	"github.com/otelcol-istio/otelcol-istio/internal/cexl"
)

// Spec is a compiled kubernetes instance.
type Spec struct {
	// Inputs, compiled against the request vocabulary; nil leaves an input
	// empty (no uid, no IP, port 0).
	SourceUID, SourceIP, DestinationUID, DestinationIP, DestinationPort *cexl.Expression
	// Bindings, compiled against OutputVocabulary of the request vocabulary.
	Bindings []Binding
}

// Binding fills one attribute from an expression over the outputs ($out.x,
// compiled as OutputAttribute) and the request attributes.
type Binding struct {
	Attribute string
	Expr      *cexl.Expression
}

// Generator runs one kubernetes instance on request bags: it evaluates the
// inputs, looks the pods up, evaluates the attribute bindings and merges
// them. It keeps per-bag state and is not safe for concurrent use: give
// each engine its own.
type Generator struct {
	spec    *Spec
	targets []int // request slot of each binding's attribute
	out     *attribute.Bag
	slot    [NumFields]int // output-bag slot of each field
	carry   []slotPair     // request attributes the bindings read
	vals    []attribute.Value
	in      Input
	ready   bool
}

type slotPair struct{ req, out int }

// NewGenerator prepares spec for bags of the request vocabulary req.
func NewGenerator(spec *Spec, req *attribute.Vocabulary) (*Generator, error) {
	g := &Generator{spec: spec, vals: make([]attribute.Value, len(spec.Bindings))}
	for _, in := range []*cexl.Expression{spec.SourceUID, spec.SourceIP, spec.DestinationUID, spec.DestinationIP, spec.DestinationPort} {
		if in != nil && in.Vocabulary() != req {
			return nil, fmt.Errorf("input '%s' was compiled against another vocabulary", in)
		}
	}
	var outVocab *attribute.Vocabulary
	for _, b := range spec.Bindings {
		switch v := b.Expr.Vocabulary(); {
		case outVocab == nil:
			outVocab = v
		case v != outVocab:
			return nil, errors.New("attribute bindings were compiled against different vocabularies")
		}
	}
	if outVocab == nil {
		var err error
		if outVocab, err = OutputVocabulary(req); err != nil {
			return nil, err
		}
	}
	for f := range NumFields {
		id, _, ok := outVocab.Lookup(OutputAttribute(f))
		if !ok {
			return nil, fmt.Errorf("attribute bindings were not compiled against an output vocabulary (no %s)", OutputAttribute(f))
		}
		g.slot[f] = id
	}
	seen := map[string]bool{}
	for _, b := range spec.Bindings {
		id, _, ok := req.Lookup(b.Attribute)
		if !ok {
			return nil, fmt.Errorf("attribute_bindings: unknown attribute %q", b.Attribute)
		}
		g.targets = append(g.targets, id)
		for _, name := range b.Expr.Attributes() {
			if seen[name] || strings.HasPrefix(name, outPrefix) {
				continue
			}
			seen[name] = true
			rid, _, rok := req.Lookup(name)
			oid, _, ook := outVocab.Lookup(name)
			if rok && ook {
				g.carry = append(g.carry, slotPair{rid, oid})
			}
		}
	}
	g.out = attribute.NewBag(outVocab)
	return g, nil
}

// Run evaluates the instance on bag and the bindings on what pods finds; the
// results wait for Merge. An input or binding that fails to evaluate fails
// the whole instance, as in Mixer: Merge then adds nothing.
func (g *Generator) Run(bag *attribute.Bag, pods Pods) error {
	g.ready = false
	if err := g.inputs(bag); err != nil {
		return err
	}
	r := pods.Lookup(&g.in)
	o := g.out
	o.Reset()
	if r.Source != nil {
		g.fill(0, r.Source, r.SourceWorkload)
	}
	if r.Destination != nil {
		g.fill(sideFields, r.Destination, r.DestinationWorkload)
		if r.DestinationContainer != "" {
			o.SetString(g.slot[DestinationContainerName], r.DestinationContainer)
		}
	}
	for _, c := range g.carry {
		if v := bag.Peek(c.req); v != nil {
			o.Set(c.out, *v)
		}
	}
	var err error
	for i := range g.spec.Bindings {
		if g.vals[i], err = g.spec.Bindings[i].Expr.Eval(o); err != nil {
			return fmt.Errorf("attribute_bindings %s: %s", g.spec.Bindings[i].Attribute, RestoreOutputs(err.Error()))
		}
	}
	g.ready = true
	return nil
}

// Merge sets each generated attribute that bag does not hold yet (values
// the proxy sent win) and returns how many it set. The values are copied
// into bag.
func (g *Generator) Merge(bag *attribute.Bag) int {
	if !g.ready {
		return 0
	}
	g.ready = false
	n := 0
	for i, id := range g.targets {
		if !bag.Has(id) {
			bag.Set(id, g.vals[i])
			n++
		}
	}
	return n
}

// Input returns the inputs of the last Run.
func (g *Generator) Input() Input { return g.in }

func (g *Generator) inputs(b *attribute.Bag) error {
	s := g.spec
	g.in = Input{}
	var err error
	if s.SourceUID != nil {
		if g.in.SourceUID, err = s.SourceUID.EvalString(b); err != nil {
			return inputErr("source_uid", err)
		}
	}
	if s.SourceIP != nil {
		v, err := s.SourceIP.Eval(b)
		if err != nil {
			return inputErr("source_ip", err)
		}
		g.in.SourceIP = v.IP()
	}
	if s.DestinationUID != nil {
		if g.in.DestinationUID, err = s.DestinationUID.EvalString(b); err != nil {
			return inputErr("destination_uid", err)
		}
	}
	if s.DestinationIP != nil {
		v, err := s.DestinationIP.Eval(b)
		if err != nil {
			return inputErr("destination_ip", err)
		}
		g.in.DestinationIP = v.IP()
	}
	if s.DestinationPort != nil {
		if g.in.DestinationPort, err = s.DestinationPort.EvalInt64(b); err != nil {
			return inputErr("destination_port", err)
		}
	}
	return nil
}

func inputErr(name string, err error) error { return fmt.Errorf("%s: %w", name, err) }

// fill sets the outputs of one side, with kubernetesenv's rules: empty
// values are left unset (so the bindings' defaults apply); the workload is
// always known for a pod that was found.
func (g *Generator) fill(side Field, p *Pod, w *Workload) {
	o := g.out
	set := func(f Field, s string) {
		if s != "" {
			o.SetString(g.slot[side+f], s)
		}
	}
	if p.Labels.Len() > 0 {
		o.Set(g.slot[side+SourceLabels], attribute.StringMapValue(p.Labels))
	}
	set(SourcePodName, p.Name)
	set(SourceNamespace, p.Namespace)
	if p.Name != "" && p.Namespace != "" {
		set(SourcePodUID, p.UID)
	}
	set(SourceServiceAccountName, p.ServiceAccount)
	if p.IP != nil {
		o.SetBytes(g.slot[side+SourcePodIP], p.IP)
	}
	if p.HostIP != nil {
		o.SetBytes(g.slot[side+SourceHostIP], p.HostIP)
	}
	if w != nil {
		set(SourceWorkloadUID, w.UID)
		set(SourceWorkloadName, w.Name)
		set(SourceWorkloadNamespace, w.Namespace)
		set(SourceOwner, w.Owner)
	}
}
