package docker

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
)

// BuildAPI is the part of Client that builds: it passes Dockerfile
// builds to the engine's builder (BuildKit or the classic one), bounds
// BuildKit's RUN steps (buildcgroup.go), and runs builders' build
// containers (buildrun.go, packrun.go), as one-offs of the
// ContainerAPI.
type BuildAPI struct {
	*conn
	containers *ContainerAPI
}

// ImageBuild passes a build through to the engine (see package builder).
func (c *BuildAPI) ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error) {
	return c.api.ImageBuild(ctx, buildContext, options)
}

// BuildKit reports whether the engine builds with its own BuildKit
// (the build API's version=2, API 1.39 and later, Linux engines). The
// ping's Builder-Version header names the engine's default builder
// when the admin configured one (daemon.json's features.buildkit);
// Docker 20.10 sends none unless configured, and builds with BuildKit
// all the same when asked. An engine whose admin turned BuildKit off
// ("1") gets the classic builder.
func (c *BuildAPI) BuildKit(ctx context.Context) (bool, string, error) {
	ping, err := c.api.Ping(ctx, client.PingOptions{})
	if err != nil {
		return false, "", err
	}
	switch {
	case ping.OSType == "windows":
		return false, "this engine runs Windows containers, which BuildKit does not build", nil
	case ping.APIVersion != "" && versions.LessThan(ping.APIVersion, "1.39"):
		return false, fmt.Sprintf("this engine's API (%s) predates BuildKit (1.39, Docker 18.09)", ping.APIVersion), nil
	case ping.BuilderVersion == build.BuilderV1:
		return false, "the engine's admin chose the classic builder (daemon.json's \"features\": {\"buildkit\": false})", nil
	}
	return true, "", nil
}

// BuildCancel stops the BuildKit build with the given ID (package
// builder cancels explicitly, as the docker CLI does).
func (c *BuildAPI) BuildCancel(ctx context.Context, id string) error {
	_, err := c.api.BuildCancel(ctx, id, client.BuildCancelOptions{})
	return err
}

// DialSession opens the engine's /session endpoint for a BuildKit
// session (package builder serves it).
func (c *BuildAPI) DialSession(ctx context.Context, meta map[string][]string) (net.Conn, error) {
	return c.api.DialHijack(ctx, "/session", "h2c", meta)
}
