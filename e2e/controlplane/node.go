package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ensureNodeCredentials prepares the apiserver for a real kubelet named node (see
// scripts/node-up.sh) and returns the extra kube-apiserver flags that go with it:
//   - a client certificate the apiserver presents to the kubelet for logs, exec and
//     port-forward (O=system:masters, signed by the cluster CA the kubelet trusts);
//   - a static token for system:node:<node> in group system:nodes, so the Node authorizer
//     and NodeRestriction apply to the kubelet as in a real cluster (DATA_DIR/pki/node.token);
//   - the ServiceAccount admission plugin stays on (the controller-manager creates the
//     default ServiceAccounts), and the kubelet is reached by its InternalIP (there is no
//     cluster DNS for its hostname).
func ensureNodeCredentials(p *pkiFiles, node string) ([]string, error) {
	if strings.ContainsAny(node, ", \t\n\"") {
		return nil, fmt.Errorf("node name %q: letters, digits, '-' and '.' only", node)
	}
	certPath := filepath.Join(p.dir, "apiserver-kubelet-client.crt")
	keyPath := filepath.Join(p.dir, "apiserver-kubelet-client.key")
	if !(exists(certPath) && exists(keyPath)) {
		caCert, err := readCert(p.caCert)
		if err != nil {
			return nil, err
		}
		caKey, err := readECKey(p.caKey)
		if err != nil {
			return nil, err
		}
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: randSerial(),
			Subject:      pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().AddDate(10, 0, 0),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, k.Public(), caKey)
		if err != nil {
			return nil, err
		}
		if err := writeECKey(keyPath, k); err != nil {
			return nil, err
		}
		if err := writeCert(certPath, der); err != nil {
			return nil, err
		}
	}

	user := "system:node:" + node
	tokenPath := filepath.Join(p.dir, "node.token")
	tokens, err := os.ReadFile(p.tokenFile)
	if err != nil {
		return nil, err
	}
	nodeToken := ""
	for _, line := range strings.Split(string(tokens), "\n") {
		fields := strings.Split(line, ",")
		if len(fields) >= 2 && fields[1] == user {
			nodeToken = fields[0]
		}
	}
	if nodeToken == "" {
		buf := make([]byte, 24)
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		nodeToken = hex.EncodeToString(buf)
		content := strings.TrimRight(string(tokens), "\n") + "\n" +
			fmt.Sprintf("%s,%s,%s,\"system:nodes\"\n", nodeToken, user, user)
		if err := writeFileAtomic(p.tokenFile, []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	if err := writeFileAtomic(tokenPath, []byte(nodeToken+"\n"), 0o600); err != nil {
		return nil, err
	}
	return []string{
		"--enable-admission-plugins=NodeRestriction",
		"--kubelet-client-certificate=" + certPath,
		"--kubelet-client-key=" + keyPath,
		"--kubelet-preferred-address-types=InternalIP,Hostname",
	}, nil
}
