package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// waitReadyAndWriteKubeconfig polls https://127.0.0.1:PORT/readyz until it
// returns 200 and then writes the admin kubeconfig atomically.
func waitReadyAndWriteKubeconfig(ctx context.Context, port int, p *pkiFiles, kcPath string, timeout time.Duration) error {
	caPEM, err := os.ReadFile(p.caCert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no certificates in %s", p.caCert)
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
			DisableKeepAlives: true,
		},
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s/readyz (last: %s)", timeout, server, last)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+p.adminToken)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
		} else {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(150 * time.Millisecond):
		}
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: zen-controlplane
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: zen-controlplane
  context:
    cluster: zen-controlplane
    user: %s
    namespace: default
current-context: zen-controlplane
preferences: {}
`, server, base64.StdEncoding.EncodeToString(caPEM), adminUser, p.adminToken, adminUser)
	return writeFileAtomic(kcPath, []byte(kc), 0o600)
}
