// Package mixerpb is the Go form of Istio Mixer's wire API (proto package
// istio.mixer.v1): the Mixer service with Check and Report, and the
// compressed attribute bags they carry. The .proto files in this folder are
// written for this repository with Mixer's field numbers and types; the
// *.pb.go files are generated from them by `make generate-proto` (protoc with
// protoc-gen-go and protoc-gen-go-grpc) and committed.
package mixerpb
