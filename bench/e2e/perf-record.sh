#!/bin/sh
# A collector for the driver's -collector flag that runs bin/otelcol-istio
# under Linux perf (Debian package linux-perf), so that kernel time and
# Go's runtime threads show up too, which the pprof profiles leave out.
# The profile goes to $PERF_DATA (default perf.data); read it with
# `perf report -i perf.data --children -g none --sort sym`.
exec perf record -F 2000 -g -o "${PERF_DATA:-perf.data}" -- "${COLLECTOR:-bin/otelcol-istio}" "$@"
