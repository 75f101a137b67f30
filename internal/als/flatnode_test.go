package als

import (
	"encoding/binary"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// flatNode is a FlatNode to encode: string fields by slot, and labels.
type flatNode struct {
	strs   map[int]string
	labels map[string]string
}

// fbWriter writes FlatBuffers tables front to back, patching offsets as the
// data they point to is appended. vtableAfter puts each vtable after its
// table (a negative vtable offset), as the C++ builder lays some out.
type fbWriter struct {
	buf         []byte
	vtableAfter bool
}

func (w *fbWriter) u32At(at int, v uint32) { binary.LittleEndian.PutUint32(w.buf[at:], v) }

func (w *fbWriter) pad() {
	for len(w.buf)%4 != 0 {
		w.buf = append(w.buf, 0)
	}
}

// table writes a table of nslots offset fields of which present are set
// and returns its position and the position of each slot's field.
func (w *fbWriter) table(nslots int, present []int) (int, map[int]int) {
	w.pad()
	vtable := func() []byte {
		vt := binary.LittleEndian.AppendUint16(nil, uint16(4+2*nslots))
		vt = binary.LittleEndian.AppendUint16(vt, uint16(4+4*nslots))
		for slot := range nslots {
			off := 0
			if slices.Contains(present, slot) {
				off = 4 + 4*slot
			}
			vt = binary.LittleEndian.AppendUint16(vt, uint16(off))
		}
		return vt
	}()
	vtAt := len(w.buf)
	if !w.vtableAfter {
		w.buf = append(w.buf, vtable...)
		w.pad()
	}
	t := len(w.buf)
	w.buf = append(w.buf, make([]byte, 4+4*nslots)...)
	if w.vtableAfter {
		vtAt = len(w.buf)
		w.buf = append(w.buf, vtable...)
		w.pad()
	}
	w.u32At(t, uint32(int32(t-vtAt)))
	fields := map[int]int{}
	for _, slot := range present {
		fields[slot] = t + 4 + 4*slot
	}
	return t, fields
}

// str appends a string and points the offset at at to it.
func (w *fbWriter) str(at int, s string) {
	w.pad()
	w.u32At(at, uint32(len(w.buf)-at))
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(s)))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, 0)
}

func encodeFlatNode(n flatNode, vtableAfter bool) []byte {
	w := &fbWriter{buf: make([]byte, 4), vtableAfter: vtableAfter}
	present := slices.Collect(maps.Keys(n.strs))
	if n.labels != nil {
		present = append(present, fnLabels)
	}
	slices.Sort(present)
	t, fields := w.table(12, present)
	w.u32At(0, uint32(t))
	for _, slot := range present {
		if slot != fnLabels {
			w.str(fields[slot], n.strs[slot])
		}
	}
	if n.labels != nil {
		w.pad()
		vec := len(w.buf)
		w.u32At(fields[fnLabels], uint32(vec-fields[fnLabels]))
		keys := slices.Sorted(maps.Keys(n.labels)) // a sorted vector, as for a (key) field
		w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(keys)))
		w.buf = append(w.buf, make([]byte, 4*len(keys))...)
		for i, k := range keys {
			kv, kvFields := w.table(2, []int{kvKey, kvValue})
			w.u32At(vec+4+4*i, uint32(kv-(vec+4+4*i)))
			w.str(kvFields[kvKey], k)
			w.str(kvFields[kvValue], n.labels[k])
		}
	}
	return w.buf
}

var reviewsFlatNode = flatNode{
	strs: map[int]string{
		fnName:         "reviews-v2-7bf8c9648f-xcvd4",
		fnNamespace:    "default",
		fnOwner:        "kubernetes://apis/apps/v1/namespaces/default/deployments/reviews-v2",
		fnWorkloadName: "reviews-v2",
		6:              "1.9.0", // istio_version
		7:              "cluster.local",
		9:              "Kubernetes",
		fnIdentity:     "spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
	},
	labels: map[string]string{"app": "reviews", "version": "v2", "pod-template-hash": "7bf8c9648f"},
}

func TestPeerFromFlatNode(t *testing.T) {
	for _, after := range []bool{false, true} {
		w, ok := peerFromFlatNode(encodeFlatNode(reviewsFlatNode, after))
		require.True(t, ok)
		assert.Equal(t, "reviews-v2-7bf8c9648f-xcvd4", w.name)
		assert.Equal(t, "default", w.namespace)
		assert.Equal(t, "reviews-v2", w.workloadName)
		assert.Equal(t, "kubernetes://apis/apps/v1/namespaces/default/deployments/reviews-v2", w.owner)
		assert.Equal(t, "cluster.local/ns/default/sa/bookinfo-reviews", w.principal)
		assert.Equal(t, "bookinfo-reviews", w.serviceAccount)
		assert.Equal(t, []string{"app", "reviews", "pod-template-hash", "7bf8c9648f", "version", "v2"}, w.labels)
		assert.Equal(t, "kubernetes://reviews-v2-7bf8c9648f-xcvd4.default", w.uid)
		assert.Equal(t, "istio://default/workloads/reviews-v2", w.workloadUID)
	}
	// Absent fields are empty.
	w, ok := peerFromFlatNode(encodeFlatNode(flatNode{strs: map[int]string{fnName: "x"}}, false))
	require.True(t, ok)
	assert.Equal(t, workload{name: "x"}, w)
}

// Cut or damaged buffers give no peer or a partial one, never a panic or a
// read outside the bytes.
func TestPeerFromFlatNodeMalformed(t *testing.T) {
	full := encodeFlatNode(reviewsFlatNode, false)
	for n := range len(full) {
		_, _ = peerFromFlatNode(full[:n])
	}
	for i := range full {
		for _, b := range []byte{0x00, 0xff, 0x80, 0x7f} {
			bad := slices.Clone(full)
			bad[i] = b
			_, _ = peerFromFlatNode(bad)
		}
	}
	for _, raw := range [][]byte{nil, {1, 0, 0}, {0xff, 0xff, 0xff, 0x7f}, {4, 0, 0, 0, 0x80, 0, 0, 0}} {
		_, ok := peerFromFlatNode(raw)
		assert.False(t, ok, "%x", raw)
	}
}

func FuzzFlatNode(f *testing.F) {
	f.Add(encodeFlatNode(reviewsFlatNode, false))
	f.Add(encodeFlatNode(reviewsFlatNode, true))
	f.Fuzz(func(t *testing.T, raw []byte) {
		w, ok := peerFromFlatNode(raw)
		if !ok && !w.empty() {
			t.Fatal("a refused buffer gave a peer")
		}
	})
}

func flatPeerAny(t testing.TB, n flatNode) *anypb.Any {
	a, err := anypb.New(wrapperspb.Bytes(encodeFlatNode(n, false)))
	require.NoError(t, err)
	return a
}

// Istio 1.5–1.23 entries carry the peer as a FlatNode: the attributes are
// those of the same peer in the Struct form of Istio ≥ 1.24, except for
// what only one form has (the canonical service labels of the Struct form).
func TestFlatNodePeerKeys(t *testing.T) {
	want := mapOne(t, productpageNode(t), outboundHTTP(t), nil).Attributes().AsRaw()
	for _, key := range []string{WasmUpstreamPeerKey, LegacyUpstreamPeerKey} {
		e := outboundHTTP(t)
		e.CommonProperties.FilterStateObjects = map[string]*anypb.Any{key: flatPeerAny(t, reviewsFlatNode)}
		got := mapOne(t, productpageNode(t), e, nil).Attributes().AsRaw()
		for _, k := range []string{"destination.name", "destination.namespace", "destination.uid",
			"destination.workload.name", "destination.workload.namespace", "destination.workload.uid", "destination.owner"} {
			assert.Equal(t, want[k], got[k], "%s: %s", key, k)
		}
		assert.Equal(t, map[string]any{"app": "reviews", "version": "v2", "pod-template-hash": "7bf8c9648f"},
			got["destination.labels"], key)
		assert.Equal(t, "bookinfo-reviews", got["destination.serviceAccount"], key)
		assert.Equal(t, "cluster.local/ns/default/sa/bookinfo-reviews", got["destination.principal"], key)
	}
	// The Struct form wins when both are logged.
	e := outboundHTTP(t)
	e.CommonProperties.FilterStateObjects[WasmUpstreamPeerKey] = flatPeerAny(t, flatNode{strs: map[int]string{fnName: "other"}})
	got := mapOne(t, productpageNode(t), e, nil).Attributes().AsRaw()
	assert.Equal(t, want["destination.name"], got["destination.name"])
}
