// Package berthtest is the one harness that the end-to-end suite (tests/)
// and the benchmarks (bench/) share: building the caddy binary, writing
// its Caddyfile, finding free ports, SSH keys and the OpenSSH client
// config, the base images made from a static busybox, a test CA, running
// and stopping a caddy process, reading its log, and seeding or clearing
// Berth's state through the store.
//
// Both drive the real binary the same way, so they must set it up the
// same way: when one learns something (a port that comes back, a host
// key that must not change, a record field Berth now needs) the other
// gets it too. It has no testing.T in its API, because the benchmark is a
// program, not a test: every function returns an error and the caller
// decides whether that fails a test or a run.
//
// One concern per file: module.go (go build), ports.go, caddyfile.go,
// caddy.go (the process), logtail.go, ssh.go, images.go, ca.go, state.go.
package berthtest
