package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdBrowser drives a real headless Chromium (Debian's chromium package,
// which tests/run.sh installs) through the dashboard, as a person on a
// phone would: it opens the login URL in URLFILE, presses Sign in, opens
// APP from the apps list and presses its button BUTTON (an element id,
// such as rollback-v1 or restart), then prints the message the page
// shows and the app's current release. Every host resolves to 127.0.0.1.
// A screenshot of each page is kept in $WORK and in the artifacts
// directory ($BERTH_TEST_ARTIFACTS, default $TMPDIR/berth-test-artifacts).
//
//	browser URLFILE APP BUTTON
func cmdBrowser(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: browser URLFILE APP BUTTON")
	}
	url := strings.TrimSpace(ts.ReadFile(args[0]))
	app, button := args[1], args[2]
	b := startBrowser(ts, "dashboard-browser")
	defer b.close()
	step, text := b.step, b.text

	step("login page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("signin")))
	step("apps", chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.CSS(`[data-app="`+app+`"]`)))
	step("app", chromedp.Click(chromedp.CSS(`[data-app="`+app+`"] h2 a`)), chromedp.WaitVisible(chromedp.ID(button)))
	step("after "+button, chromedp.Click(chromedp.ID(button)), chromedp.WaitVisible(chromedp.ID("flash")))
	fmt.Fprintf(ts.Stdout(), "flash: %s\ncurrent: %s\n", text("#flash"), text("#current"))
}

// browser is a headless Chromium for one script command: step runs
// actions and keeps a screenshot of where they end, text reads an
// element's text.
type browser struct {
	ctx   context.Context
	step  func(what string, actions ...chromedp.Action[chromedp.Void])
	text  func(sel string) string
	close func()
}

// startBrowser starts Chromium (phone-sized, every host resolving to
// 127.0.0.1), keeping screenshots in $WORK and in the artifacts
// directory's subdirectory dir.
func startBrowser(ts *testscript.TestScript, dir string) *browser {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		// Never a skip: CI starts on a fresh machine, and tests/run.sh
		// installs it there.
		ts.Fatalf("FAIL: chromium is required for the dashboard's browser test: apt-get install -y chromium (tests/run.sh does)")
	}
	artifacts := os.Getenv("BERTH_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(os.TempDir(), "berth-test-artifacts")
	}
	artifacts = filepath.Join(artifacts, dir)
	ts.Check(os.MkdirAll(artifacts, 0o755))

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.Flag("host-resolver-rules", "MAP * 127.0.0.1"),
		// A phone's screen.
		chromedp.WindowSize(390, 844),
		chromedp.UserDataDir(filepath.Join(ts.Getenv("WORK"), "chromium-profile")),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(ts.Logf))
	closeAll := func() { cancelBrowser(); cancelAlloc() }
	// The browser starts without a timeout (a timeout there would stop
	// it); each step below has one.
	if err := chromedp.Do(bctx); err != nil {
		closeAll()
		ts.Fatalf("starting %s: %v", bin, err)
	}
	shot := 0
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
		defer cancel()
		if err := chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(390, 844)}, actions...)...); err != nil {
			// Where the browser is and what it shows, to see why.
			dctx, dcancel := context.WithTimeout(bctx, 30*time.Second)
			defer dcancel()
			loc, _ := chromedp.Run(dctx, chromedp.Location())
			body, _ := chromedp.Run(dctx, chromedp.Text(chromedp.CSS("body")))
			if png, err := chromedp.Run(dctx, chromedp.FullScreenshot(100)); err == nil {
				os.WriteFile(filepath.Join(artifacts, "failed.png"), png, 0o644)
			}
			ts.Fatalf("browser: %s: %v\nat %s, showing:\n%s", what, err, loc, body)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		ts.Check(err)
		shot++
		name := fmt.Sprintf("%02d-%s.png", shot, strings.ReplaceAll(what, " ", "-"))
		ts.Check(os.WriteFile(filepath.Join(ts.Getenv("WORK"), name), png, 0o644))
		ts.Check(os.WriteFile(filepath.Join(artifacts, name), png, 0o644))
		ts.Logf("browser: %s (screenshot %s)", what, filepath.Join(artifacts, name))
	}
	text := func(sel string) string {
		ctx, cancel := context.WithTimeout(bctx, time.Minute)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			ts.Fatalf("browser: reading %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	return &browser{ctx: bctx, step: step, text: text, close: closeAll}
}
