package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the length of one /proc CPU tick. Linux reports utime and
// stime in USER_HZ, which is 100 on every architecture Go supports there.
const clockTick = 10 * time.Millisecond

// cpuTimes is what a process has used so far in user and in kernel mode.
type cpuTimes struct{ user, system time.Duration }

func (t cpuTimes) total() time.Duration { return t.user + t.system }

func (t cpuTimes) sub(u cpuTimes) cpuTimes {
	return cpuTimes{t.user - u.user, t.system - u.system}
}

// procCPU returns the CPU time a process has used so far.
func procCPU(pid int) (cpuTimes, error) {
	var t cpuTimes
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return t, err
	}
	// The command name may contain spaces and parentheses: fields are
	// counted after its closing parenthesis. utime and stime are fields 14
	// and 15, so the 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return t, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return t, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	for j, d := range []*time.Duration{&t.user, &t.system} {
		n, err := strconv.ParseInt(f[11+j], 10, 64)
		if err != nil {
			return t, fmt.Errorf("/proc/%d/stat: %v", pid, err)
		}
		*d = time.Duration(n) * clockTick
	}
	return t, nil
}

// procStatusKB returns a kB field of /proc/PID/status, such as VmHWM.
func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// systemBusy is the CPU time all processes used so far (the first line of
// /proc/stat without idle and iowait), to tell how busy the machine was.
func systemBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for i, s := range f[1:9] { // user nice system idle iowait irq softirq steal
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %v", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// selfCPU is this process's CPU time (it reads the collector's stdout).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the first field of /proc/loadavg (one-minute load average).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// waitIdle waits until the process has used at most one tick in each of
// three consecutive 200 ms windows (the pipeline has drained: queues,
// batches, writes) and returns its CPU time then, and the end of the last
// window in which it was busy (the call's start if it was idle throughout).
// Counting the quiet windows rather than stopping at their start errs on
// the side of charging the collector: an idle collector uses no ticks there.
func waitIdle(pid int, limit time.Duration) (cpuTimes, time.Time, error) {
	busyUntil := time.Now()
	deadline := busyUntil.Add(limit)
	prev, err := procCPU(pid)
	if err != nil {
		return prev, busyUntil, err
	}
	for quiet := 0; quiet < 3; {
		if time.Now().After(deadline) {
			return prev, busyUntil, fmt.Errorf("process %d still busy after %s", pid, limit)
		}
		time.Sleep(200 * time.Millisecond)
		cur, err := procCPU(pid)
		if err != nil {
			return prev, busyUntil, err
		}
		if cur.total()-prev.total() <= clockTick {
			quiet++
		} else {
			quiet = 0
			busyUntil = time.Now()
		}
		prev = cur
	}
	return prev, busyUntil, nil
}

// freeAddr returns a loopback address whose port was free a moment ago and
// was not returned before: the kernel may give a port that was just closed
// again, and the endpoints of one collector must differ.
func freeAddr() (string, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		l.Close()
		if !handedOut[addr] {
			handedOut[addr] = true
			return addr, nil
		}
	}
	return "", errors.New("no loopback port that was not handed out before, in 100 tries")
}

// handedOut holds the addresses freeAddr returned (one goroutine asks).
var handedOut = map[string]bool{}

// waitListening waits until something accepts TCP connections on addr.
func waitListening(addr string, limit time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("collector exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on %s after %s", addr, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
