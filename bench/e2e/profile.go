package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// profile runs a variant once more with the pprof extension: a CPU profile
// of -profile-seconds of load, and the allocations made during it (the
// difference of two allocs profiles). It writes the profiles and `go tool
// pprof -top` reports into -profile, and prints the allocations per report.
// The figures of this run are not part of the table: profiling costs CPU.
func profile(o *options, v variant, tmp string) error {
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(tmp, v.name+"-pprof-")
	if err != nil {
		return err
	}
	c, err := startCollector(o, v, dir, true)
	if err != nil {
		return err
	}
	defer c.stop()
	if _, err := loadgen(o, v, c, warmupSeed, "--requests", strconv.Itoa(o.warmup)); err != nil {
		return err
	}
	if _, _, err := waitIdle(c.pid, o.idleLimit); err != nil {
		return err
	}
	base := filepath.Join(o.profileDir, v.name+".allocs-before.pprof")
	if err := fetch("http://"+c.pprof+"/debug/pprof/allocs", base, 30*time.Second); err != nil {
		return err
	}
	cpuPath := filepath.Join(o.profileDir, v.name+".cpu.pprof")
	cpuErr := make(chan error, 1)
	go func() {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", c.pprof, o.profileSeconds)
		cpuErr <- fetch(url, cpuPath, time.Duration(o.profileSeconds+30)*time.Second)
	}()
	// The load lasts as long as the profile: it covers load only.
	s, err := loadgen(o, v, c, measuredSeed, o.paced("--requests", "0", "--duration", strconv.Itoa(o.profileSeconds)+"s")...)
	if err != nil {
		return err
	}
	if err := <-cpuErr; err != nil {
		return err
	}
	if _, _, err := waitIdle(c.pid, o.idleLimit); err != nil {
		return err
	}
	after := filepath.Join(o.profileDir, v.name+".allocs.pprof")
	if err := fetch("http://"+c.pprof+"/debug/pprof/allocs", after, 30*time.Second); err != nil {
		return err
	}

	reports := []struct {
		file string
		args []string
	}{
		{v.name + ".cpu-top.txt", []string{"-top", "-nodecount=40", cpuPath}},
		{v.name + ".cpu-cum.txt", []string{"-top", "-cum", "-nodecount=60", cpuPath}},
		{v.name + ".allocs-top.txt", []string{"-top", "-sample_index=alloc_objects", "-nodecount=40", "-base", base, after}},
		{v.name + ".allocs-cum.txt", []string{"-top", "-cum", "-sample_index=alloc_objects", "-nodecount=60", "-base", base, after}},
		{v.name + ".alloc-space-top.txt", []string{"-top", "-sample_index=alloc_space", "-nodecount=30", "-base", base, after}},
	}
	var allocs float64
	for _, rep := range reports {
		out, err := exec.Command(o.goTool, append([]string{"tool", "pprof"}, rep.args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof %v: %v\n%s", rep.args, err, out)
		}
		if err := os.WriteFile(filepath.Join(o.profileDir, rep.file), out, 0o644); err != nil {
			return err
		}
		if rep.file == v.name+".allocs-top.txt" {
			allocs = pprofTotal(out)
		}
	}
	fmt.Printf("%s profiled: %d reports in %ds (%.0f reports/s under the profiler); about %.1f allocations per report (sampled); profiles and tops in %s\n",
		v.name, s.reports, o.profileSeconds, s.rate, allocs/float64(s.reports), o.profileDir)
	return nil
}

func fetch(url, path string, timeout time.Duration) error {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return f.Close()
}

var totalRE = regexp.MustCompile(`of ([0-9.]+)([kMG]?) total`)

// pprofTotal reads the total of a -top report ("… of 12.5M total").
func pprofTotal(top []byte) float64 {
	m := totalRE.FindSubmatch(top)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	switch string(m[2]) {
	case "k":
		v *= 1e3
	case "M":
		v *= 1e6
	case "G":
		v *= 1e9
	}
	return v
}
