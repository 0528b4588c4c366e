// cert-manager's own controllers (self-signed and CA issuers, Certificates, the approver) run against a cluster,
// as cert-manager's controller runs them, with the flags of the official image that matter here (--controllers,
// --cluster-resource-namespace, --enable-certificate-owner-ref, --leader-elect, --kubeconfig); ACME, Vault, Venafi and the shims are not built in.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cert-manager/cert-manager/pkg/controller"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster (in-cluster configuration when empty)")
	namespace := flag.String("cluster-resource-namespace", "cert-manager", "where ClusterIssuers keep their Secrets")
	names := flag.String("controllers", "issuers,clusterissuers,certificates-trigger,certificates-key-manager,certificates-request-manager,"+
		"certificates-readiness,certificates-issuing,certificates-revision-manager,certificaterequests-approver,"+
		"certificaterequests-issuer-selfsigned,certificaterequests-issuer-ca", "controllers to run")
	ownerRef := flag.Bool("enable-certificate-owner-ref", false, "a Certificate owns the Secret it fills: deleting the Certificate deletes the Secret")
	leaderElect := flag.Bool("leader-elect", true, "accepted for the official controller's flags; leader election is not implemented here, set it false")
	flag.Parse()
	if *leaderElect {
		fmt.Fprintln(os.Stderr, "error: --leader-elect=true is not supported by this build; run one replica with --leader-elect=false")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := controller.ContextOptions{Kubeconfig: *kubeconfig, KubernetesAPIQPS: 50, KubernetesAPIBurst: 100}
	opts.ClusterResourceNamespace = *namespace
	opts.EnableOwnerRef = *ownerRef
	opts.CertificateRequestMinimumBackoffDuration = time.Hour
	opts.CertificateRequestMaximumBackoffDuration = 32 * time.Hour
	factory, err := controller.NewContextFactory(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	for _, name := range strings.Split(*names, ",") {
		build, ok := controller.Known()[name]
		if !ok {
			fmt.Fprintln(os.Stderr, "error: unknown controller", name)
			os.Exit(2)
		}
		c, err := build(factory)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error: controller", name, err)
			os.Exit(1)
		}
		go func() { _ = c.Run(5, ctx) }()
		fmt.Println("started", name)
	}
	base, err := factory.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.SharedInformerFactory.Start(ctx.Done())
	<-ctx.Done()
}
