package kvpack

import (
	"bytes"
	"math"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

type kv struct {
	key  string
	kind Kind
	text string
	num  uint64
	m    []string // a Map's entries as k, v, k, v …
	ref  int      // the key's index in testDict + 1; 0: the key as text
}

// testDict is the dictionary the tests write and read keys by.
var testDict = []string{"source.name", "response.code", "request.headers", "source.ip", "ok"}

func pack(pairs []kv) []byte {
	b := Begin(nil)
	for _, p := range pairs {
		if r := p.ref - 1; r >= 0 {
			var at int
			switch p.kind {
			case Str:
				b = AppendStrRef(b, r, "", p.text)
			case Bytes:
				b = AppendBytesRef(b, r, "", []byte(p.text))
			case Int:
				b = AppendIntRef(b, r, "", int64(p.num))
			case Double:
				b = AppendDoubleRef(b, r, "", math.Float64frombits(p.num))
			case Bool:
				b = AppendBoolRef(b, r, "", p.num != 0)
			case Map:
				b, at = BeginMapRef(b, r, "")
				for i := 0; i < len(p.m); i += 2 {
					b = AppendMapEntry(b, p.m[i], p.m[i+1])
				}
				EndMap(b, at, len(p.m)/2)
			}
			continue
		}
		switch p.kind {
		case Str:
			b = AppendStr(b, p.key, p.text)
		case Bytes:
			b = AppendBytes(b, p.key, []byte(p.text))
		case Int:
			b = AppendInt(b, p.key, int64(p.num))
		case Double:
			b = AppendDouble(b, p.key, math.Float64frombits(p.num))
		case Bool:
			b = AppendBool(b, p.key, p.num != 0)
		case Empty:
			b = AppendEmpty(b, p.key)
		case Map:
			b = AppendMap(b, p.key, len(p.m)/2)
			for i := 0; i < len(p.m); i += 2 {
				b = AppendMapEntry(b, p.m[i], p.m[i+1])
			}
		}
	}
	return b
}

func unpack(t testing.TB, b []byte) ([]kv, error) {
	var out []kv
	r := NewDictReader(b, testDict)
	var p Pair
	for r.Next(&p) {
		e := kv{key: p.Key, kind: p.Kind, text: p.Text, num: p.Num, ref: p.Ref + 1}
		if p.Kind == Map {
			it := p.Entries()
			for k, v, ok := it.Next(); ok; k, v, ok = it.Next() {
				e.m = append(e.m, k, v)
			}
			if len(e.m) != 2*p.Len() {
				t.Fatalf("map %q: %d entries iterated, Len %d", p.Key, len(e.m)/2, p.Len())
			}
		}
		out = append(out, e)
	}
	return out, r.Err()
}

func TestRoundTrip(t *testing.T) {
	long := string(bytes.Repeat([]byte("x"), 300)) // a two-byte uvarint length
	cases := map[string][]kv{
		"empty": nil,
		"every kind": {
			{key: "source.name", kind: Str, text: "productpage-v1"},
			{key: "", kind: Str, text: ""},
			{key: "response.code", kind: Int, num: uint64(200)},
			{key: "negative", kind: Int, num: uint64(1<<64 - 5)},
			{key: "ratio", kind: Double, num: math.Float64bits(-0.25)},
			{key: "nan", kind: Double, num: math.Float64bits(math.NaN())},
			{key: "ok", kind: Bool, num: 1},
			{key: "no", kind: Bool, num: 0},
			{key: "source.ip", kind: Bytes, text: "\x0a\x00\x00\x01"},
			{key: "null", kind: Empty},
			{key: "request.headers", kind: Map, m: []string{":path", "/details", "x-b3", "", "", "v"}},
			{key: "no.entries", kind: Map},
			{key: long, kind: Str, text: long},
		},
		"repeated key": {{key: "a", kind: Int, num: 1}, {key: "a", kind: Str, text: "b"}},
		"dictionary keys": {
			{key: "source.name", ref: 1, kind: Str, text: "productpage-v1"},
			{key: "response.code", ref: 2, kind: Int, num: 200},
			{key: "source.name", kind: Str, text: "as text"},
			{key: "request.headers", ref: 3, kind: Map, m: []string{":path", "/details"}},
			{key: "source.ip", ref: 4, kind: Bytes, text: "\x0a\x00\x00\x01"},
			{key: "ok", ref: 5, kind: Bool, num: 1},
			{key: "response.code", ref: 2, kind: Double, num: math.Float64bits(0.5)},
		},
	}
	for name, pairs := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := unpack(t, pack(pairs))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(pairs) {
				t.Fatalf("%d pairs read, want %d", len(got), len(pairs))
			}
			for i := range pairs {
				w, g := pairs[i], got[i]
				if g.key != w.key || g.ref != w.ref || g.kind != w.kind || g.text != w.text || g.num != w.num || len(g.m) != len(w.m) {
					t.Fatalf("pair %d: got %+v, want %+v", i, g, w)
				}
				for j := range w.m {
					if g.m[j] != w.m[j] {
						t.Fatalf("pair %d entry %d: got %q, want %q", i, j/2, g.m[j], w.m[j])
					}
				}
			}
		})
	}
}

func TestCorrupt(t *testing.T) {
	good := pack(good2)
	boundary := map[int]bool{}
	for i := range len(good2) + 1 {
		boundary[len(pack(good2[:i]))] = true
	}
	// A prefix that cuts a pair must fail, never panic or yield the cut
	// pair as complete; a prefix at a pair boundary is a shorter buffer.
	for n := 0; n < len(good); n++ {
		got, err := unpack(t, good[:n])
		switch {
		case boundary[n] && err != nil:
			t.Errorf("prefix of %d bytes: %v", n, err)
		case !boundary[n] && err == nil:
			t.Errorf("prefix of %d bytes: no error (%d pairs)", n, len(got))
		}
	}
	bad := map[string][]byte{
		"no version":       {},
		"wrong version":    {2, byte(Str), 1, 'a', 0},
		"unknown kind":     {Version, 9, 0},
		"bool of 2":        {Version, byte(Bool), 0, 2},
		"huge length":      {Version, byte(Str), 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"huge map":         {Version, byte(Map), 0, 0xff, 0xff, 0x03},
		"varint overflow":  {Version, byte(Str), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"ref past dict":    {Version, byte(Str) | refFlag, byte(len(testDict)), 0},
		"ref cut":          {Version, byte(Int) | refFlag},
		"ref unknown kind": {Version, 9 | refFlag, 0},
	}
	for name, b := range bad {
		if _, err := unpack(t, b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Without a dictionary, any ref is corrupt.
	r := NewReader(AppendStrRef(Begin(nil), 0, "", "v"))
	var p Pair
	if r.Next(&p) || r.Err() == nil {
		t.Error("a dictionary key read without a dictionary")
	}
}

var good2 = []kv{
	{key: "a", kind: Str, text: "hello"},
	{key: "m", kind: Map, m: []string{"k", "v"}},
	{key: "n", kind: Int, num: 7},
}

func TestAppendAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		b := Begin(buf[:0])
		b = AppendStr(b, "k", "v")
		b = AppendInt(b, "i", 1)
		b = AppendMap(b, "m", 1)
		b = AppendMapEntry(b, "a", "b")
		r := NewReader(b)
		var p Pair
		for r.Next(&p) {
			it := p.Entries()
			for _, _, ok := it.Next(); ok; _, _, ok = it.Next() {
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per pack and read, want 0", allocs)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(pack(good2))
	f.Add([]byte{Version})
	f.Add([]byte{Version, byte(Map), 1, 'm', 2, 0, 0, 0, 1, 'a', 1, 'b', 0, 0})
	f.Add(pack([]kv{{key: "source.name", ref: 1, kind: Str, text: "x"}, {key: "request.headers", ref: 3, kind: Map, m: []string{"a", "b"}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := unpack(t, b)
		if err != nil {
			return
		}
		// What reads cleanly packs back to the same bytes.
		if again := pack(got); !bytes.Equal(again, b) && canonicalVarints(b) {
			t.Fatalf("repacked %x, read from %x", again, b)
		}
	})
}

// canonicalVarints reports whether b could have come from this package's
// writer: readers accept over-long varints and Bool bytes the writer never
// emits, which repack differently.
func canonicalVarints(b []byte) bool {
	got, err := unpack(&testing.T{}, b)
	if err != nil {
		return false
	}
	return len(pack(got)) == len(b)
}

// The pinned pdata has the layout SetBytes and BytesOf rely on; after an
// upgrade that changes it this fails (and they fall back to copying).
func TestPdataBytesShared(t *testing.T) {
	if !zeroCopy {
		t.Fatal("pcommon.ByteSlice no longer wraps a *[]byte first: packed records are copied")
	}
	buf := Begin(nil)
	buf = AppendStr(buf, "k", "v")
	v := pcommon.NewValueEmpty()
	SetBytes(v, buf)
	if got := BytesOf(v); &got[0] != &buf[0] || len(got) != len(buf) {
		t.Fatal("BytesOf does not return the buffer given to SetBytes")
	}
	if !bytes.Equal(v.Bytes().AsRaw(), buf) {
		t.Fatal("pdata sees other bytes")
	}
	if BytesOf(pcommon.NewValueStr("x")) != nil {
		t.Fatal("BytesOf of a Str")
	}
	allocs := testing.AllocsPerRun(100, func() { _ = BytesOf(v) })
	if allocs != 0 {
		t.Fatalf("BytesOf allocates %v times", allocs)
	}
}

func TestBeginEndMap(t *testing.T) {
	b := Begin(nil)
	b, at := BeginMap(b, "headers")
	b = AppendMapEntry(b, "a", "1")
	b = AppendMapEntry(b, "b", "2")
	EndMap(b, at, 2)
	b = AppendInt(b, "n", 3)
	want := pack([]kv{{key: "headers", kind: Map, m: []string{"a", "1", "b", "2"}}, {key: "n", kind: Int, num: 3}})
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x, want %x", b, want)
	}
}
