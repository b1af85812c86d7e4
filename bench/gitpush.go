package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/berth-paas/berth/internal/berthtest"
)

// benchGit pushes a repository with about cfg.gitMB MB of incompressible
// history through Berth (a branch that is not the deploy branch, to a new
// app: Berth stores it without building) and, as the baseline, through
// OpenSSH's sshd (a private one on a loopback port) into a bare repository
// on the same disk with plain `git receive-pack`. The same git and ssh
// clients push both, in turns.
func benchGit(ctx context.Context, e *env, cfg config, rep *report) error {
	src := filepath.Join(e.tmp, "gitsrc")
	progress("git: generating %d MB of random history", cfg.gitMB)
	rev, err := e.makeHistory(src, cfg.gitMB)
	if err != nil {
		return err
	}
	packKB, _ := dirSizeKB(filepath.Join(src, ".git", "objects", "pack"))

	b, err := e.newBerth("git")
	if err != nil {
		return err
	}
	if _, err := e.start(b); err != nil {
		return err
	}
	defer b.stop()

	sshCmd := berthtest.GitSSHCommand(e.sshConfig)
	baseline := "git receive-pack over OpenSSH sshd"
	var sshd *sshdProc
	if sshd, err = e.startSSHD(); err != nil {
		rep.warn("git: no OpenSSH server (%v); the baseline is a local push (file://) to a bare repository", err)
		baseline = "git receive-pack, local push (no sshd)"
	} else {
		defer sshd.stop()
	}

	push := func(url string) (time.Duration, string, error) {
		cmd := exec.Command("git", "push", "--no-progress", url, "data:refs/heads/data")
		cmd.Dir = src
		cmd.Env = e.gitEnv()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		took := time.Since(t0)
		if err != nil {
			return took, out.String(), fmt.Errorf("git push %s: %v\n%s", url, err, out.String())
		}
		return took, out.String(), nil
	}
	check := func(gitDir string) error {
		out, err := exec.Command("git", "--git-dir", gitDir, "rev-parse", "refs/heads/data").Output()
		if err != nil || strings.TrimSpace(string(out)) != rev {
			return fmt.Errorf("%s does not have refs/heads/data at %s (got %q, %v)", gitDir, rev, strings.TrimSpace(string(out)), err)
		}
		return nil
	}
	var berthTimes, baseTimes []time.Duration
	var berthOut string
	for r := 0; r < cfg.gitRounds; r++ {
		app := fmt.Sprintf("bench-git-%d", r)
		took, out, err := push(fmt.Sprintf("ssh://berth@127.0.0.1:%d/%s", b.sshPort, app))
		if err != nil {
			return err
		}
		if err := check(filepath.Join(b.stateDir, "repos", app+".git")); err != nil {
			return err
		}
		berthTimes = append(berthTimes, took)
		berthOut = out
		progress("  round %d: through Berth %s", r+1, ms(took))

		bare := filepath.Join(e.tmp, "bare", fmt.Sprintf("repo-%d.git", r))
		if out, err := exec.Command("git", "init", "-q", "--bare", bare).CombinedOutput(); err != nil {
			return fmt.Errorf("git init --bare: %v: %s", err, out)
		}
		url := "file://" + bare
		if sshd != nil {
			url = fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", sshd.user, sshd.port, bare)
		}
		took, _, err = push(url)
		if err != nil {
			return err
		}
		if err := check(bare); err != nil {
			return err
		}
		baseTimes = append(baseTimes, took)
		progress("  round %d: %s %s", r+1, baseline, ms(took))
		// The pushed copies are not needed any more; keep the disk free.
		os.RemoveAll(bare)
		os.RemoveAll(filepath.Join(b.stateDir, "repos", app+".git"))
	}
	ciphers := []string{"Berth: " + negotiatedCipher(sshCmd, fmt.Sprintf("ssh://berth@127.0.0.1:%d", b.sshPort), "version")}
	// The fixed cost of a connection: a command that does nothing.
	noop := fmt.Sprintf("; an SSH connection that runs a no-op command takes (median of 5) %s with Berth (`version`)",
		ms(sshNoop(sshCmd, fmt.Sprintf("ssh://berth@127.0.0.1:%d", b.sshPort), "version")))
	if sshd != nil {
		ciphers = append(ciphers, "sshd: "+negotiatedCipher(sshCmd, fmt.Sprintf("ssh://%s@127.0.0.1:%d", sshd.user, sshd.port), "true"))
		noop += fmt.Sprintf(" and %s with sshd (`true`)", ms(sshNoop(sshCmd, fmt.Sprintf("ssh://%s@127.0.0.1:%d", sshd.user, sshd.port), "true")))
	}

	bm, om := pct(berthTimes, 50), pct(baseTimes, 50)
	mbps := func(d time.Duration) string { return fmt.Sprintf("%.0f MB/s", float64(packKB)/1024/d.Seconds()) }
	rep.add("git receive", fmt.Sprintf("push of %d MB of history (median of %d): Berth vs %s", cfg.gitMB, cfg.gitRounds, baseline),
		ms(bm), ms(om), ratio(float64(bm), float64(om)))
	var rows [][]string
	for i := range berthTimes {
		rows = append(rows, []string{fmt.Sprint(i + 1), ms(berthTimes[i]), mbps(berthTimes[i]), ms(baseTimes[i]), mbps(baseTimes[i])})
	}
	rep.section("Git receive", fmt.Sprintf(
		"A repository of %d commits with %d MB of random (incompressible) files, packed (`git repack -adq`, pack %.1f MB), "+
			"pushed as `git push SOURCE data:refs/heads/data` with the same git and OpenSSH clients and the same key: through Berth's SSH server to a new app "+
			"(Berth creates the app and its repository, and stores a branch that is not the deploy branch without building), and to %s "+
			"into a new bare repository on the same disk (created before the timer starts). Rounds alternate. Negotiated ciphers: %s%s. "+
			"What Berth answered:\n\n```\n%s```\n\n",
		gitCommits, cfg.gitMB, float64(packKB)/1024, baselineWhere(sshd), strings.Join(ciphers, "; "), noop, berthOut)+
		table([]string{"round", "Berth", "", baseline, ""}, rows))
	return nil
}

const gitCommits = 10

func baselineWhere(s *sshdProc) string {
	if s == nil {
		return "a local `file://` URL (no sshd could be started)"
	}
	return "a private OpenSSH sshd (its own config, host key and authorized_keys, on a loopback port) running `git-receive-pack`"
}

// makeHistory makes a repository in dir whose branch data has gitCommits
// commits adding mb MB of random files in all, packs it, and returns the
// head commit.
func (e *env) makeHistory(dir string, mb int) (string, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = e.gitEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := git("init", "-q", "-b", "data"); err != nil {
		return "", err
	}
	rng := rand.NewChaCha8([32]byte{7}) // fast, and the same bytes every run
	perCommit := mb << 20 / gitCommits
	const fileSize = 1 << 20
	for c := 0; c < gitCommits; c++ {
		for off, f := 0, 0; off < perCommit; off, f = off+fileSize, f+1 {
			data := make([]byte, min(fileSize, perCommit-off))
			rng.Read(data)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("c%02d-f%03d.bin", c, f)), data, 0o644); err != nil {
				return "", err
			}
		}
		if _, err := git("add", "-A"); err != nil {
			return "", err
		}
		if _, err := git("commit", "-q", "-m", fmt.Sprintf("data %d", c)); err != nil {
			return "", err
		}
	}
	if _, err := git("repack", "-adq"); err != nil {
		return "", err
	}
	return git("rev-parse", "HEAD")
}

func dirSizeKB(dir string) (int64, error) {
	var total int64
	err := filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			total += info.Size()
		}
		return nil
	})
	return total / 1024, err
}

// negotiatedCipher connects once with `ssh -v` and returns the key
// exchange and the cipher the two sides agreed on.
func negotiatedCipher(sshCmd, url, command string) string {
	args := append(strings.Fields(sshCmd)[1:], "-v", url, command)
	out, _ := exec.Command("ssh", args...).CombinedOutput()
	kex := regexp.MustCompile(`kex: algorithm: (\S+)`).FindSubmatch(out)
	cipher := regexp.MustCompile(`kex: server->client cipher: (\S+)`).FindSubmatch(out)
	if kex == nil || cipher == nil {
		return "unknown"
	}
	return fmt.Sprintf("key exchange %s, cipher %s", kex[1], cipher[1])
}

// sshNoop times an SSH connection that runs command, median of 5.
func sshNoop(sshCmd, url, command string) time.Duration {
	args := append(strings.Fields(sshCmd)[1:], url, command)
	var ds []time.Duration
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		if exec.Command("ssh", args...).Run() != nil {
			return 0
		}
		ds = append(ds, time.Since(t0))
	}
	return pct(ds, 50)
}

// sshdProc is a private OpenSSH server the benchmark runs on a loopback
// port, with its own host key and authorized_keys.
type sshdProc struct {
	cmd     *exec.Cmd
	port    int
	user    string
	exited  chan struct{}
	madeRun bool
}

func (e *env) startSSHD() (*sshdProc, error) {
	bin, err := exec.LookPath("sshd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/sshd"); serr != nil {
			return nil, fmt.Errorf("sshd not found (apt-get install openssh-server)")
		}
		bin = "/usr/sbin/sshd"
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	if u.Uid != "0" {
		return nil, fmt.Errorf("sshd needs root to run; running as %s", u.Username)
	}
	s := &sshdProc{user: u.Username}
	if err = e.ports.Take(&s.port); err != nil {
		return nil, err
	}
	dir := filepath.Join(e.tmp, "sshd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	hostKey, _, err := berthtest.SSHKey(dir, "ssh_host_ed25519_key")
	if err != nil {
		return nil, err
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, []byte(e.adminPub), 0o600); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AllowUsers %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
UseDNS no
PrintMotd no
`, s.port, hostKey, filepath.Join(dir, "sshd.pid"), authKeys, s.user)), 0o600); err != nil {
		return nil, err
	}
	// sshd refuses to start without its privilege separation directory.
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
		s.madeRun = true
	}
	logFile, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "-D", "-e", "-f", conf)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); logFile.Close(); close(s.exited) }()
	e.defer_("stop sshd", s.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			conn.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			data, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			s.cmd = nil
			return nil, fmt.Errorf("sshd exited: %s", data)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("sshd did not listen within 10s")
		}
	}
}

func (s *sshdProc) stop() {
	if s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
		s.cmd = nil
	}
	if s.madeRun {
		os.Remove("/run/sshd")
		s.madeRun = false
	}
}
