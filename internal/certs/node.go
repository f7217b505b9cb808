package certs

import (
	"crypto/tls"
	"fmt"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Node is the transport security of a cluster process (a JobManager or a
// TaskManager), built from its Files: plain when no file is given, else
// mutual TLS for gRPC and TLS for the REST API.
type Node struct {
	// Server are the credentials of the process's gRPC server: every
	// client must present a certificate the CA verifies.
	Server credentials.TransportCredentials
	// Dial are the credentials of its gRPC connections to other processes:
	// it verifies them against the CA and presents its own certificate.
	Dial credentials.TransportCredentials
	// REST serves the REST API (nil: plain HTTP); Client is for HTTPS
	// requests to other JobManagers' REST APIs (nil: plain HTTP).
	REST, Client *tls.Config
}

// Secure reports whether the process uses TLS.
func (n Node) Secure() bool { return n.REST != nil || n.Client != nil }

// Scheme is the REST API's URL scheme: "https" with TLS, else "http".
func (n Node) Scheme() string {
	if n.Secure() {
		return "https"
	}
	return "http"
}

// Node reads the files into a Node. With TLS on, a cluster process needs
// all three files: it serves and dials under mutual TLS.
func (f Files) Node() (Node, error) {
	if !f.Enabled() {
		return Node{Server: insecure.NewCredentials(), Dial: insecure.NewCredentials()}, nil
	}
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return Node{}, fmt.Errorf("%w: a JobManager or TaskManager with TLS needs --%s, --%s and --%s (weir certs makes them for development)", ErrTLS, FlagCA, FlagCert, FlagKey)
	}
	server, err := f.ServerConfig(true)
	if err != nil {
		return Node{}, err
	}
	client, err := f.ClientConfig()
	if err != nil {
		return Node{}, err
	}
	rest, err := f.ServerConfig(false)
	if err != nil {
		return Node{}, err
	}
	return Node{
		Server: credentials.NewTLS(server),
		Dial:   credentials.NewTLS(client),
		REST:   rest,
		Client: client,
	}, nil
}
