// Package bytesize reads and writes the byte sizes of Berth's Caddyfile
// settings (build_log_max, push_max: 10MiB, 1GiB), so that a message
// about a limit names it the way the user wrote it.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

// Parse reads a byte size: a whole number with an optional unit B, KiB,
// MiB or GiB (k, m, g as in Docker mean the same).
func Parse(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"k", 10}, {"m", 20}, {"g", 30}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q is not a size: write a whole number with B, KiB, MiB or GiB, like 10MiB", s)
	}
	return n << shift, nil
}

// Format writes n in the largest unit that divides it: 1GiB, 512KiB,
// 1000B. Parse reads it back.
func Format(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
