package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestProcCPUSplit checks procCPU's user and kernel fields against the
// kernel's own accounting of this process, after it has spent some time in
// each mode, four times as much in user mode as in the kernel, so that
// swapped or misread fields differ by far more than the ticks.
func TestProcCPUSplit(t *testing.T) {
	start, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	buf := make([]byte, 1<<20)
	var sink uint64
	deadline := time.Now().Add(20 * time.Second)
	for {
		now, err := procCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		used := now.sub(start)
		if used.user >= 800*time.Millisecond && used.system >= 200*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: user %v, system %v", used.user, used.system)
		}
		if used.user < 800*time.Millisecond {
			for i := range 20_000_000 { // user time: arithmetic only
				sink += uint64(i) * uint64(i)
			}
		}
		if used.system < 200*time.Millisecond {
			for range 20 { // kernel time: the kernel clears 1 MiB per read
				if _, err := zero.Read(buf); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	_ = sink

	got, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	want := cpuTimes{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
	// /proc counts whole ticks; a few of them may separate the two reads.
	const slack = 5 * clockTick
	if d := got.user - want.user; d > slack || d < -slack {
		t.Errorf("user: /proc says %v, getrusage %v", got.user, want.user)
	}
	if d := got.system - want.system; d > slack || d < -slack {
		t.Errorf("system: /proc says %v, getrusage %v", got.system, want.system)
	}
}
