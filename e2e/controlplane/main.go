// Command zen-controlplane runs a real, minimal Kubernetes control plane in one
// process for end-to-end tests: an embedded etcd plus kube-apiserver (from the
// published k8s.io/kubernetes module). No kubelet, scheduler or
// controller-manager runs. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	_ "time/tzdata" // for timeZone support in CronJob, as upstream kube-apiserver

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "zen-controlplane: "+format+"\n", args...)
}

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("zen-controlplane", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "directory for etcd data, PKI, port file and kubeconfig; reused on restart (default: a fresh temporary directory in /dev/shm, removed on exit)")
	port := fs.Int("port", 0, "apiserver secure port on 127.0.0.1 (0 = reuse DATA_DIR/port if present and free, else pick a free port)")
	kubeconfigPath := fs.String("kubeconfig", "", "where to write the admin kubeconfig once /readyz is 200 (default DATA_DIR/kubeconfig)")
	readyTimeout := fs.Duration("ready-timeout", 3*time.Minute, "give up if the apiserver is not ready after this long")
	nodeName := fs.String("node", "", "serve a real kubelet named NODE (scripts/node-up.sh): keep the ServiceAccount admission plugin on, enable NodeRestriction, write a kubelet client certificate and a token for system:node:NODE (DATA_DIR/pki/node.token)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: zen-controlplane --data-dir DIR [--port N] [--kubeconfig PATH] [-- extra kube-apiserver args...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	extraArgs := fs.Args() // everything after "--" (or after the first non-flag)

	ephemeral := false
	if *dataDir == "" {
		base := os.TempDir()
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm"
		}
		d, err := os.MkdirTemp(base, "zen-controlplane-")
		if err != nil {
			logf("creating temporary data dir: %v", err)
			return 1
		}
		*dataDir = d
		ephemeral = true
		defer os.RemoveAll(d)
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		logf("creating data dir: %v", err)
		return 1
	}
	if *kubeconfigPath == "" {
		*kubeconfigPath = filepath.Join(dir, "kubeconfig")
	}
	kcPath, err := filepath.Abs(*kubeconfigPath)
	if err != nil {
		logf("%v", err)
		return 1
	}
	// The kubeconfig's existence signals readiness: drop a stale one from a
	// previous run before starting.
	if err := os.Remove(kcPath); err != nil && !os.IsNotExist(err) {
		logf("removing stale kubeconfig: %v", err)
		return 1
	}

	pki, err := ensurePKI(filepath.Join(dir, "pki"))
	if err != nil {
		logf("PKI: %v", err)
		return 1
	}

	apiPort := *port
	if apiPort == 0 {
		apiPort, err = reusableOrFreePort(filepath.Join(dir, "port"))
		if err != nil {
			logf("choosing apiserver port: %v", err)
			return 1
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, "port"), []byte(strconv.Itoa(apiPort)+"\n"), 0o644); err != nil {
		logf("writing port file: %v", err)
		return 1
	}

	// Signal handling: kube-apiserver installs its own SIGTERM/SIGINT handler
	// (genericapiserver.SetupSignalContext, inside NewAPIServerCommand) that
	// starts its graceful shutdown; we only record that a signal arrived so
	// that etcd is stopped afterwards and the exit code is 0.
	var signalled, readyFailed atomic.Bool
	sigCh := make(chan os.Signal, 2)
	signal.Notify(sigCh, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for range sigCh {
			signalled.Store(true)
		}
	}()

	etcd, err := startEtcd(dir)
	if err != nil {
		logf("etcd: %v", err)
		return 1
	}
	logf("etcd ready at %s (data %s)", etcd.clientURL, etcd.dataDir)

	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(dir, "pki", "apiserver"),
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.caCert,
		"--token-auth-file=" + pki.tokenFile,
		"--authorization-mode=Node,RBAC",
		"--etcd-servers=" + etcd.clientURL,
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + pki.saPub,
		"--service-account-signing-key-file=" + pki.saKey,
		"--profiling=false",
	}
	if *nodeName == "" {
		// Without kube-controller-manager nothing creates the "default"
		// ServiceAccount of a namespace, and the ServiceAccount admission
		// plugin would reject every Pod that names a missing one.
		args = append(args, "--disable-admission-plugins=ServiceAccount")
	} else {
		nodeArgs, err := ensureNodeCredentials(pki, *nodeName)
		if err != nil {
			logf("node credentials: %v", err)
			return 1
		}
		args = append(args, nodeArgs...)
	}
	args = append(args, extraArgs...)
	logf("starting kube-apiserver on https://127.0.0.1:%d (extra args: %q)", apiPort, extraArgs)

	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(args)

	readyCtx, cancelReady := context.WithCancel(context.Background())
	defer cancelReady()
	go func() {
		err := waitReadyAndWriteKubeconfig(readyCtx, apiPort, pki, kcPath, *readyTimeout)
		switch {
		case err == nil:
			logf("apiserver ready; kubeconfig written to %s", kcPath)
		case readyCtx.Err() != nil:
		default:
			logf("apiserver not ready: %v; shutting down", err)
			readyFailed.Store(true)
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		}
	}()

	code := cli.Run(cmd)
	cancelReady()
	logf("kube-apiserver exited (code %d); stopping etcd", code)
	etcd.stop(15 * time.Second)
	if ephemeral {
		logf("removing temporary data dir %s", dir)
	}
	exit := code
	switch {
	case readyFailed.Load():
		exit = 1
	case signalled.Load():
		exit = 0 // requested shutdown
	case code == 0:
		exit = 1 // apiserver returned without being asked to: unexpected
	}
	logf("exiting with code %d", exit)
	return exit
}
