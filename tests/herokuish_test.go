package tests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

// HerokuishImage is the stand-in for gliderlabs/herokuish the scripts
// build with (berth start 'herokuish_image berth-test/herokuish').
const HerokuishImage = "berth-test/herokuish"

var herokuishImage struct {
	once sync.Once
	err  error
}

// cmdHerokuishImage makes the test herokuish image (herokuish/build-image.sh),
// once per run of the suite, for the scripts that build with herokuish.
func cmdHerokuishImage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: herokuishimage")
	}
	herokuishImage.once.Do(func() {
		script, err := filepath.Abs(filepath.Join("herokuish", "build-image.sh"))
		if err != nil {
			herokuishImage.err = err
			return
		}
		if out, err := exec.Command(script, HerokuishImage).CombinedOutput(); err != nil {
			herokuishImage.err = fmt.Errorf("herokuish/build-image.sh: %v\n%s", err, out)
		}
	})
	ts.Check(herokuishImage.err)
}
