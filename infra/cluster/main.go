// Command zoomsymbl-cluster is a multi-call binary holding a Kubernetes control plane for local chart
// tests: etcd, kube-apiserver, kube-controller-manager and kube-scheduler (its first argument picks
// one). Nodes come from kwok, built separately. One binary instead of four because they share most of
// their code: about 120 MB against 289 MB. `go install k8s.io/kubernetes/cmd/...@v1.36.3` cannot be
// used: the kubernetes module replaces its staging modules with local paths, so go.mod here replaces
// each of them with the published k8s.io module of the same release.
package main

import (
	"fmt"
	"os"
	_ "time/tzdata" // CronJob time zones, as in the upstream commands

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = "usage: zoomsymbl-cluster etcd|kube-apiserver|kube-controller-manager|kube-scheduler [flags]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	name, args := os.Args[1], os.Args[2:]
	// Each command parses os.Args itself (cobra and etcd's flag set), so drop the selector.
	os.Args = append([]string{name}, args...)
	switch name {
	case "etcd":
		etcdmain.Main(os.Args)
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n%s\n", name, usage)
		os.Exit(2)
	}
}
