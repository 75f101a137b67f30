package als

import "encoding/binary"

// Istio 1.5–1.23 proxies exchange peer metadata as a FlatBuffer of the
// table Wasm.Common.FlatNode (istio/proxy extensions/common/node_info.fbs)
// and log it in a google.protobuf.BytesValue under the filter-state keys
// wasm.upstream_peer / wasm.downstream_peer (1.7–1.23) or
// envoy.wasm.metadata_exchange.upstream / .downstream (1.5–1.6).
//
// The reader below follows the FlatBuffers binary format: the buffer starts
// with the offset of the root table; a table starts with a signed offset
// back to its vtable, whose uint16 entries give each field's offset in the
// table (0: absent); strings and vectors are reached through unsigned
// offsets relative to where the offset is stored, and start with a uint32
// length. Every read is bounds-checked: a malformed buffer yields no peer.

// FlatNode field slots, in schema order.
const (
	fnName         = 0
	fnNamespace    = 1
	fnLabels       = 2
	fnOwner        = 3
	fnWorkloadName = 4
	fnIdentity     = 11

	kvKey   = 0
	kvValue = 1
)

// maxFlatLabels bounds the labels read from one peer.
const maxFlatLabels = 256

type flatBuf []byte

func (b flatBuf) u32(at int) (uint32, bool) {
	if at < 0 || at > len(b)-4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[at:]), true
}

func (b flatBuf) u16(at int) (uint16, bool) {
	if at < 0 || at > len(b)-2 {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b[at:]), true
}

// deref follows the unsigned offset stored at at.
func (b flatBuf) deref(at int) (int, bool) {
	off, ok := b.u32(at)
	if !ok || int64(at)+int64(off) > int64(len(b)) {
		return 0, false
	}
	return at + int(off), true
}

// vtable returns where the vtable of the table at t is and its size.
func (b flatBuf) vtable(t int) (vt, size int, ok bool) {
	so, ok := b.u32(t)
	if !ok {
		return 0, 0, false
	}
	at := int64(t) - int64(int32(so))
	if at < 0 || at > int64(len(b)) {
		return 0, 0, false
	}
	n, ok := b.u16(int(at))
	if !ok || n < 4 || int(at)+int(n) > len(b) {
		return 0, 0, false
	}
	return int(at), int(n), true
}

// field returns where field slot of the table at t is stored, or false
// when the table does not have it.
func (b flatBuf) field(t, slot int) (int, bool) {
	vt, vtSize, ok := b.vtable(t)
	if !ok || 4+2*slot+2 > vtSize {
		return 0, false
	}
	off, ok := b.u16(vt + 4 + 2*slot)
	if !ok || off == 0 {
		return 0, false
	}
	return t + int(off), true
}

// str reads the string field slot of the table at t ("" when absent or
// malformed).
func (b flatBuf) str(t, slot int) string {
	at, ok := b.field(t, slot)
	if !ok {
		return ""
	}
	s, ok := b.deref(at)
	if !ok {
		return ""
	}
	n, ok := b.u32(s)
	if !ok || int64(s)+4+int64(n) > int64(len(b)) {
		return ""
	}
	return string(b[s+4 : s+4+int(n)])
}

// tables calls fn with each table of the vector field slot of the table at
// t, at most limit of them.
func (b flatBuf) tables(t, slot, limit int, fn func(int)) {
	at, ok := b.field(t, slot)
	if !ok {
		return
	}
	v, ok := b.deref(at)
	if !ok {
		return
	}
	n, ok := b.u32(v)
	if !ok {
		return
	}
	for i := 0; i < int(min(n, uint32(limit))); i++ {
		e, ok := b.deref(v + 4 + 4*i)
		if !ok {
			return
		}
		fn(e)
	}
}

// peerFromFlatNode reads the workload of a FlatNode buffer; ok is false when
// the bytes are not one.
func peerFromFlatNode(raw []byte) (w workload, ok bool) {
	b := flatBuf(raw)
	t, ok := b.deref(0)
	if !ok {
		return workload{}, false
	}
	if _, _, ok := b.vtable(t); !ok {
		return workload{}, false
	}
	w = workload{
		name:         b.str(t, fnName),
		namespace:    b.str(t, fnNamespace),
		workloadName: b.str(t, fnWorkloadName),
		owner:        b.str(t, fnOwner),
		principal:    principal(b.str(t, fnIdentity)),
	}
	b.tables(t, fnLabels, maxFlatLabels, func(kv int) {
		if k := b.str(kv, kvKey); k != "" {
			w.addLabel(k, b.str(kv, kvValue))
		}
	})
	if sa := spiffeField(w.principal, "sa"); sa != "" {
		w.serviceAccount = sa
	}
	w.finish()
	return w, true
}
