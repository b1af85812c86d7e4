package tests

import (
	"os/exec"
	"strconv"
	"strings"
)

// condition answers the scripts' engine conditions:
//
//	[frontend14]  the engine's built-in Dockerfile frontend has syntax
//	              1.4 (COPY --link, heredocs): Docker 23 and later.
//	              Docker 20.10's has 1.2.
func condition(cond string) (bool, error) {
	switch cond {
	case "frontend14":
		out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").Output()
		if err != nil {
			return false, err
		}
		major, err := strconv.Atoi(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0])
		if err != nil {
			return false, err
		}
		return major >= 23, nil
	}
	return false, errUnknownCondition(cond)
}

type errUnknownCondition string

func (e errUnknownCondition) Error() string { return "unknown condition " + string(e) }
