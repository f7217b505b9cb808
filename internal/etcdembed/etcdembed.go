// Package etcdembed starts the single-node etcd a JobManager embeds when it
// is not given an etcd cluster (go.etcd.io/etcd/server/v3/embed), so that a
// lone JobManager and an HA setup run the same code against real etcd.
package etcdembed

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/weirflow/weir/internal/certs"
)

// Server is a running embedded etcd.
type Server struct {
	etcd *embed.Etcd
	// ClientURL is where clients connect, e.g. http://127.0.0.1:2379.
	ClientURL string
	once      *sync.Once
}

// Start runs a single-node etcd keeping its data under dir/etcd and serving
// clients at clientURL (http://host:port or https://host:port on a loopback
// or local address; port 0 picks a free one). It returns once the server is
// ready to serve. An https URL needs tlsFiles: etcd serves with the
// certificate and accepts only clients with a certificate the CA verifies
// (mutual TLS, like the cluster's gRPC).
func Start(ctx context.Context, dir, clientURL string, tlsFiles certs.Files) (*Server, error) {
	cu, err := url.Parse(clientURL)
	if err != nil || (cu.Scheme != "http" && cu.Scheme != "https") || cu.Host == "" {
		return nil, fmt.Errorf("etcdembed: client URL %q: want http://host:port or https://host:port", clientURL)
	}
	if cu.Scheme == "https" && (tlsFiles.CA == "" || tlsFiles.Cert == "" || tlsFiles.Key == "") {
		return nil, fmt.Errorf("etcdembed: client URL %s: https needs --tls-ca, --tls-cert and --tls-key", clientURL)
	}
	if cu.Port() == "0" || cu.Port() == "" {
		port, err := freePort(cu.Hostname())
		if err != nil {
			return nil, err
		}
		cu.Host = net.JoinHostPort(cu.Hostname(), port)
	}
	peerPort, err := freePort(cu.Hostname())
	if err != nil {
		return nil, err
	}
	pu := url.URL{Scheme: "http", Host: net.JoinHostPort(cu.Hostname(), peerPort)}

	cfg := embed.NewConfig()
	cfg.Name = "weir"
	cfg.Dir = filepath.Join(dir, "etcd")
	if cu.Scheme == "https" {
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: tlsFiles.Cert, KeyFile: tlsFiles.Key, TrustedCAFile: tlsFiles.CA, ClientCertAuth: true}
	}
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{pu}
	cfg.AdvertisePeerUrls = []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// etcd logs errors of its own orderly shutdown; real failures reach
	// callers through Err and the clients.
	cfg.LogLevel = "fatal"
	cfg.LogOutputs = []string{"stderr"}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdembed: start etcd at %s: %w", cu, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdembed: etcd at %s: %w", cu, err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcdembed: etcd at %s not ready after 60s", cu)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Server{etcd: e, ClientURL: cu.String(), once: new(sync.Once)}, nil
}

// Err reports a failure of the running server.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the server; later calls do nothing.
func (s *Server) Close() { s.once.Do(s.etcd.Close) }

// freePort asks the kernel for a free TCP port on host. Another process may
// take it before etcd binds it; etcd then fails to start with a clear error.
func freePort(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("etcdembed: find a free port on %s: %w", host, err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}
