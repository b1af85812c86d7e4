package builder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// SessionDialer opens the engine's /session endpoint, upgraded to h2c,
// with the session's headers (client.DialHijack, as the docker CLI and
// buildx's docker driver do).
type SessionDialer interface {
	DialSession(ctx context.Context, meta map[string][]string) (net.Conn, error)
}

// A BuildKit session is a gRPC server that the engine calls back over
// the hijacked /session connection (buildkit's session package). Berth
// opens one only for build secrets, and serves only what they need:
// moby.buildkit.secrets.v1.Secrets/GetSecret and the health check the
// engine polls. The context travels as the request body, so no filesync.
// The messages are read and written with protowire, like the progress
// (trace.go): GetSecretRequest{id = 1}, GetSecretResponse{data = 1},
// HealthCheckResponse{status = 1: SERVING}.
const (
	secretsService = "moby.buildkit.secrets.v1.Secrets"
	healthService  = "grpc.health.v1.Health"

	headerSessionID        = "X-Docker-Expose-Session-Uuid"
	headerSessionName      = "X-Docker-Expose-Session-Name"
	headerSessionSharedKey = "X-Docker-Expose-Session-Sharedkey"
	headerSessionMethod    = "X-Docker-Expose-Session-Grpc-Method"
)

// rawCodec hands gRPC messages through as bytes (the session's server
// only; the process's other gRPC users keep theirs).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func unary(f func(req []byte) ([]byte, error)) grpc.MethodHandler {
	return func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		var req []byte
		if err := dec(&req); err != nil {
			return nil, err
		}
		resp, err := f(req)
		if err != nil {
			return nil, err
		}
		return &resp, nil
	}
}

// startSession opens a session that serves secrets (ID → value) and
// returns its ID for the build request. It ends when ctx does or stop is
// called.
func startSession(ctx context.Context, d SessionDialer, secrets map[string][]byte) (id string, stop func(), err error) {
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: secretsService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "GetSecret", Handler: unary(func(req []byte) ([]byte, error) {
			var name string
			fields(req, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num == 1 && typ == protowire.BytesType {
					name = string(v)
				}
				return nil
			})
			data, ok := secrets[name]
			if !ok {
				return nil, grpcstatus.Errorf(codes.NotFound, "secret %s not found", name)
			}
			return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), data), nil
		})}},
	}, struct{}{})
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: healthService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Check", Handler: unary(func([]byte) ([]byte, error) {
			return protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1), nil
		})}},
	}, struct{}{})

	var b [16]byte
	rand.Read(b[:])
	id = hex.EncodeToString(b[:])
	meta := map[string][]string{
		headerSessionID:        {id},
		headerSessionName:      {"berth"},
		headerSessionSharedKey: {"berth"},
	}
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			meta[headerSessionMethod] = append(meta[headerSessionMethod], "/"+name+"/"+m.Name)
		}
	}
	conn, err := d.DialSession(ctx, meta)
	if err != nil {
		srv.Stop()
		return "", nil, fmt.Errorf("opening a BuildKit session for the build's secrets: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&http2.Server{}).ServeConn(conn, &http2.ServeConnOpts{Context: sctx, Handler: srv})
	}()
	go func() {
		<-sctx.Done()
		conn.Close()
	}()
	return id, func() {
		cancel()
		<-done
		srv.Stop()
	}, nil
}
