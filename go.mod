module github.com/otelcol-istio/otelcol-istio

go 1.26.0
