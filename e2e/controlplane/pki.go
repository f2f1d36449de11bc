package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// pkiFiles names the generated credentials inside DATA_DIR/pki. Everything is
// generated once and reused on restart, so a kubeconfig written by an earlier
// run stays valid.
type pkiFiles struct {
	dir         string
	caCert      string
	caKey       string
	servingCert string
	servingKey  string
	saKey       string // service-account token signing key (RSA, PKCS#1)
	saPub       string // its public key (PKIX)
	tokenFile   string // --token-auth-file
	adminToken  string
}

const adminUser = "zen-admin"

func ensurePKI(dir string) (*pkiFiles, error) {
	p := &pkiFiles{
		dir:         dir,
		caCert:      filepath.Join(dir, "ca.crt"),
		caKey:       filepath.Join(dir, "ca.key"),
		servingCert: filepath.Join(dir, "apiserver.crt"),
		servingKey:  filepath.Join(dir, "apiserver.key"),
		saKey:       filepath.Join(dir, "sa.key"),
		saPub:       filepath.Join(dir, "sa.pub"),
		tokenFile:   filepath.Join(dir, "tokens.csv"),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}

	// CA
	var caCert *x509.Certificate
	var caKey crypto.Signer
	if exists(p.caCert) && exists(p.caKey) {
		var err error
		if caCert, err = readCert(p.caCert); err != nil {
			return nil, err
		}
		if caKey, err = readECKey(p.caKey); err != nil {
			return nil, err
		}
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          randSerial(),
			Subject:               pkix.Name{CommonName: "zen-controlplane-ca"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().AddDate(10, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
		if err != nil {
			return nil, err
		}
		if caCert, err = x509.ParseCertificate(der); err != nil {
			return nil, err
		}
		caKey = k
		if err := writeECKey(p.caKey, k); err != nil {
			return nil, err
		}
		if err := writeCert(p.caCert, der); err != nil {
			return nil, err
		}
		// A new CA invalidates any old serving cert.
		_ = os.Remove(p.servingCert)
	}

	// Serving certificate for 127.0.0.1 / localhost (plus the in-cluster
	// names, harmless and handy).
	if !(exists(p.servingCert) && exists(p.servingKey)) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: randSerial(),
			Subject:      pkix.Name{CommonName: "kube-apiserver"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().AddDate(10, 0, 0),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default",
				"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.96.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, k.Public(), caKey)
		if err != nil {
			return nil, err
		}
		if err := writeECKey(p.servingKey, k); err != nil {
			return nil, err
		}
		if err := writeCert(p.servingCert, der); err != nil {
			return nil, err
		}
	}

	// Service-account signing key pair (RSA, like kubeadm's sa.key/sa.pub).
	if !(exists(p.saKey) && exists(p.saPub)) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		if err := writePEM(p.saKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), 0o600); err != nil {
			return nil, err
		}
		if err := writePEM(p.saPub, "PUBLIC KEY", pub, 0o644); err != nil {
			return nil, err
		}
	}

	// Static admin token (user in system:masters).
	if b, err := os.ReadFile(p.tokenFile); err == nil {
		fields := strings.SplitN(strings.TrimSpace(string(b)), ",", 2)
		if len(fields) < 2 || fields[0] == "" {
			return nil, fmt.Errorf("malformed %s", p.tokenFile)
		}
		p.adminToken = fields[0]
	} else if os.IsNotExist(err) {
		buf := make([]byte, 24)
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		p.adminToken = hex.EncodeToString(buf)
		line := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", p.adminToken, adminUser, adminUser)
		if err := writeFileAtomic(p.tokenFile, []byte(line), 0o600); err != nil {
			return nil, err
		}
	} else {
		return nil, err
	}
	return p, nil
}

func randSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func writeCert(path string, der []byte) error { return writePEM(path, "CERTIFICATE", der, 0o644) }

func writeECKey(path string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

func readPEM(path string) (*pem.Block, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM data", path)
	}
	return blk, nil
}

func readCert(path string) (*x509.Certificate, error) {
	blk, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(blk.Bytes)
}

func readECKey(path string) (*ecdsa.PrivateKey, error) {
	blk, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	if blk.Type != "EC PRIVATE KEY" {
		return nil, errors.New(path + ": not an EC private key")
	}
	return x509.ParseECPrivateKey(blk.Bytes)
}

// writeFileAtomic writes to a temporary file in the same directory and renames
// it into place, so readers never see a partial file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
