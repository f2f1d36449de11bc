package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

type etcdServer struct {
	e         *embed.Etcd
	clientURL string
	dataDir   string
}

type etcdPorts struct {
	Client int `json:"client"`
	Peer   int `json:"peer"`
}

// startEtcd runs a single-member etcd in this process with its data in
// DIR/etcd, listening on 127.0.0.1 only. The ports are remembered in
// DIR/etcd-ports.json and reused on restart when still free.
func startEtcd(dir string) (*etcdServer, error) {
	dataDir := filepath.Join(dir, "etcd")
	portsFile := filepath.Join(dir, "etcd-ports.json")

	var ports etcdPorts
	if b, err := os.ReadFile(portsFile); err == nil {
		_ = json.Unmarshal(b, &ports)
	}
	if ports.Client == 0 || !portFree(ports.Client) {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports.Client = p
	}
	if ports.Peer == 0 || ports.Peer == ports.Client || !portFree(ports.Peer) {
		for {
			p, err := freePort()
			if err != nil {
				return nil, err
			}
			if p != ports.Client {
				ports.Peer = p
				break
			}
		}
	}
	b, _ := json.Marshal(ports)
	if err := writeFileAtomic(portsFile, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}

	clientURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports.Client)}
	peerURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports.Peer)}

	cfg := embed.NewConfig()
	cfg.Name = "zen-controlplane"
	cfg.Dir = dataDir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.InitialClusterToken = "zen-controlplane"
	cfg.UnsafeNoFsync = true // test data; durability across power loss is irrelevant
	// NewConfig leaves this 0 (its default lives in the flag set), which makes
	// etcd log every single request as "expensive".
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{"stderr"}
	if lvl := os.Getenv("ZEN_ETCD_LOG_LEVEL"); lvl != "" {
		cfg.LogLevel = lvl
	}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd failed: %w", err)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("etcd not ready after 60s")
	}
	go func() {
		if err, ok := <-e.Err(); ok && err != nil {
			logf("etcd error: %v", err)
		}
	}()
	return &etcdServer{e: e, clientURL: clientURL.String(), dataDir: dataDir}, nil
}

func (s *etcdServer) stop(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		s.e.Close()
		close(done)
	}()
	select {
	case <-done:
		logf("etcd stopped")
	case <-time.After(timeout):
		logf("etcd did not stop within %s; exiting anyway", timeout)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// reusableOrFreePort returns the port recorded in portFile if it is still
// free, else a fresh free port.
func reusableOrFreePort(portFile string) (int, error) {
	if b, err := os.ReadFile(portFile); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 {
			if portFree(p) {
				return p, nil
			}
			logf("port %d from %s is in use; picking another", p, portFile)
		}
	}
	return freePort()
}
