package instancerecord

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestAppendTimeText(t *testing.T) {
	times := []time.Time{
		{},
		time.Unix(0, 0),
		time.Date(2018, 9, 15, 20, 46, 36, 9801999, time.UTC),
		time.Date(2020, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // five-digit year
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),    // negative year
		time.Date(2020, 7, 1, 12, 0, 0, 500, time.FixedZone("x", 5*3600+1800)),
		time.Unix(0, 1<<63-1),
		time.Unix(0, -1<<63),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		times = append(times, time.Unix(r.Int64N(400e9)-200e9, r.Int64N(1e9)))
	}
	for _, tm := range times {
		want := tm.UTC().Format(TimeLayout)
		if got := string(AppendTimeText([]byte("x"), tm)); got != "x"+want {
			t.Fatalf("%v: %q, want %q", tm, got, "x"+want)
		}
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendTimeText(buf[:0], times[2]) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func BenchmarkAppendTimeText(b *testing.B) {
	tm := time.Date(2018, 9, 15, 20, 46, 36, 9801999, time.UTC)
	buf := make([]byte, 0, 64)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			buf = AppendTimeText(buf[:0], tm)
		}
	})
	b.Run("AppendFormat", func(b *testing.B) {
		for b.Loop() {
			buf = tm.UTC().AppendFormat(buf[:0], TimeLayout)
		}
	})
}
