package fakeengine_test

import (
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
)

// The fake is platform.Engine, and each of its parts is the part of
// platform.Engine it mirrors, as docker.Client's are (platform/engine.go).
var (
	_ platform.Engine          = (*fakeengine.Engine)(nil)
	_ platform.ContainerEngine = (*fakeengine.ContainerEngine)(nil)
	_ platform.ImageEngine     = (*fakeengine.ImageEngine)(nil)
	_ platform.NetworkEngine   = (*fakeengine.NetworkEngine)(nil)
)
