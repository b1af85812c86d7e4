package docker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/moby/moby/client"
)

// TLS files of an engine's client, in Docker's DOCKER_CERT_PATH layout:
// the CA that signed the engine's certificate, and the client's
// certificate and key the engine verifies (dockerd --tlsverify).
const (
	TLSCAFile   = "ca.pem"
	TLSCertFile = "cert.pem"
	TLSKeyFile  = "key.pem"
)

// ConnectNode opens a client of another server's engine (a swarm node's,
// for enter and the figures of its tasks) at endpoint, tcp://HOST:PORT:
// over TLS with the files of certDir (TLSCAFile, TLSCertFile,
// TLSKeyFile), the engine's certificate verified against that CA only;
// with certDir empty, over plain TCP. Nothing of the environment is read
// (DOCKER_HOST, DOCKER_CERT_PATH are Berth's own engine's). The client
// is for exec and stats: it stamps and lists no container.
func ConnectNode(ctx context.Context, endpoint, certDir string) (*Client, error) {
	// No proxy: client.WithHost gives a tcp endpoint a transport that
	// honours HTTP(S)_PROXY, which would send the engine's API (root on
	// its node) through whatever proxy Berth's environment names. Given
	// after WithHost, this transport replaces that one; the TLS option
	// below then configures it.
	tr := &http.Transport{Proxy: nil, DialContext: nodeDial, MaxIdleConns: 6, IdleConnTimeout: 30 * time.Second}
	opts := []client.Opt{client.WithHost(endpoint), client.WithHTTPClient(&http.Client{Transport: tr})}
	if certDir != "" {
		opts = append(opts, client.WithTLSClientConfig(filepath.Join(certDir, TLSCAFile),
			filepath.Join(certDir, TLSCertFile), filepath.Join(certDir, TLSKeyFile)))
	}
	api, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker engine at %s: %w", endpoint, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := api.Ping(pingCtx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		api.Close()
		return nil, fmt.Errorf("docker engine at %s does not answer: %w", endpoint, err)
	}
	return newClient(&conn{api: api, network: DefaultNetwork}), nil
}

// nodeDial dials a node's engine (a variable for the tests).
var nodeDial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext

// SwarmNodeID is the swarm node the engine is ("" when it is in no
// swarm): who answers at an address, checked before Berth execs there.
func (c *Client) SwarmNodeID(ctx context.Context) (string, error) {
	res, err := c.conn.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", err
	}
	return res.Info.Swarm.NodeID, nil
}

// SwarmTaskOf is the swarm task container id runs ("" for a container
// that is no task's): an exec goes into a container only once its engine
// says it is the task Swarm named.
func (c *Client) SwarmTaskOf(ctx context.Context, id string) (string, error) {
	res, err := c.conn.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return "", err
	}
	if res.Container.Config == nil {
		return "", nil
	}
	return res.Container.Config.Labels["com.docker.swarm.task.id"], nil
}
