package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadgenAccessLog(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	code := run([]string{"loadgen", "--protocol", "accesslog", "--dir", dir, "--requests", "3", "--tcp-every", "3", "--progress=false", "--start", "2020-07-01T10:00:00Z"}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "sent 3 page loads (1 TCP connections)")
	files, err := filepath.Glob(filepath.Join(dir, "default_productpage-v1-*", "istio-proxy", "0.log"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	first := strings.SplitN(string(b), "\n", 2)[0]
	assert.Regexp(t, `^2020-07-01T10:00:00\.\d+Z stdout F \[2020-07-01T10:00:00\.\d+Z\] "GET /productpage HTTP/1\.1" 200`, first)

	assert.Equal(t, 2, run([]string{"loadgen", "--protocol", "accesslog", "--requests", "1"}, &out, &errOut), "--dir is required")
}
