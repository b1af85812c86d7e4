package tests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

// serviceImages are made once per test run, on the first script that asks.
var serviceImages sync.Map // type → *serviceImage

type serviceImage struct {
	once sync.Once
	err  error
}

// cmdServiceImage makes the local image berth-test/TYPE for a datastore
// (postgres, mariadb, redis) or for test apps that use them (dbclients) from
// Debian's packages, with serviceimage.sh, once per test run.
//
//	serviceimage postgres|mariadb|redis|clients
func cmdServiceImage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: serviceimage postgres|mariadb|redis|clients")
	}
	v, _ := serviceImages.LoadOrStore(args[0], new(serviceImage))
	img := v.(*serviceImage)
	img.once.Do(func() {
		script, err := filepath.Abs("serviceimage.sh")
		if err != nil {
			img.err = err
			return
		}
		tag := "berth-test/" + args[0]
		if args[0] == "clients" {
			tag = "berth-test/dbclients"
		}
		out, err := exec.Command(script, args[0], tag).CombinedOutput()
		if err != nil {
			img.err = fmt.Errorf("serviceimage.sh %s: %v\n%s", args[0], err, out)
		}
	})
	ts.Check(img.err)
}
