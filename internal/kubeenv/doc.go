// Package kubeenv re-implements Mixer's kubernetesenv adapter: a cache of the
// cluster's pods (with the ReplicaSets and Jobs that lead to their workload)
// and the generation of the kubernetes template's outputs from it.
//
// The pieces, in the order a request meets them:
//
//   - Input is what a `kubernetes` instance evaluates from the request bag:
//     the source and destination uids and IPs and the destination port.
//   - Pods (implemented by Cache) finds the pods: by uid
//     (kubernetes://<pod>.<namespace>) when the instance gives one, else by
//     IP, exactly as kubernetesenv did.
//   - Generator fills the template's OutputTemplate fields ($out.<field>)
//     from the pods found, evaluates the instance's attribute_bindings over
//     them and merges the results into the bag, filling only the attributes
//     the bag does not already hold (mixer-semantics §b.4).
//
// Mixer's field names, types and value formats are kept: workload uid
// istio://<ns>/workloads/<workload>, owner
// kubernetes://apis/<apiVersion>/namespaces/<ns>/<kind>s/<name>, IPs in the
// 16-byte form of net.ParseIP.
package kubeenv // import "github.com/otelcol-istio/otelcol-istio/internal/kubeenv"
