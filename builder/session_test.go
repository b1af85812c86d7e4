package builder

import (
	"context"
	"net"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// pipeDialer plays the engine: it takes the session's headers and hands
// back one end of a pipe, whose other end the test calls as the engine's
// BuildKit does.
type pipeDialer struct {
	meta   map[string][]string
	engine net.Conn
}

func (d *pipeDialer) DialSession(_ context.Context, meta map[string][]string) (net.Conn, error) {
	d.meta = meta
	berth, engine := net.Pipe()
	d.engine = engine
	return berth, nil
}

func TestSessionServesSecretsAndHealth(t *testing.T) {
	ctx := context.Background()
	d := &pipeDialer{}
	id, stop, err := startSession(ctx, d, map[string][]byte{"token": []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if len(id) != 32 || d.meta[headerSessionID][0] != id {
		t.Fatalf("session id %q, headers %v", id, d.meta)
	}
	methods := d.meta[headerSessionMethod]
	for _, m := range []string{"/moby.buildkit.secrets.v1.Secrets/GetSecret", "/grpc.health.v1.Health/Check"} {
		if !slices.Contains(methods, m) {
			t.Fatalf("exposed methods %v, want %s", methods, m)
		}
	}
	cc, err := grpc.NewClient("passthrough:///session",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return d.engine, nil }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	get := func(name string) ([]byte, error) {
		req := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), name)
		var resp []byte
		err := cc.Invoke(ctx, "/moby.buildkit.secrets.v1.Secrets/GetSecret", &req, &resp)
		return resp, err
	}
	resp, err := get("token")
	if err != nil {
		t.Fatal(err)
	}
	num, typ, n := protowire.ConsumeTag(resp)
	data, _ := protowire.ConsumeBytes(resp[n:])
	if num != 1 || typ != protowire.BytesType || string(data) != "s3cret" {
		t.Fatalf("GetSecret answered %x", resp)
	}
	if _, err := get("other"); grpcstatus.Code(err) != codes.NotFound {
		t.Fatalf("an unknown secret: %v, want NotFound", err)
	}
	var health []byte
	req := []byte{}
	if err := cc.Invoke(ctx, "/grpc.health.v1.Health/Check", &req, &health); err != nil || string(health) != "\x08\x01" {
		t.Fatalf("health %x, %v; want SERVING", health, err)
	}
}
